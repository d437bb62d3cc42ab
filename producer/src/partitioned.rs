//! A consumer-group member that runs one task per owned partition: the shape both the command
//! processor and the saga runner have.
//!
//! Records of a partition are handled in order, by a handler created when the partition's
//! first record arrives (that is when its state is rebuilt); the records waiting when the
//! handler is free are handed over together, so it can serve them with one round trip to the
//! broker. An offset is committed only after its record was handled, so a crash or a
//! revocation repeats work, never skips it.
//! A handler that fails (broker or database unavailable) is dropped and rebuilt, and the same
//! record is retried with capped backoff. A revoked partition's task finishes its record and
//! stops; the next owner rebuilds.
//!
//! The member is ready (`/readyz`) once the group has given it its first assignment, and not
//! while no broker can be reached.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tributary_runtime::Shutdown;
use tributary_runtime::http::Readiness;
use tributary_runtime::kafka::KafkaSettings;
use tributary_runtime::kafka::SourceRecord;

/// Most records handed to a handler at once: the ones already waiting when it is free.
const MAX_BATCH: usize = 256;

/// Handles the records of one owned partition, in order.
pub trait PartitionHandler: Send + 'static {
    /// Handles consecutive records of the partition, in order; an error makes the caller
    /// rebuild the handler and retry them all.
    fn handle_batch(
        &mut self,
        records: &[SourceRecord],
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The offset the partition must be read from again after a restart, when that is
    /// before the records handled so far: the committed offset goes no further. `None`
    /// (the default) commits each handled record.
    fn reread_from(&self) -> Option<i64> {
        None
    }
}

/// Creates the handler of a partition when it is first needed.
pub trait HandlerFactory: Send + Sync + 'static {
    /// The handler type.
    type Handler: PartitionHandler;

    /// Builds the handler of `topic`/`partition`, whose next record is at `next_offset`.
    fn start(
        &self,
        topic: &str,
        partition: i32,
        next_offset: i64,
    ) -> impl Future<Output = anyhow::Result<Self::Handler>> + Send;
}

/// One role's membership of a consumer group.
#[derive(Debug, Clone)]
pub struct GroupMember {
    /// The role, as named in logs and in `/readyz` (`processor`, `saga`).
    pub role: &'static str,
    /// The consumer group.
    pub group_id: String,
    /// The topics it consumes.
    pub topics: Vec<String>,
    /// The process's readiness, which the member's state is part of.
    pub readiness: Readiness,
}

/// Tells the routing loop which partitions were revoked, and keeps the member's readiness.
struct GroupContext {
    revoked: std_mpsc::Sender<Vec<(String, i32)>>,
    role: &'static str,
    readiness: Readiness,
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(role = self.role, %error, reason, "Kafka client error");
        // Other client errors pass (librdkafka reconnects); losing every broker stops the work.
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.readiness.not_ready(
                self.role,
                format!("no Kafka broker reachable ({reason}); check KAFKA_BOOTSTRAP_SERVERS and the brokers"),
            );
        }
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let revoked = partitions
                .elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect();
            let _ = self.revoked.send(revoked);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            tracing::info!(
                role = self.role,
                partitions = partitions.count(),
                "partitions assigned"
            );
            self.readiness.ready(self.role);
        }
    }
}

type GroupConsumer = StreamConsumer<GroupContext>;

struct PartitionTask {
    records: mpsc::Sender<SourceRecord>,
    stop: watch::Sender<bool>,
}

