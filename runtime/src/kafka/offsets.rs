//! Where a partition ends: the offset the next record written to it will get.
//!
//! The processor and the tests need the true end of a partition ("has the projector caught
//! up?", "how many records are there?"). The high watermark from a ListOffsets request is that
//! number on Apache Kafka (some Kafka-protocol stand-ins report a wrong one for batched
//! produce, e.g. the end of the first batch). The broker conformance test
//! `end_offset_equals_records_written_in_batches` proves the method on the broker the suite
//! runs against.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

/// The end offset (high watermark) of each of `partitions` of `topic`, in order.
pub fn end_offsets(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: impl IntoIterator<Item = i32>,
    timeout: Duration,
) -> Result<Vec<i64>, KafkaError> {
    partitions
        .into_iter()
        .map(|partition| {
            consumer
                .fetch_watermarks(topic, partition, timeout)
                .map(|(_, high)| high)
        })
        .collect()
}
