//! Every metric the projector exports, owned here and nowhere else: code reports what
//! happened through typed methods (`batch_committed`, `stale_commit_refused`, …), which update
//! the metric and, where an operator should hear of it, write the log line too. The names are
//! listed in [`METRIC_NAMES`] so dashboards and alert rules can be checked against them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{GaugeVec, HistogramVec, IntCounterVec, IntGaugeVec, Registry};
use tributary_runtime::metrics::{counter_vec, gauge_vec, histogram_vec, int_gauge_vec};
use tributary_store::offsets::ClaimedPartition;

/// The name of every metric, one constant each, so that code, tests and the deploy assets'
/// check share one spelling.
pub mod names {
    /// `tributary_projector_events_applied_total`.
    pub const EVENTS_APPLIED_TOTAL: &str = "tributary_projector_events_applied_total";
    /// `tributary_projector_events_skipped_total`.
    pub const EVENTS_SKIPPED_TOTAL: &str = "tributary_projector_events_skipped_total";
    /// `tributary_projector_dead_letters_total`.
    pub const DEAD_LETTERS_TOTAL: &str = "tributary_projector_dead_letters_total";
    /// `tributary_projector_parked_aggregates_total`.
    pub const PARKED_AGGREGATES_TOTAL: &str = "tributary_projector_parked_aggregates_total";
    /// `tributary_projector_batch_size`.
    pub const BATCH_SIZE: &str = "tributary_projector_batch_size";
    /// `tributary_projector_batch_duration_seconds`.
    pub const BATCH_DURATION_SECONDS: &str = "tributary_projector_batch_duration_seconds";
    /// `tributary_projector_db_transaction_seconds`.
    pub const DB_TRANSACTION_SECONDS: &str = "tributary_projector_db_transaction_seconds";
    /// `tributary_projector_lag_offsets`.
    pub const LAG_OFFSETS: &str = "tributary_projector_lag_offsets";
    /// `tributary_projector_lag_seconds`.
    pub const LAG_SECONDS: &str = "tributary_projector_lag_seconds";
    /// `tributary_projector_committed_offset`.
    pub const COMMITTED_OFFSET: &str = "tributary_projector_committed_offset";
    /// `tributary_projector_rebalances_total`.
    pub const REBALANCES_TOTAL: &str = "tributary_projector_rebalances_total";
    /// `tributary_projector_assigned_partitions`.
    pub const ASSIGNED_PARTITIONS: &str = "tributary_projector_assigned_partitions";
    /// `tributary_projector_stale_commits_refused_total`.
    pub const STALE_COMMITS_REFUSED_TOTAL: &str = "tributary_projector_stale_commits_refused_total";
    /// `tributary_projector_markers_published_total`.
    pub const MARKERS_PUBLISHED_TOTAL: &str = "tributary_projector_markers_published_total";
    /// `tributary_projector_transient_failures_total`.
    pub const TRANSIENT_FAILURES_TOTAL: &str = "tributary_projector_transient_failures_total";
}

/// The name of every metric the projector exports.
pub const METRIC_NAMES: &[&str] = &[
    names::EVENTS_APPLIED_TOTAL,
    names::EVENTS_SKIPPED_TOTAL,
    names::DEAD_LETTERS_TOTAL,
    names::PARKED_AGGREGATES_TOTAL,
    names::BATCH_SIZE,
    names::BATCH_DURATION_SECONDS,
    names::DB_TRANSACTION_SECONDS,
    names::LAG_OFFSETS,
    names::LAG_SECONDS,
    names::COMMITTED_OFFSET,
    names::REBALANCES_TOTAL,
    names::ASSIGNED_PARTITIONS,
    names::STALE_COMMITS_REFUSED_TOTAL,
    names::MARKERS_PUBLISHED_TOTAL,
    names::TRANSIENT_FAILURES_TOTAL,
];

/// The projector's metrics, registered in one registry.
pub struct ProjectorMetrics {
    registry: Registry,
    projection: String,
    events_applied: IntCounterVec,
    events_skipped: IntCounterVec,
    dead_letters: IntCounterVec,
    parked_aggregates: IntCounterVec,
    batch_size: HistogramVec,
    batch_duration: HistogramVec,
    db_transaction: HistogramVec,
    lag_offsets: IntGaugeVec,
    lag_seconds: GaugeVec,
    committed_offset: IntGaugeVec,
    rebalances: IntCounterVec,
    assigned_partitions: IntGaugeVec,
    stale_commits_refused: IntCounterVec,
    markers_published: IntCounterVec,
    transient_failures: IntCounterVec,
    /// Per partition: (high watermark, committed offset), for the offset lag.
    positions: Mutex<HashMap<(String, i32), (i64, i64)>>,
    /// The epoch of this instance's latest claim on each partition it holds.
    claims: Mutex<HashMap<(String, i32), i64>>,
}

