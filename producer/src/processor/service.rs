//! The processor as a consumer-group member of the commands topic: one task per owned
//! partition, each handling its commands in order; offsets committed only after the reply.
//!
//! A partition task that fails (the broker or the database unavailable) rebuilds its books
//! and retries the same command with backoff, so nothing is skipped; a revoked partition's task
//! finishes its current command and stops, and the next owner rebuilds from the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tributary_projector::record::SourceRecord;
use tributary_runtime::Shutdown;

use super::partition::{PartitionProcessor, ProcessorShared};

/// Tells the routing loop which partitions were revoked.
struct RevocationContext {
    revoked: std_mpsc::Sender<Vec<i32>>,
}

impl ClientContext for RevocationContext {}

impl ConsumerContext for RevocationContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let revoked = partitions
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            let _ = self.revoked.send(revoked);
        }
    }
}

type CommandsConsumer = StreamConsumer<RevocationContext>;

struct PartitionTask {
    records: mpsc::Sender<SourceRecord>,
    stop: watch::Sender<bool>,
}

/// Runs the processor until `shutdown`.
pub async fn run(
    shared: Arc<ProcessorShared>,
    group_id: &str,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let (revoked_sender, revoked) = std_mpsc::channel();
    let consumer: CommandsConsumer =
        shared
            .kafka
            .consumer(group_id)?
            .create_with_context(RevocationContext {
                revoked: revoked_sender,
            })?;
    let consumer = Arc::new(consumer);
    consumer.subscribe(&[&shared.topology.commands()])?;
    let mut tasks: HashMap<i32, PartitionTask> = HashMap::new();
    loop {
        let message = tokio::select! {
            _ = shutdown.requested() => break,
            message = consumer.recv() => message,
        };
        stop_revoked(&revoked, &mut tasks);
        let record = match message {
            Ok(message) => SourceRecord::from_message(&message),
            Err(error) => {
                tracing::warn!(%error, "commands consumer error");
                continue;
            }
        };
        let task = tasks.entry(record.partition).or_insert_with(|| {
            spawn_partition(Arc::clone(&shared), Arc::clone(&consumer), record.partition)
        });
        if task.records.send(record).await.is_err() {
            tracing::warn!("a partition task ended while it still owned its partition");
        }
    }
    for task in tasks.values() {
        let _ = task.stop.send(true);
    }
    consumer.unsubscribe();
    Ok(())
}

fn stop_revoked(revoked: &std_mpsc::Receiver<Vec<i32>>, tasks: &mut HashMap<i32, PartitionTask>) {
    while let Ok(partitions) = revoked.try_recv() {
        for partition in partitions {
            if let Some(task) = tasks.remove(&partition) {
                let _ = task.stop.send(true);
            }
        }
    }
}

fn spawn_partition(
    shared: Arc<ProcessorShared>,
    consumer: Arc<CommandsConsumer>,
    partition: i32,
) -> PartitionTask {
    let (records, receiver) = mpsc::channel(1024);
    let (stop, stop_receiver) = watch::channel(false);
    tokio::spawn(run_partition(
        shared,
        consumer,
        partition,
        receiver,
        stop_receiver,
    ));
    PartitionTask { records, stop }
}

async fn run_partition(
    shared: Arc<ProcessorShared>,
    consumer: Arc<CommandsConsumer>,
    partition: i32,
    mut records: mpsc::Receiver<SourceRecord>,
    mut stop: watch::Receiver<bool>,
) {
    let mut processor = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        let record = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return,
            record = records.recv() => match record {
                Some(record) => record,
                None => return,
            },
        };
        loop {
            let attempt = async {
                if processor.is_none() {
                    processor =
                        Some(PartitionProcessor::start(Arc::clone(&shared), partition).await?);
                }
                match processor.as_mut() {
                    Some(processor) => processor.handle(&record).await,
                    None => Ok(None),
                }
            };
            match attempt.await {
                Ok(_) => {
                    commit(&consumer, &record);
                    backoff = Duration::from_millis(100);
                    break;
                }
                Err(error) => {
                    tracing::warn!(partition, offset = record.offset, %error, retry_in_ms = backoff.as_millis() as u64, "command failed; rebuilding the partition and retrying");
                    processor = None;
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

/// Commits the command's offset after its reply was sent.
fn commit(consumer: &CommandsConsumer, record: &SourceRecord) {
    let mut list = TopicPartitionList::new();
    if list
        .add_partition_offset(
            &record.topic,
            record.partition,
            Offset::Offset(record.offset + 1),
        )
        .is_ok()
        && let Err(error) = consumer.commit(&list, CommitMode::Async)
    {
        tracing::debug!(partition = record.partition, %error, "command offset commit refused");
    }
}
