//! The dead-letter topic: where records go that the projection cannot apply, with everything
//! needed to understand and replay them.
//!
//! A dead letter keeps the original key, value and headers and adds `dlq-*` headers naming the
//! reason, the error, the projection and the source coordinates (and, for a record parked
//! behind an earlier failure, that failure's offset). It goes to the same partition number of
//! `<topic>.dlq`, so one aggregate's dead letters stay in order. Dead letters are acknowledged
//! by the broker before the batch that skips them commits; a crash in between can repeat a
//! dead letter (identified by its source coordinates), never lose one.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tributary_runtime::kafka::enqueue;

use crate::plan::DeadLetter;
use tributary_runtime::kafka::SourceRecord;

/// `dlq-reason`: short, stable label of why the record was not applied.
pub const REASON: &str = "dlq-reason";
/// `dlq-error`: the full explanation.
pub const ERROR: &str = "dlq-error";
/// `dlq-projection`: the projection that refused it.
pub const PROJECTION: &str = "dlq-projection";
/// `dlq-source-topic`.
pub const SOURCE_TOPIC: &str = "dlq-source-topic";
/// `dlq-source-partition`.
pub const SOURCE_PARTITION: &str = "dlq-source-partition";
/// `dlq-source-offset`.
pub const SOURCE_OFFSET: &str = "dlq-source-offset";
/// `dlq-parked-behind`: for a parked record, the offset of the failure it waits behind.
pub const PARKED_BEHIND: &str = "dlq-parked-behind";

/// Publishes dead letters of one projection.
#[derive(Clone)]
pub struct DeadLetterPublisher {
    producer: FutureProducer,
    projection: String,
    timeout: Duration,
}

impl std::fmt::Debug for DeadLetterPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterPublisher")
            .field("projection", &self.projection)
            .finish_non_exhaustive()
    }
}

/// The dead-letter topic of an events topic.
pub fn dead_letter_topic(source_topic: &str) -> String {
    format!("{source_topic}.dlq")
}

impl DeadLetterPublisher {
    /// A publisher for `projection` using `producer`.
    pub fn new(producer: FutureProducer, projection: &str) -> Self {
        Self {
            producer,
            projection: projection.to_owned(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Publishes `letters` (of `records`) and waits until the broker has acknowledged all.
    pub async fn publish(
        &self,
        records: &[SourceRecord],
        letters: &[&DeadLetter],
    ) -> Result<(), KafkaError> {
        let mut pending = Vec::with_capacity(letters.len());
        for letter in letters {
            let record = &records[letter.index];
            let topic = dead_letter_topic(&record.topic);
            let mut out = FutureRecord::<[u8], [u8]>::to(&topic)
                .partition(record.partition)
                .headers(self.headers(record, letter));
            if let Some(key) = &record.key {
                out = out.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                out = out.payload(value.as_slice());
            }
            let deadline = tokio::time::Instant::now() + self.timeout;
            pending.push(enqueue(&self.producer, out, deadline).await?);
        }
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(error),
                Err(_) => return Err(KafkaError::Canceled),
            }
        }
        Ok(())
    }

    fn headers(&self, record: &SourceRecord, letter: &DeadLetter) -> OwnedHeaders {
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let parked = letter.parked_behind.map(|o| o.to_string());
        let added: [(&str, Option<&str>); 7] = [
            (REASON, Some(letter.reason)),
            (ERROR, Some(letter.error.as_str())),
            (PROJECTION, Some(self.projection.as_str())),
            (SOURCE_TOPIC, Some(record.topic.as_str())),
            (SOURCE_PARTITION, Some(partition.as_str())),
            (SOURCE_OFFSET, Some(offset.as_str())),
            (PARKED_BEHIND, parked.as_deref()),
        ];
        let original = record
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: value.as_deref(),
                })
            });
        added
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (key, v)))
            .fold(original, |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                })
            })
    }
}