impl std::fmt::Debug for ProjectorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectorMetrics")
            .field("projection", &self.projection)
            .finish_non_exhaustive()
    }
}

const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZE_BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
];

impl ProjectorMetrics {
    /// Metrics of `projection` in a fresh registry.
    pub fn new(projection: &str) -> Self {
        let r = Registry::new();
        let p = &["projection"];
        let pt = &["projection", "topic"];
        let ptp = &["projection", "topic", "partition"];
        let ptr = &["projection", "topic", "reason"];
        Self {
            events_applied: counter_vec(
                &r,
                names::EVENTS_APPLIED_TOTAL,
                "Events applied to the read tables.",
                pt,
            ),
            events_skipped: counter_vec(
                &r,
                names::EVENTS_SKIPPED_TOTAL,
                "Records skipped without being applied (void versions, records already committed).",
                ptr,
            ),
            dead_letters: counter_vec(
                &r,
                names::DEAD_LETTERS_TOTAL,
                "Records sent to the dead-letter topic, by reason (parked: behind an earlier failure of the same aggregate).",
                ptr,
            ),
            parked_aggregates: counter_vec(
                &r,
                names::PARKED_AGGREGATES_TOTAL,
                "Aggregates parked behind an event that could not be applied.",
                pt,
            ),
            batch_size: histogram_vec(
                &r,
                names::BATCH_SIZE,
                "Records per committed batch.",
                p,
                &SIZE_BUCKETS,
            ),
            batch_duration: histogram_vec(
                &r,
                names::BATCH_DURATION_SECONDS,
                "Time from a batch's first record to its commit.",
                p,
                &SECONDS_BUCKETS,
            ),
            db_transaction: histogram_vec(
                &r,
                names::DB_TRANSACTION_SECONDS,
                "Duration of a batch's PostgreSQL transaction.",
                p,
                &SECONDS_BUCKETS,
            ),
            lag_offsets: int_gauge_vec(
                &r,
                names::LAG_OFFSETS,
                "Records in the partition not yet committed to the read tables.",
                ptp,
            ),
            lag_seconds: gauge_vec(
                &r,
                names::LAG_SECONDS,
                "Age of the newest committed record when its batch committed (0 once caught up).",
                ptp,
            ),
            committed_offset: int_gauge_vec(
                &r,
                names::COMMITTED_OFFSET,
                "Next offset to read, as committed in PostgreSQL.",
                ptp,
            ),
            rebalances: counter_vec(
                &r,
                names::REBALANCES_TOTAL,
                "Partition assignments and revocations.",
                &["projection", "kind"],
            ),
            assigned_partitions: int_gauge_vec(
                &r,
                names::ASSIGNED_PARTITIONS,
                "Partitions this instance owns.",
                p,
            ),
            stale_commits_refused: counter_vec(
                &r,
                names::STALE_COMMITS_REFUSED_TOTAL,
                "Batches refused because another worker had claimed the partition.",
                pt,
            ),
            markers_published: counter_vec(
                &r,
                names::MARKERS_PUBLISHED_TOTAL,
                "Committed-offset markers published.",
                p,
            ),
            transient_failures: counter_vec(
                &r,
                names::TRANSIENT_FAILURES_TOTAL,
                "Failures that were retried (database or Kafka unavailable), by stage.",
                &["projection", "stage"],
            ),
            positions: Mutex::new(HashMap::new()),
            claims: Mutex::new(HashMap::new()),
            registry: r,
            projection: projection.to_owned(),
        }
    }

    /// The registry to serve on `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A batch committed: `size` records, of which `applied` were applied, taking the
    /// partition to `next_offset`.
    pub fn batch_committed(&self, commit: &BatchCommitted<'_>) {
        let p = self.projection.as_str();
        let partition = commit.partition.to_string();
        self.events_applied
            .with_label_values(&[p, commit.topic])
            .inc_by(commit.applied as u64);
        self.batch_size
            .with_label_values(&[p])
            .observe(commit.size as f64);
        self.batch_duration
            .with_label_values(&[p])
            .observe(commit.duration.as_secs_f64());
        self.db_transaction
            .with_label_values(&[p])
            .observe(commit.transaction.as_secs_f64());
        self.committed_offset
            .with_label_values(&[p, commit.topic, &partition])
            .set(commit.next_offset);
        self.update_position(
            commit.topic,
            commit.partition,
            None,
            Some(commit.next_offset),
        );
        // Set after the offset lag, which clears it only when the partition is known to be
        // caught up.
        self.lag_seconds
            .with_label_values(&[p, commit.topic, &partition])
            .set(commit.age.as_secs_f64());
    }

