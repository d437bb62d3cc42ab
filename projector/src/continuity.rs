//! Log continuity: the projector applies a partition from the offset its store says comes
//! next, so the log must still hold that offset. A topic deleted and recreated, records
//! deleted by retention or by an operator, or a partition truncated all leave a store that
//! points outside the log; carrying on would skip events silently (records below the stored
//! offset look "already applied") or jump to wherever the consumer's reset policy points.
//!
//! The consumer's `auto.offset.reset` is pinned to `error` (by
//! `KafkaSettings::positioned_consumer`), so a fetch at an offset the broker no longer has —
//! below the log's first offset or past its end — fails instead of jumping to either end, the
//! moment the projector starts on such a store or retention deletes records it has not
//! fetched yet. The fetch error names no partition, so [`stop_reason`] then compares where
//! each worker continues with its log's offsets, and the projector stops with an error that
//! names the partition, the offsets and the way out, having applied nothing past the gap.
//!
//! A topic recreated and refilled past the stored offset is not detected: that needs the
//! topic's ID stored beside the offsets.

use std::time::Duration;

use rdkafka::consumer::{Consumer, ConsumerContext};
use tributary_runtime::kafka::offsets::watermarks;

/// How long one look-up of a partition's offsets may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where operators read what to do.
const WAY_OUT: &str = "if the topic was recreated or its records deleted on purpose, rebuild \
    the projection from the log (docs/OPERATIONS.md, \"The log contradicts the stored \
    offsets\"); otherwise restore the topic's records before starting the projector again";

/// A stored offset the log does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{topic} partition {partition}: the offset store says the projection continues at offset \
     {stored}, but the log holds offsets {first} to {end} (end exclusive): {}",
    self.what()
)]
pub struct LogContradiction {
    /// The events topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// The next offset the store says the projection applies.
    pub stored: i64,
    /// The first offset the log holds (low watermark).
    pub first: i64,
    /// The offset the next record will get (high watermark).
    pub end: i64,
}

impl LogContradiction {
    /// The contradiction between `stored` and the log's `first`..`end`, if there is one.
    pub fn between(topic: &str, partition: i32, stored: i64, first: i64, end: i64) -> Option<Self> {
        (stored < first || stored > end).then(|| Self {
            topic: topic.to_owned(),
            partition,
            stored,
            first,
            end,
        })
    }

    fn what(&self) -> &'static str {
        if self.stored < self.first {
            "records the projection has not applied are gone from the log"
        } else {
            "the log is shorter than what the projection has applied (recreated or truncated)"
        }
    }
}

/// Why the projector stops after the broker refused to fetch at an offset it no longer has:
/// every partition of `positions` (topic, partition, next offset to fetch) whose log does not
/// hold that offset, looked up with `consumer`, and the way out. `fetch_error` is what the
/// client reported, named when no look-up finds the partition (e.g. the broker went away).
pub fn stop_reason<X: ConsumerContext>(
    consumer: &impl Consumer<X>,
    positions: &[(String, i32, i64)],
    fetch_error: &str,
) -> String {
    let mut found: Vec<LogContradiction> = positions
        .iter()
        .filter_map(|(topic, partition, next)| {
            match watermarks(consumer, topic, *partition, LOOKUP_TIMEOUT) {
                Ok((first, end)) => LogContradiction::between(topic, *partition, *next, first, end),
                Err(error) => {
                    tracing::warn!(topic, partition, %error, "cannot look up the partition's offsets to check them against the store");
                    None
                }
            }
        })
        .collect();
    found.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    report(&found, fetch_error)
}

/// The stop message for `found`, or for `fetch_error` alone when `found` is empty.
fn report(found: &[LogContradiction], fetch_error: &str) -> String {
    let what = if found.is_empty() {
        format!(
            "the broker no longer holds an offset the projector fetches ({fetch_error}): the log \
             contradicts the stored offsets; restarting the projector names the partition"
        )
    } else {
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!("{what}; {WAY_OUT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_offset_inside_the_log_or_at_its_end_is_no_contradiction() {
        assert_eq!(LogContradiction::between("t", 0, 0, 0, 0), None);
        assert_eq!(LogContradiction::between("t", 0, 5, 0, 9), None);
        assert_eq!(LogContradiction::between("t", 0, 9, 0, 9), None);
        assert_eq!(LogContradiction::between("t", 0, 5, 5, 9), None);
    }

    #[test]
    fn a_stored_offset_outside_the_log_is_named_with_the_way_out() {
        let recreated = report(
            &[LogContradiction::between("t", 3, 120, 0, 7).unwrap()],
            "FETCH-ERROR",
        );
        assert!(recreated.contains("t partition 3"), "{recreated}");
        assert!(recreated.contains("offset 120"), "{recreated}");
        assert!(recreated.contains("offsets 0 to 7"), "{recreated}");
        assert!(recreated.contains("recreated or truncated"), "{recreated}");
        assert!(recreated.contains("docs/OPERATIONS.md"), "{recreated}");
        assert!(!recreated.contains("FETCH-ERROR"), "{recreated}");
        let deleted = LogContradiction::between("t", 0, 2, 50, 60)
            .unwrap()
            .to_string();
        assert!(deleted.contains("are gone from the log"), "{deleted}");
        let unknown = report(&[], "Broker: Offset out of range");
        assert!(unknown.contains("Offset out of range"), "{unknown}");
        assert!(unknown.contains("docs/OPERATIONS.md"), "{unknown}");
    }
}
