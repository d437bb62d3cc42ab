//! The replies listener: reads this instance's partition of the replies topic and hands each
//! reply to the request waiting for it.
//!
//! Every gateway instance has one replies partition, `partition_for_key(instance_id)` — the
//! processor sends a reply there, keyed by and with a `reply-to` header naming the instance.
//! The listener is *assigned* that partition rather than subscribed: it needs no group, commits
//! nothing, and never waits for a rebalance. Instances whose IDs hash to the same partition
//! share it; each skips the replies addressed to the others.
//!
//! **Positioning, the one decision that shaped this file.** A request produces its command
//! only after [`Gateway::start`](super::Gateway::start) returned, so the listener must be
//! reading from a position no later than the end of the partition *at that moment*. Assigning
//! at `Offset::End` does not give that: librdkafka resolves the logical end asynchronously,
//! at the first fetch, so a reply written between `assign` and that lookup would be skipped,
//! and `position()` stays invalid until a message has been consumed, so it cannot be waited on
//! either. Instead the listener asks the partition leader for the end offset (a ListOffsets
//! request) *before* assigning, and assigns that concrete offset. Every reply to a command
//! produced afterwards is written after the lookup, hence at or beyond that offset, and is
//! read. Should the lookup lag the true end, the listener only reads a few old replies, which
//! nobody waits for and which are counted and skipped. The method needs nothing from the
//! broker but a correct high watermark, which the broker conformance tests check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tributary_runtime::Shutdown;
use tributary_runtime::kafka::KafkaSettings;
use tributary_runtime::kafka::offsets::high_watermark;
use tributary_schemas::Codec;
use tributary_schemas::headers::REPLY_TO;
use tributary_schemas::protocol::CommandReply;

use super::GatewayError;
use super::metrics::GatewayMetrics;
use super::waiters::Waiters;

/// The replies partition of one instance, positioned, with what it routes replies to.
pub(super) struct Listener {
    consumer: Arc<StreamConsumer>,
    routing: Routing,
}

/// The replies partition this listener owns.
#[derive(Debug, Clone)]
pub(super) struct RepliesPartition {
    pub(super) topic: String,
    pub(super) partition: i32,
}

/// What the listener shares with the gateway.
pub(super) struct Routing {
    pub(super) instance_id: String,
    pub(super) codec: Codec,
    pub(super) waiters: Arc<Waiters>,
    pub(super) metrics: GatewayMetrics,
    pub(super) listening: Arc<AtomicBool>,
}

impl Listener {
    /// Creates the consumer and assigns it `replies` at the partition's current end, found
    /// within `timeout`. On return, every reply written from now on will be read.
    pub(super) async fn position(
        kafka: &KafkaSettings,
        replies: &RepliesPartition,
        routing: Routing,
        timeout: Duration,
    ) -> Result<Self, GatewayError> {
        // The group is never joined (the partition is assigned) and nothing is committed; it
        // only names the client in the broker's logs.
        let group = format!("{}.gateway.{}", replies.topic, routing.instance_id);
        let consumer: StreamConsumer =
            kafka
                .low_latency_consumer(&group)?
                .create()
                .map_err(|source| GatewayError::Client {
                    client: "replies consumer",
                    source,
                })?;
        let consumer = Arc::new(consumer);
        let lookup = {
            let consumer = Arc::clone(&consumer);
            let replies = replies.clone();
            // The end-offset lookup is a blocking call of librdkafka.
            tokio::task::spawn_blocking(move || assign_at_end(&consumer, &replies, timeout)).await
        };
        let not_positioned = |detail: String| GatewayError::RepliesEnd {
            topic: replies.topic.clone(),
            partition: replies.partition,
            bootstrap: kafka.bootstrap_servers().to_owned(),
            timeout,
            detail,
        };
        let offset = match lookup {
            Ok(Ok(offset)) => offset,
            Ok(Err(error)) => return Err(not_positioned(error.to_string())),
            Err(error) => return Err(not_positioned(format!("the lookup task failed: {error}"))),
        };
        tracing::info!(
            topic = replies.topic,
            partition = replies.partition,
            offset,
            instance_id = routing.instance_id,
            "listening for command replies"
        );
        routing.listening.store(true, Ordering::SeqCst);
        Ok(Self { consumer, routing })
    }

    /// Routes replies until `shutdown`.
    pub(super) async fn run(self, shutdown: Shutdown) {
        loop {
            let message = tokio::select! {
                _ = shutdown.requested() => break,
                message = self.consumer.recv() => message,
            };
            match message {
                Ok(message) => self.route(&message),
                Err(error) => self.routing.metrics.consumer_error(&error.to_string()),
            }
        }
        self.routing.listening.store(false, Ordering::SeqCst);
        tracing::info!("replies listener stopped");
    }

    fn route(&self, message: &BorrowedMessage<'_>) {
        let routing = &self.routing;
        let reply_to = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|header| header.key == REPLY_TO)
                .and_then(|header| header.value)
        });
        if reply_to != Some(routing.instance_id.as_bytes()) {
            routing.metrics.reply_for_another_instance();
            return;
        }
        let decoded = message
            .payload()
            .ok_or_else(|| "the record has no value".to_owned())
            .and_then(|value| {
                routing
                    .codec
                    .decode_record::<CommandReply>(value)
                    .map_err(|error| error.to_string())
            });
        match decoded {
            Ok(reply) => {
                let command_id = reply.command_id.clone();
                let result = routing.waiters.deliver(reply);
                routing.metrics.reply_routed(result, &command_id);
            }
            Err(error) => {
                routing
                    .metrics
                    .reply_undecodable(message.partition(), message.offset(), &error)
            }
        }
    }
}

/// Looks up the end of `replies` and assigns the consumer there; returns the offset.
fn assign_at_end(
    consumer: &StreamConsumer,
    replies: &RepliesPartition,
    timeout: Duration,
) -> Result<i64, rdkafka::error::KafkaError> {
    let end = high_watermark(consumer, &replies.topic, replies.partition, timeout)?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(&replies.topic, replies.partition, Offset::Offset(end))?;
    consumer.assign(&assignment)?;
    Ok(end)
}