    /// A worker of this instance claimed the partition: its series are that claim's until
    /// it is released.
    pub fn partition_claimed(&self, claimed: &ClaimedPartition) {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        let epoch = claims
            .entry((claimed.topic.clone(), claimed.partition))
            .or_insert(claimed.epoch);
        *epoch = (*epoch).max(claimed.epoch);
    }

    /// The claim is no longer this instance's: the partition's series are removed, so that
    /// dashboards show the new owner's values rather than this instance's last ones — unless
    /// a newer claim of this instance holds the partition now, whose series stay.
    pub fn partition_released(&self, claimed: &ClaimedPartition) {
        let (topic, partition) = (claimed.topic.as_str(), claimed.partition);
        {
            let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
            let key = (topic.to_owned(), partition);
            if claims.get(&key).is_some_and(|&epoch| epoch > claimed.epoch) {
                return;
            }
            claims.remove(&key);
        }
        let partition_label = partition.to_string();
        let labels = [self.projection.as_str(), topic, partition_label.as_str()];
        let _ = self.lag_offsets.remove_label_values(&labels);
        let _ = self.lag_seconds.remove_label_values(&labels);
        let _ = self.committed_offset.remove_label_values(&labels);
        self.positions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&(topic.to_owned(), partition));
    }

    /// The partition's high watermark, from the consumer's statistics.
    pub fn high_watermark(&self, topic: &str, partition: i32, high: i64) {
        self.update_position(topic, partition, Some(high), None);
    }

    fn update_position(
        &self,
        topic: &str,
        partition: i32,
        high: Option<i64>,
        committed: Option<i64>,
    ) {
        let mut positions = self
            .positions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = positions
            .entry((topic.to_owned(), partition))
            .or_insert((0, 0));
        if let Some(high) = high {
            entry.0 = high;
        }
        if let Some(committed) = committed {
            entry.1 = committed;
        }
        let lag = (entry.0 - entry.1).max(0);
        let partition = partition.to_string();
        let labels = [self.projection.as_str(), topic, partition.as_str()];
        self.lag_offsets.with_label_values(&labels).set(lag);
        if high.is_some() && lag == 0 {
            self.lag_seconds.with_label_values(&labels).set(0.0);
        }
    }

    /// `count` records were skipped for `reason`.
    pub fn skipped(&self, topic: &str, reason: &str, count: usize) {
        if count > 0 {
            self.events_skipped
                .with_label_values(&[&self.projection, topic, reason])
                .inc_by(count as u64);
        }
    }

    /// A record went to the dead-letter topic.
    pub fn dead_lettered(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        reason: &str,
        error: &str,
    ) {
        self.dead_letters
            .with_label_values(&[&self.projection, topic, reason])
            .inc();
        tracing::warn!(projection = %self.projection, topic, partition, offset, reason, error, "record sent to the dead-letter topic");
    }

    /// An aggregate was parked.
    pub fn aggregate_parked(&self, topic: &str, aggregate_id: &str, offset: i64, reason: &str) {
        self.parked_aggregates
            .with_label_values(&[&self.projection, topic])
            .inc();
        tracing::warn!(projection = %self.projection, topic, aggregate_id, offset, reason, "aggregate parked: its later events go to the dead-letter topic until an operator releases it");
    }

    /// A batch was refused because another worker claimed the partition.
    pub fn stale_commit_refused(&self, topic: &str, partition: i32, epoch: i64, holder: &str) {
        self.stale_commits_refused
            .with_label_values(&[&self.projection, topic])
            .inc();
        tracing::warn!(projection = %self.projection, topic, partition, epoch, holder, "stale batch refused: another worker claimed the partition; nothing was written");
    }

    /// Partitions were assigned or revoked.
    pub fn rebalanced(&self, kind: &str, partitions: usize, assigned_now: usize) {
        self.rebalances
            .with_label_values(&[&self.projection, kind])
            .inc();
        self.assigned_partitions
            .with_label_values(&[&self.projection])
            .set(assigned_now as i64);
        tracing::info!(projection = %self.projection, kind, partitions, assigned_now, "rebalance");
    }

    /// A marker was published.
    pub fn marker_published(&self) {
        self.markers_published
            .with_label_values(&[&self.projection])
            .inc();
    }

    /// Something failed and will be retried.
    pub fn transient_failure(&self, stage: &str, error: &str, retry_in: Duration) {
        self.transient_failures
            .with_label_values(&[&self.projection, stage])
            .inc();
        tracing::warn!(projection = %self.projection, stage, error, retry_in_ms = retry_in.as_millis() as u64, "failed; retrying");
    }
}

