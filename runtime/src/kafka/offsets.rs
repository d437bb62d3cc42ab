//! Where a partition ends: the offset the next record written to it will get.
//!
//! The processor and the tests need the true end of a partition ("has the projector caught
//! up?", "how many records are there?"). The high watermark from a ListOffsets request is that
//! number on Apache Kafka (some Kafka-protocol stand-ins report a wrong one for batched
//! produce, e.g. the end of the first batch). The broker conformance test
//! `end_offset_equals_records_written_in_batches` proves the method on the broker the suite
//! runs against.

//!
//! A partition whose leader is being elected has no end to report for a moment: right after
//! its topic was created, or while the broker that led it restarts. The broker answers that
//! with a retriable error, so [`high_watermark`] asks again until its time-out instead of
//! failing a service's start-up over it.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// How long to wait before asking again while a partition's leader is being elected.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// The end offset (high watermark) of `topic`/`partition`, asking again while the partition
/// has no leader (see the module docs), for at most `timeout` in all.
pub fn high_watermark<X: ConsumerContext>(
    consumer: &impl Consumer<X>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<i64, KafkaError> {
    watermarks(consumer, topic, partition, timeout).map(|(_, high)| high)
}

/// The first offset the log of `topic`/`partition` still holds and its end (low and high
/// watermarks), asking again while the partition has no leader, for at most `timeout`.
pub fn watermarks<X: ConsumerContext>(
    consumer: &impl Consumer<X>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64), KafkaError> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_watermarks(topic, partition, left) {
            Ok(marks) => return Ok(marks),
            Err(error) if is_leader_election(&error) && left > RETRY_EVERY => {
                std::thread::sleep(RETRY_EVERY);
            }
            Err(error) => return Err(error),
        }
    }
}

/// The end offset (high watermark) of each of `partitions` of `topic`, in order.
pub fn end_offsets<X: ConsumerContext>(
    consumer: &impl Consumer<X>,
    topic: &str,
    partitions: impl IntoIterator<Item = i32>,
    timeout: Duration,
) -> Result<Vec<i64>, KafkaError> {
    partitions
        .into_iter()
        .map(|partition| high_watermark(consumer, topic, partition, timeout))
        .collect()
}

/// Whether `error` says the partition's leadership is changing (or not yet known), which
/// resolves by itself within seconds.
fn is_leader_election(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::FencedLeaderEpoch
                | RDKafkaErrorCode::UnknownLeaderEpoch
                | RDKafkaErrorCode::OffsetNotAvailable
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_election_is_waited_out_a_missing_topic_is_not() {
        let electing = KafkaError::MetadataFetch(RDKafkaErrorCode::NotLeaderForPartition);
        assert!(is_leader_election(&electing));
        let missing = KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert!(!is_leader_election(&missing));
    }
}
