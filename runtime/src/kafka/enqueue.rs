//! Handing a record to librdkafka's producer queue without giving up when it is full.
//!
//! `FutureProducer::send_result` fails at once with `QueueFull` when the local queue
//! (`queue.buffering.max.messages` / `.kbytes`) has no room, and gives the record back. Every
//! writer that enqueues many records before awaiting their deliveries must then wait for
//! room and try again; this is that loop, written once, bounded by a deadline so that a broker
//! that never drains the queue ends in an error rather than a hang.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::ToBytes;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::time::Instant;

/// How long to wait before trying a full queue again.
const RETRY_PAUSE: Duration = Duration::from_millis(5);

/// Enqueues `record` on `producer`, waiting while the queue is full, until `deadline`; returns
/// the future of its delivery. An error other than a full queue, or a queue still full at the
/// deadline, is returned as librdkafka gave it.
pub async fn enqueue<K, P>(
    producer: &FutureProducer,
    mut record: FutureRecord<'_, K, P>,
    deadline: Instant,
) -> Result<DeliveryFuture, KafkaError>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned))
                if Instant::now() < deadline =>
            {
                record = returned;
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err((error, _)) => return Err(error),
        }
    }
}
