//! Reading an owned partition's events as they are written — by anyone.
//!
//! A processor partition follows the events partition of every aggregate type from the offset
//! its snapshot is committed through, folding each record into its book. It reads its own
//! writes back this way: after writing an event at offset `o`, it reads through `o` and only
//! then knows whether its record was the valid one at that version or lost the race to
//! another writer (a zombie that still believes it owns the partition).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use tributary_runtime::kafka::KafkaSettings;
use tributary_runtime::kafka::SourceRecord;
use tributary_runtime::kafka::offsets::high_watermark;
use tributary_schemas::Codec;

use super::book::{Book, Folded};

/// How long a read-back may wait for a record the broker has acknowledged.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Follows the events partitions of one processor partition and folds them into its books.
pub struct LogTail {
    consumer: Arc<StreamConsumer>,
    /// Next offset to read, per topic.
    positions: HashMap<String, i64>,
    partition: i32,
    /// Records found unreadable while folding, for metrics.
    pub unreadable: u64,
    /// Void records folded, for metrics.
    pub void: u64,
}

/// The tail could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The consumer failed.
    #[error("reading the events partitions failed: {0}")]
    Kafka(#[from] KafkaError),
    /// A written record did not come back in time.
    #[error(
        "record {topic}/{partition}@{offset} was acknowledged but not read back within {timeout:?}"
    )]
    Timeout {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset awaited.
        offset: i64,
        /// How long it waited.
        timeout: Duration,
    },
}

impl LogTail {
    /// A tail of `partition` of every topic in `starts` (topic → first offset to read).
    pub fn new(
        kafka: &KafkaSettings,
        group_id: &str,
        partition: i32,
        starts: &HashMap<String, i64>,
    ) -> Result<Self, KafkaError> {
        let config = kafka
            .low_latency_consumer(group_id)
            .map_err(|error| KafkaError::ClientCreation(error.to_string()))?;
        let consumer: StreamConsumer = config.create()?;
        let mut assignment = TopicPartitionList::new();
        for (topic, start) in starts {
            assignment.add_partition_offset(topic, partition, Offset::Offset(*start))?;
        }
        consumer.assign(&assignment)?;
        Ok(Self {
            consumer: Arc::new(consumer),
            positions: starts.clone(),
            partition,
            unreadable: 0,
            void: 0,
        })
    }

    /// Reads every partition up to its current end (the high watermark); returns whether it
    /// read anything.
    pub async fn catch_up(
        &mut self,
        books: &mut HashMap<String, Box<dyn Book>>,
        codec: &Codec,
    ) -> Result<bool, TailError> {
        let topics: Vec<String> = self.positions.keys().cloned().collect();
        let mut read = false;
        for topic in &topics {
            read |= self.catch_up_topic(books, codec, topic).await?;
        }
        Ok(read)
    }

    /// Reads `topic` up to its current end (the high watermark): every record the broker had
    /// acknowledged to anyone when this was called is then in the books. Returns whether it
    /// read anything.
    pub async fn catch_up_topic(
        &mut self,
        books: &mut HashMap<String, Box<dyn Book>>,
        codec: &Codec,
        topic: &str,
    ) -> Result<bool, TailError> {
        let consumer = Arc::clone(&self.consumer);
        let partition = self.partition;
        let name = topic.to_owned();
        let high = tokio::task::spawn_blocking(move || {
            high_watermark(consumer.as_ref(), &name, partition, Duration::from_secs(30))
        })
        .await
        .map_err(|_| KafkaError::Canceled)??;
        if high > self.positions.get(topic).copied().unwrap_or(0) {
            self.read_through(books, codec, topic, high - 1).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Reads until the record at `offset` of `topic` has been folded.
    pub async fn read_through(
        &mut self,
        books: &mut HashMap<String, Box<dyn Book>>,
        codec: &Codec,
        topic: &str,
        offset: i64,
    ) -> Result<(), TailError> {
        let deadline = tokio::time::Instant::now() + READ_BACK_TIMEOUT;
        while self.positions.get(topic).copied().unwrap_or(0) <= offset {
            let received = tokio::time::timeout_at(deadline, self.consumer.recv()).await;
            let message = match received {
                Ok(message) => message?,
                Err(_) => {
                    return Err(TailError::Timeout {
                        topic: topic.to_owned(),
                        partition: self.partition,
                        offset,
                        timeout: READ_BACK_TIMEOUT,
                    });
                }
            };
            let record = SourceRecord::from_message(&message);
            self.positions
                .insert(record.topic.clone(), record.offset + 1);
            if let Some(book) = books.get_mut(&record.topic) {
                match book.fold(codec, &record) {
                    Folded::Valid => {}
                    Folded::Void => self.void += 1,
                    Folded::InSnapshot => {}
                    Folded::Blocked {
                        aggregate_id,
                        blocked,
                        newly: true,
                    } => {
                        self.unreadable += 1;
                        blocked.warn(&record, &aggregate_id, "its commands are refused");
                    }
                    Folded::Blocked { newly: false, .. } => {}
                    Folded::Unreadable(reason) => {
                        self.unreadable += 1;
                        tracing::warn!(
                            topic = record.topic,
                            partition = record.partition,
                            offset = record.offset,
                            reason,
                            "unreadable event record ignored by the processor; the projector dead-letters it"
                        );
                    }
                }
            }
        }
        Ok(())
    }
}