/// What [`ProjectorMetrics::batch_committed`] records.
#[derive(Debug, Clone)]
pub struct BatchCommitted<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Records in the batch.
    pub size: usize,
    /// Events applied.
    pub applied: usize,
    /// New committed offset.
    pub next_offset: i64,
    /// First record to commit.
    pub duration: Duration,
    /// The transaction alone.
    pub transaction: Duration,
    /// Age of the newest record at commit.
    pub age: Duration,
}

#[cfg(test)]
mod tests {
    use tributary_runtime::metrics::missing;

    use super::*;

    #[test]
    fn every_listed_name_is_exported() {
        let metrics = ProjectorMetrics::new("p");
        metrics.batch_committed(&BatchCommitted {
            topic: "t",
            partition: 0,
            size: 1,
            applied: 1,
            next_offset: 1,
            duration: Duration::ZERO,
            transaction: Duration::ZERO,
            age: Duration::ZERO,
        });
        metrics.skipped("t", "stale_version", 1);
        metrics.dead_lettered("t", 0, 0, "bad_magic", "x");
        metrics.aggregate_parked("t", "a", 0, "bad_magic");
        metrics.stale_commit_refused("t", 0, 1, "other");
        metrics.rebalanced("assign", 1, 1);
        metrics.marker_published();
        metrics.transient_failure("commit", "x", Duration::ZERO);
        metrics.high_watermark("t", 0, 5);
        assert_eq!(
            missing(metrics.registry(), METRIC_NAMES),
            Vec::<String>::new()
        );
    }

    fn committed(metrics: &ProjectorMetrics, next_offset: i64, age_secs: u64) {
        metrics.batch_committed(&BatchCommitted {
            topic: "t",
            partition: 3,
            size: 1,
            applied: 1,
            next_offset,
            duration: Duration::ZERO,
            transaction: Duration::ZERO,
            age: Duration::from_secs(age_secs),
        });
    }

    #[test]
    fn age_lag_stays_until_the_partition_is_known_to_be_caught_up() {
        let metrics = ProjectorMetrics::new("p");
        let lag = || {
            metrics
                .lag_seconds
                .with_label_values(&["p", "t", "3"])
                .get()
        };
        committed(&metrics, 10, 7);
        assert_eq!(lag(), 7.0, "no high watermark known yet: the age stands");
        metrics.high_watermark("t", 3, 10);
        assert_eq!(lag(), 0.0, "caught up");
    }

    #[test]
    fn a_released_partition_leaves_no_series_behind() {
        let metrics = ProjectorMetrics::new("p");
        let partition_series = || {
            metrics
                .registry()
                .gather()
                .iter()
                .flat_map(|family| family.get_metric().to_vec())
                .filter(|metric| metric.get_label().iter().any(|l| l.name() == "partition"))
                .count()
        };
        committed(&metrics, 10, 1);
        assert_eq!(
            partition_series(),
            3,
            "committed offset, lag in offsets and in seconds"
        );
        metrics.partition_released(&claim(1));
        assert_eq!(partition_series(), 0);
    }

    fn claim(epoch: i64) -> ClaimedPartition {
        ClaimedPartition {
            topic: "t".into(),
            partition: 3,
            epoch,
        }
    }

    #[test]
    fn an_older_claim_released_late_leaves_the_newer_claims_series() {
        let metrics = ProjectorMetrics::new("p");
        metrics.partition_claimed(&claim(1));
        metrics.partition_claimed(&claim(2));
        committed(&metrics, 10, 1);
        metrics.partition_released(&claim(1));
        assert_eq!(
            metrics
                .committed_offset
                .with_label_values(&["p", "t", "3"])
                .get(),
            10,
            "the newer claim's committed offset"
        );
        metrics.partition_released(&claim(2));
        assert!(
            metrics
                .committed_offset
                .remove_label_values(&["p", "t", "3"])
                .is_err()
        );
    }

    #[test]
    fn offset_lag_is_high_watermark_minus_committed() {
        let metrics = ProjectorMetrics::new("p");
        metrics.high_watermark("t", 3, 100);
        metrics.update_position("t", 3, None, Some(60));
        assert_eq!(
            metrics
                .lag_offsets
                .with_label_values(&["p", "t", "3"])
                .get(),
            40
        );
    }
}
