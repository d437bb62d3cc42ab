//! Committed-offset markers: after a batch commits, the projection announces on the compacted
//! markers topic how far its read tables have got in that partition, so the command side and
//! readers can tell without querying PostgreSQL.
//!
//! Markers are published at a bounded rate — at most one per partition per interval, carrying
//! the latest committed offset — and at once when a partition goes idle or is revoked, so the
//! last word on a partition is always its final offset. A marker is a hint that lags the
//! database, never leads it: it is published only after the commit it reports.
//!
//! Markers of one key never go back. Each carries the epoch of the claim it was committed
//! under, and everything here is keyed by the claim ([`ClaimedPartition`]): an update of an
//! older claim never overwrites or forgets a newer one's in the same process. Before
//! publishing, the publisher checks in `projector_offsets` that the claim is still the
//! partition's; a worker that lost its claim (frozen past its session, then woken) therefore
//! publishes nothing more, and readers order markers by (epoch, next_offset)
//! ([`ProjectionMarker::supersedes`]) for the instant between that check and the broker's
//! acknowledgement.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tributary_schemas::Codec;
use tributary_schemas::protocol::ProjectionMarker;

use crate::metrics::ProjectorMetrics;
use tributary_store::offsets;
use tributary_store::offsets::ClaimedPartition;

/// What a worker tells the publisher.
#[derive(Debug)]
enum Update {
    Committed {
        claimed: ClaimedPartition,
        next_offset: i64,
        committed_at: i64,
    },
    Flush {
        claimed: ClaimedPartition,
        done: Option<oneshot::Sender<()>>,
    },
    Forget {
        claimed: ClaimedPartition,
    },
}

/// Handle to the marker publisher task.
#[derive(Debug, Clone)]
pub struct Markers {
    updates: mpsc::UnboundedSender<Update>,
}

impl Markers {
    /// Starts the publisher for `projection` on `markers_topic`; `pool` holds the claims.
    pub fn start(
        producer: FutureProducer,
        pool: PgPool,
        codec: Codec,
        projection: &str,
        markers_topic: &str,
        interval: Duration,
        metrics: Arc<ProjectorMetrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (updates, receiver) = mpsc::unbounded_channel();
        let publisher = Publisher {
            producer,
            pool,
            codec,
            projection: projection.to_owned(),
            topic: markers_topic.to_owned(),
            interval,
            metrics,
            partitions: HashMap::new(),
        };
        let task = tokio::spawn(publisher.run(receiver));
        (Self { updates }, task)
    }

    /// A batch of the claimed partition committed up to `next_offset`.
    pub fn committed(&self, claimed: &ClaimedPartition, next_offset: i64, committed_at: i64) {
        let _ = self.updates.send(Update::Committed {
            claimed: claimed.clone(),
            next_offset,
            committed_at,
        });
    }

    /// Publishes the partition's latest marker now (the partition went idle).
    pub fn flush(&self, claimed: &ClaimedPartition) {
        let _ = self.updates.send(Update::Flush {
            claimed: claimed.clone(),
            done: None,
        });
    }

    /// Drops what this claim knows of the partition without publishing it: another worker
    /// claimed the partition, and its markers are the newer truth. A newer claim's state in
    /// this process is kept.
    pub fn forget(&self, claimed: &ClaimedPartition) {
        let _ = self.updates.send(Update::Forget {
            claimed: claimed.clone(),
        });
    }

    /// Publishes the partition's latest marker now and waits until the broker has it (the
    /// partition is being revoked or the process is stopping).
    pub async fn flush_and_wait(&self, claimed: &ClaimedPartition) {
        let (done, acknowledged) = oneshot::channel();
        let sent = self.updates.send(Update::Flush {
            claimed: claimed.clone(),
            done: Some(done),
        });
        if sent.is_ok() {
            let _ = acknowledged.await;
        }
    }
}

#[derive(Debug)]
struct PartitionMarker {
    epoch: i64,
    next_offset: i64,
    committed_at: i64,
    published: Option<i64>,
    last_publish: Option<Instant>,
}