/// Consumes the member's topics in its group, handling each owned partition with a handler
/// from `factory`, until `shutdown`.
pub async fn run<F: HandlerFactory>(
    factory: Arc<F>,
    kafka: &KafkaSettings,
    member: GroupMember,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let GroupMember {
        role,
        group_id,
        topics,
        readiness,
    } = member;
    let group_id = group_id.as_str();
    readiness.not_ready(role, format!("joining consumer group {group_id}"));
    let (revoked_sender, revoked) = std_mpsc::channel();
    let consumer: GroupConsumer =
        kafka
            .low_latency_consumer(group_id)?
            .create_with_context(GroupContext {
                revoked: revoked_sender,
                role,
                readiness: readiness.clone(),
            })?;
    let consumer = Arc::new(consumer);
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names)?;
    let mut tasks: HashMap<(String, i32), PartitionTask> = HashMap::new();
    loop {
        let message = tokio::select! {
            _ = shutdown.requested() => break,
            message = consumer.recv() => message,
        };
        stop_revoked(&revoked, &mut tasks);
        let record = match message {
            Ok(message) => {
                // A record arrived, so a broker is reachable again.
                readiness.ready(role);
                SourceRecord::from_message(&message)
            }
            Err(error) => {
                tracing::warn!(%error, group_id, "consumer error");
                continue;
            }
        };
        let key = (record.topic.clone(), record.partition);
        let task = tasks
            .entry(key)
            .or_insert_with(|| spawn_partition(Arc::clone(&factory), Arc::clone(&consumer)));
        if task.records.send(record).await.is_err() {
            tracing::warn!(
                group_id,
                "a partition task ended while its partition was owned"
            );
        }
    }
    for task in tasks.values() {
        let _ = task.stop.send(true);
    }
    consumer.unsubscribe();
    Ok(())
}

fn stop_revoked(
    revoked: &std_mpsc::Receiver<Vec<(String, i32)>>,
    tasks: &mut HashMap<(String, i32), PartitionTask>,
) {
    while let Ok(partitions) = revoked.try_recv() {
        for key in partitions {
            if let Some(task) = tasks.remove(&key) {
                let _ = task.stop.send(true);
            }
        }
    }
}

fn spawn_partition<F: HandlerFactory>(
    factory: Arc<F>,
    consumer: Arc<GroupConsumer>,
) -> PartitionTask {
    let (records, receiver) = mpsc::channel(1024);
    let (stop, stop_receiver) = watch::channel(false);
    tokio::spawn(run_partition(factory, consumer, receiver, stop_receiver));
    PartitionTask { records, stop }
}

async fn run_partition<F: HandlerFactory>(
    factory: Arc<F>,
    consumer: Arc<GroupConsumer>,
    mut records: mpsc::Receiver<SourceRecord>,
    mut stop: watch::Receiver<bool>,
) {
    let mut handler: Option<F::Handler> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return,
            record = records.recv() => match record {
                Some(record) => record,
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match records.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        loop {
            let handled = async {
                if handler.is_none() {
                    let first = &batch[0];
                    let started = factory
                        .start(&first.topic, first.partition, first.offset)
                        .await?;
                    handler = Some(started);
                }
                match handler.as_mut() {
                    Some(handler) => handler.handle_batch(&batch).await,
                    None => Ok(()),
                }
            };
            match handled.await {
                Ok(()) => {
                    if let Some(last) = batch.last() {
                        let reread_from = handler.as_ref().and_then(|h| h.reread_from());
                        let next = reread_from.map_or(last.offset + 1, |r| r.min(last.offset + 1));
                        commit(&consumer, &last.topic, last.partition, next);
                    }
                    backoff = Duration::from_millis(100);
                    break;
                }
                Err(error) => {
                    let first = &batch[0];
                    tracing::warn!(
                        topic = first.topic,
                        partition = first.partition,
                        offset = first.offset,
                        records = batch.len(),
                        error = format!("{error:#}"),
                        retry_in_ms = backoff.as_millis() as u64,
                        "records failed; rebuilding the partition and retrying"
                    );
                    handler = None;
                    tokio::select! {
                        biased;
                        _ = stop.wait_for(|stop| *stop) => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

/// Commits `next` as the partition's next offset, after the records before it were handled.
fn commit(consumer: &GroupConsumer, topic: &str, partition: i32, next: i64) {
    let mut list = TopicPartitionList::new();
    if list
        .add_partition_offset(topic, partition, Offset::Offset(next))
        .is_ok()
        && let Err(error) = consumer.commit(&list, CommitMode::Async)
    {
        tracing::debug!(topic, partition, %error, "offset commit refused");
    }
}
