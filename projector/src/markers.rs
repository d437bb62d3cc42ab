//! Committed-offset markers: after a batch commits, the projection announces on the compacted
//! markers topic how far its read tables have got in that partition, so the command side and
//! readers can tell without querying PostgreSQL.
//!
//! Markers are published at a bounded rate — at most one per partition per interval, carrying
//! the latest committed offset — and at once when a partition goes idle or is revoked, so the
//! last word on a partition is always its final offset. A marker is a hint that lags the
//! database, never leads it: it is published only after the commit it reports.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::{mpsc, oneshot};
use tributary_schemas::Codec;
use tributary_schemas::protocol::ProjectionMarker;

use crate::metrics::ProjectorMetrics;

/// What a worker tells the publisher.
#[derive(Debug)]
enum Update {
    Committed {
        topic: String,
        partition: i32,
        next_offset: i64,
        committed_at: i64,
    },
    Flush {
        topic: String,
        partition: i32,
        done: Option<oneshot::Sender<()>>,
    },
    Forget {
        topic: String,
        partition: i32,
    },
}

/// Handle to the marker publisher task.
#[derive(Debug, Clone)]
pub struct Markers {
    updates: mpsc::UnboundedSender<Update>,
}

impl Markers {
    /// Starts the publisher for `projection` on `markers_topic`.
    pub fn start(
        producer: FutureProducer,
        codec: Codec,
        projection: &str,
        markers_topic: &str,
        interval: Duration,
        metrics: Arc<ProjectorMetrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (updates, receiver) = mpsc::unbounded_channel();
        let publisher = Publisher {
            producer,
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

    /// A batch of `topic`/`partition` committed up to `next_offset`.
    pub fn committed(&self, topic: &str, partition: i32, next_offset: i64, committed_at: i64) {
        let _ = self.updates.send(Update::Committed {
            topic: topic.to_owned(),
            partition,
            next_offset,
            committed_at,
        });
    }

    /// Publishes the partition's latest marker now (the partition went idle).
    pub fn flush(&self, topic: &str, partition: i32) {
        let _ = self.updates.send(Update::Flush {
            topic: topic.to_owned(),
            partition,
            done: None,
        });
    }

    /// Drops what is known of the partition without publishing it: the partition was claimed
    /// by another worker, whose markers are the newer truth.
    pub fn forget(&self, topic: &str, partition: i32) {
        let _ = self.updates.send(Update::Forget {
            topic: topic.to_owned(),
            partition,
        });
    }

    /// Publishes the partition's latest marker now and waits until the broker has it (the
    /// partition is being revoked or the process is stopping).
    pub async fn flush_and_wait(&self, topic: &str, partition: i32) {
        let (done, acknowledged) = oneshot::channel();
        let sent = self.updates.send(Update::Flush {
            topic: topic.to_owned(),
            partition,
            done: Some(done),
        });
        if sent.is_ok() {
            let _ = acknowledged.await;
        }
    }
}

#[derive(Debug, Default)]
struct PartitionMarker {
    next_offset: i64,
    committed_at: i64,
    published: Option<i64>,
    last_publish: Option<Instant>,
}

struct Publisher {
    producer: FutureProducer,
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
                    Some(Update::Committed { topic, partition, next_offset, committed_at }) => {
                        let entry = self.partitions.entry((topic, partition)).or_default();
                        entry.next_offset = next_offset;
                        entry.committed_at = committed_at;
                    }
                    Some(Update::Forget { topic, partition }) => {
                        self.partitions.remove(&(topic, partition));
                    }
                    Some(Update::Flush { topic, partition, done }) => {
                        self.publish((topic, partition), true).await;
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
        };
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