struct Publisher {
    producer: FutureProducer,
    pool: PgPool,
    codec: Codec,
    projection: String,
    topic: String,
    interval: Duration,
    metrics: Arc<ProjectorMetrics>,
    partitions: HashMap<(String, i32), PartitionMarker>,
}

impl Publisher {
    async fn run(mut self, mut updates: mpsc::UnboundedReceiver<Update>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                update = updates.recv() => match update {
                    Some(Update::Committed { claimed, next_offset, committed_at }) => {
                        self.committed(claimed, next_offset, committed_at);
                    }
                    Some(Update::Forget { claimed }) => {
                        let key = (claimed.topic, claimed.partition);
                        if self.partitions.get(&key).is_some_and(|m| m.epoch == claimed.epoch) {
                            self.partitions.remove(&key);
                        }
                    }
                    Some(Update::Flush { claimed, done }) => {
                        let key = (claimed.topic, claimed.partition);
                        if self.partitions.get(&key).is_some_and(|m| m.epoch == claimed.epoch) {
                            self.publish(key, true).await;
                        }
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => self.publish_due().await,
            }
        }
        let keys: Vec<(String, i32)> = self.partitions.keys().cloned().collect();
        for key in keys {
            self.publish(key, false).await;
        }
    }

    /// Notes a commit, unless a newer claim on the partition is known here already.
    fn committed(&mut self, claimed: ClaimedPartition, next_offset: i64, committed_at: i64) {
        let key = (claimed.topic, claimed.partition);
        if self
            .partitions
            .get(&key)
            .is_some_and(|known| known.epoch > claimed.epoch)
        {
            return;
        }
        let entry = self.partitions.entry(key).or_insert(PartitionMarker {
            epoch: claimed.epoch,
            next_offset,
            committed_at,
            published: None,
            last_publish: None,
        });
        if entry.epoch < claimed.epoch {
            entry.published = None;
        }
        entry.epoch = claimed.epoch;
        entry.next_offset = next_offset;
        entry.committed_at = committed_at;
    }

    async fn publish_due(&mut self) {
        let due: Vec<(String, i32)> = self
            .partitions
            .iter()
            .filter(|(_, m)| m.published != Some(m.next_offset))
            .filter(|(_, m)| {
                m.last_publish
                    .is_none_or(|at| at.elapsed() >= self.interval)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            self.publish(key, false).await;
        }
    }

    /// Publishes the partition's marker if it changed since the last one (or always, when
    /// `force` — a revoked partition's final word).
    async fn publish(&mut self, key: (String, i32), force: bool) {
        let Some(entry) = self.partitions.get(&key) else {
            return;
        };
        if !force && entry.published == Some(entry.next_offset) {
            return;
        }
        let marker = ProjectionMarker {
            projection: self.projection.clone(),
            topic: key.0.clone(),
            partition: key.1,
            next_offset: entry.next_offset,
            committed_at: entry.committed_at,
            epoch: entry.epoch,
        };
        match offsets::holder(&self.pool, &self.projection, &key.0, key.1).await {
            Ok(Some(holder)) if holder.epoch == marker.epoch => {}
            Ok(_) => {
                tracing::info!(
                    topic = key.0,
                    partition = key.1,
                    epoch = marker.epoch,
                    "marker withheld: the partition was claimed by another worker since"
                );
                self.partitions.remove(&key);
                return;
            }
            Err(error) => {
                self.metrics
                    .transient_failure("marker", &error.to_string(), self.interval);
                return;
            }
        }
        let value = match self.codec.encode(&marker) {
            Ok(value) => value,
            Err(error) => {
                tracing::error!(%error, "cannot encode a projection marker");
                return;
            }
        };
        let record_key = marker.key();
        let record = FutureRecord::to(&self.topic)
            .key(&record_key)
            .payload(&value);
        match self.producer.send(record, Duration::from_secs(30)).await {
            Ok(_) => {
                self.metrics.marker_published();
                if let Some(entry) = self.partitions.get_mut(&key) {
                    entry.published = Some(marker.next_offset);
                    entry.last_publish = Some(Instant::now());
                }
            }
            Err((error, _)) => {
                self.metrics
                    .transient_failure("marker", &error.to_string(), self.interval);
            }
        }
    }
}
