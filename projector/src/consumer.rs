//! The Kafka side of the projector: one consumer-group member on its own thread, which claims
//! partitions in PostgreSQL as they are assigned, starts at the offsets stored there (not the
//! group's), routes records to the partitions' workers, and stops workers cleanly when their
//! partitions are revoked.
//!
//! The consumer runs on a plain thread rather than an async task because librdkafka calls the
//! rebalance callback from inside `poll`, and the callback must finish its PostgreSQL work —
//! claiming each assigned partition, or waiting for revoked partitions' workers to hand over
//! — before the assignment changes. On a thread outside the async runtime it can wait for that
//! work with `Handle::block_on`.
//!
//! Back-pressure: each worker has a bounded queue. When one is full the consumer waits up to
//! [`ROOM_WAIT`] for its worker to take the next batch — while catching up every worker is
//! busy, and waiting costs nothing, whereas pausing would make librdkafka drop what it had
//! fetched for the partition and fetch it again on resume. A worker that takes nothing for
//! that long is slow (its database is out, its batch keeps failing): its partition is paused
//! at the broker and its records are held until it catches up, so a slow partition never
//! grows memory and never holds up the other partitions for longer than one wait. What
//! librdkafka fetches ahead is bounded by its own queue settings
//! (`KafkaSettings::positioned_consumer`).

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tributary_runtime::Shutdown;

use crate::continuity;
use crate::projection::SourceTopic;
use crate::worker::{Shared, WorkerSetup};
use tributary_runtime::kafka::SourceRecord;
use tributary_store::{offsets, parked};

/// Longest the consumer waits for room in a worker's full queue before it pauses the
/// partition: longer than a healthy worker takes to commit a batch and take the next one.
const ROOM_WAIT: Duration = Duration::from_secs(1);

/// A request from a worker to the consumer thread.
#[derive(Debug)]
enum Command {
    /// Commit `next_offset` to the consumer group (after the PostgreSQL commit).
    Commit {
        topic: String,
        partition: i32,
        next_offset: i64,
    },
}

/// Sends requests to the consumer thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConsumerCommands {
    sender: std_mpsc::Sender<Command>,
}

impl ConsumerCommands {
    /// A command channel; the receiver goes to [`ConsumerThread::run`].
    pub fn channel() -> (Self, CommandReceiver) {
        let (sender, receiver) = std_mpsc::channel();
        (Self { sender }, CommandReceiver(receiver))
    }

    /// Asks for the group offset of `topic`/`partition` to be set to `next_offset`, so lag
    /// tools and autoscalers see the projection's progress.
    pub fn commit(&self, topic: &str, partition: i32, next_offset: i64) {
        let _ = self.sender.send(Command::Commit {
            topic: topic.to_owned(),
            partition,
            next_offset,
        });
    }
}

/// The consumer thread's end of [`ConsumerCommands`].
#[derive(Debug)]
pub struct CommandReceiver(std_mpsc::Receiver<Command>);

/// A running partition worker, as the consumer thread sees it.
struct WorkerHandle {
    records: mpsc::Sender<SourceRecord>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// The offset of the next record the partition hands this worker: where the log must
    /// continue.
    next_offset: i64,
    /// Records that did not fit in the worker's queue, in order; the partition is paused
    /// while any are held.
    held: VecDeque<SourceRecord>,
}

/// The consumer's callbacks and the partitions it owns.
pub struct ProjectorContext {
    runtime: Handle,
    shared: Arc<Shared>,
    /// Why the projector must stop, once something made carrying on unsafe.
    fatal: Mutex<Option<String>>,
    topics: HashMap<String, Arc<dyn SourceTopic>>,
    workers: Mutex<HashMap<(String, i32), WorkerHandle>>,
    shutdown: Shutdown,
    queue_capacity: usize,
    handover_timeout: Duration,
}

impl ProjectorContext {
    /// The context of a consumer of `topics`.
    pub fn new(
        runtime: Handle,
        shared: Arc<Shared>,
        topics: &[Arc<dyn SourceTopic>],
        shutdown: Shutdown,
        handover_timeout: Duration,
    ) -> Self {
        let queue_capacity = shared.tuning.batch_max_events.max(1) * 2;
        Self {
            runtime,
            shared,
            fatal: Mutex::new(None),
            topics: topics
                .iter()
                .map(|t| (t.topic().to_owned(), Arc::clone(t)))
                .collect(),
            workers: Mutex::new(HashMap::new()),
            shutdown,
            queue_capacity,
            handover_timeout,
        }
    }

    /// The topics to subscribe to.
    pub fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), WorkerHandle>> {
        // Only this consumer's thread takes the lock; poisoning would need a panic while it
        // is held, after which the map is still consistent.
        self.workers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Claims each assigned partition and starts its worker; returns the assignment with the
    /// stored offsets to start from. Partitions whose claim fails because the process is
    /// stopping are left out.
    fn start_partitions(&self, assigned: &TopicPartitionList) -> TopicPartitionList {
        let mut start = TopicPartitionList::new();
        for element in assigned.elements() {
            let (topic, partition) = (element.topic().to_owned(), element.partition());
            let Some(source) = self.topics.get(&topic).cloned() else {
                tracing::error!(
                    topic,
                    partition,
                    "assigned a partition of a topic this projector does not consume"
                );
                continue;
            };
            let Some((claim, parked)) = self.claim_with_retries(&topic, partition) else {
                continue;
            };
            let (records, receiver) = mpsc::channel(self.queue_capacity);
            let (stop, stop_receiver) = watch::channel(false);
            let setup = WorkerSetup {
                topic: topic.clone(),
                partition,
                claim,
                parked,
                records: receiver,
                stop: stop_receiver,
            };
            let task = source.spawn_worker(&self.runtime, Arc::clone(&self.shared), setup);
            if let Err(error) =
                start.add_partition_offset(&topic, partition, Offset::Offset(claim.next_offset))
            {
                tracing::error!(topic, partition, %error, "cannot set the start offset");
            }
            self.workers().insert(
                (topic, partition),
                WorkerHandle {
                    records,
                    stop,
                    task,
                    next_offset: claim.next_offset,
                    held: VecDeque::new(),
                },
            );
        }
        start
    }

    /// Stops the projector because carrying on would apply the log wrongly: logs `reason`,
    /// reports it on `/readyz`, and keeps it as the process's exit error.
    fn stop_unsafe(&self, reason: String) {
        tracing::error!(reason, "stopping: the log cannot be applied safely");
        self.shared.readiness.not_ready("log", reason.clone());
        self.fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert(reason);
        self.shutdown.trigger();
    }

    /// Claims a partition and loads its parked aggregates, retrying while PostgreSQL is
    /// unavailable; `None` if the process is stopping.
    fn claim_with_retries(
        &self,
        topic: &str,
        partition: i32,
    ) -> Option<(offsets::Claim, HashMap<String, i64>)> {
        let shared = &self.shared;
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = self.runtime.block_on(async {
                let claim = offsets::claim(
                    &shared.pool,
                    &shared.projection,
                    topic,
                    partition,
                    &shared.instance_id,
                )
                .await?;
                let parked =
                    parked::parked_in_partition(&shared.pool, &shared.projection, topic, partition)
                        .await?;
                Ok::<_, sqlx::Error>((claim, parked))
            });
            match attempt {
                Ok(claimed) => return Some(claimed),
                Err(error) => {
                    if self.shutdown.is_requested() {
                        return None;
                    }
                    let message = format!("cannot claim {topic} partition {partition}: {error}");
                    shared.readiness.not_ready("database", message.clone());
                    shared.metrics.transient_failure("claim", &message, backoff);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(shared.tuning.retry_max_backoff);
                }
            }
        }
    }

    /// Tells the workers of `partitions` to finish their batch and waits (bounded) until they
    /// have committed it and published their final markers.
    fn stop_partitions(&self, partitions: &[(String, i32)]) {
        let handles: Vec<WorkerHandle> = {
            let mut workers = self.workers();
            partitions
                .iter()
                .filter_map(|key| workers.remove(key))
                .collect()
        };
        for handle in &handles {
            let _ = handle.stop.send(true);
        }
        let tasks: Vec<JoinHandle<()>> = handles.into_iter().map(|h| h.task).collect();
        let timeout = self.handover_timeout;
        self.runtime.block_on(async {
            let all = async {
                for task in tasks {
                    let _ = task.await;
                }
            };
            if tokio::time::timeout(timeout, all).await.is_err() {
                tracing::warn!(timeout_ms = timeout.as_millis() as u64, "workers did not finish in time; their uncommitted batches will be redone by the next owner");
            }
        });
    }

    /// Stops every worker (shutdown).
    fn stop_all(&self) {
        let all: Vec<(String, i32)> = self.workers().keys().cloned().collect();
        self.stop_partitions(&all);
    }

    fn assigned_count(&self) -> usize {
        self.workers().len()
    }
}

impl ClientContext for ProjectorContext {
    fn stats(&self, statistics: Statistics) {
        if statistics
            .brokers
            .values()
            .any(|broker| broker.state == "UP")
        {
            self.shared.readiness.ready("kafka");
        }
        for (name, topic) in &statistics.topics {
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.hi_offset >= 0 {
                    self.shared
                        .metrics
                        .high_watermark(name, *partition, stats.hi_offset);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "Kafka client error");
        // Most client errors are passing (a broker closed an idle connection) and librdkafka
        // recovers from them by itself; only losing every broker makes the projector unable
        // to work. The statistics callback marks it ready again once a broker is up.
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.shared.readiness.not_ready(
                "kafka",
                format!("no Kafka broker reachable ({reason}); check KAFKA_BOOTSTRAP_SERVERS and the brokers"),
            );
        }
    }
}

impl ConsumerContext for ProjectorContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let start = self.start_partitions(partitions);
                let result = if cooperative {
                    consumer.incremental_assign(&start).map(|_| ())
                } else {
                    consumer.assign(&start)
                };
                if let Err(error) = result {
                    tracing::error!(%error, "cannot assign partitions");
                }
                // librdkafka keeps a partition this member paused (its worker's queue was full)
                // paused when the partition is assigned to it again; the new worker's queue is
                // empty, so the partition must start unpaused or it would never be read.
                if let Err(error) = consumer.resume(&start) {
                    tracing::error!(%error, "cannot resume the assigned partitions");
                }
                self.shared.readiness.ready("startup");
                self.shared.readiness.ready("kafka");
                self.shared
                    .metrics
                    .rebalanced("assign", start.count(), self.assigned_count());
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let revoked: Vec<(String, i32)> = partitions
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                self.stop_partitions(&revoked);
                let result = if cooperative {
                    consumer.incremental_unassign(partitions).map(|_| ())
                } else {
                    consumer.unassign()
                };
                if let Err(error) = result {
                    tracing::error!(%error, "cannot unassign partitions");
                }
                self.shared
                    .metrics
                    .rebalanced("revoke", revoked.len(), self.assigned_count());
            }
            other => {
                tracing::error!(error = ?other, "rebalance failed; dropping the assignment");
                let all: Vec<(String, i32)> = self.workers().keys().cloned().collect();
                self.stop_partitions(&all);
                let _ = consumer.unassign();
            }
        }
    }
}

/// The consumer thread: polls, routes, commits group offsets, and leaves the group cleanly.
pub struct ConsumerThread {
    consumer: BaseConsumer<ProjectorContext>,
    commands: CommandReceiver,
}

impl ConsumerThread {
    /// A thread body for `consumer`, already subscribed.
    pub fn new(consumer: BaseConsumer<ProjectorContext>, commands: CommandReceiver) -> Self {
        Self { consumer, commands }
    }

    /// Runs until shutdown is requested, then stops the workers, commits their last offsets
    /// to the group and leaves it. Fails with the reason when the projector stopped because
    /// the log cannot be applied safely (see [`crate::continuity`]).
    pub fn run(self) -> anyhow::Result<()> {
        let shutdown = self.consumer.context().shutdown.clone();
        while !shutdown.is_requested() {
            self.serve_commands();
            self.release_held();
            match self.consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(message)) => self.route(SourceRecord::from_message(&message)),
                Some(Err(
                    error @ KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset),
                )) => self.stop_contradicted(&error),
                Some(Err(error)) => {
                    self.consumer.context().shared.metrics.transient_failure(
                        "poll",
                        &error.to_string(),
                        Duration::ZERO,
                    );
                }
            }
        }
        tracing::info!("stopping: finishing in-flight batches");
        self.consumer.context().stop_all();
        self.serve_commands_sync();
        self.consumer.unsubscribe();
        tracing::info!("left the consumer group");
        let fatal = self
            .consumer
            .context()
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match fatal {
            Some(reason) => Err(anyhow::anyhow!(reason)),
            None => Ok(()),
        }
    }

    /// Stops the projector because the broker no longer holds an offset it fetches: finds
    /// which partition's log contradicts where its worker continues, to name it and the
    /// offsets (the fetch error names neither).
    fn stop_contradicted(&self, error: &KafkaError) {
        let context = self.consumer.context();
        let positions: Vec<(String, i32, i64)> = context
            .workers()
            .iter()
            .map(|((topic, partition), worker)| (topic.clone(), *partition, worker.next_offset))
            .collect();
        context.stop_unsafe(continuity::stop_reason(
            &self.consumer,
            &positions,
            &error.to_string(),
        ));
    }

    fn route(&self, record: SourceRecord) {
        let context = self.consumer.context();
        let key = (record.topic.clone(), record.partition);
        let mut workers = context.workers();
        let Some(worker) = workers.get_mut(&key) else {
            tracing::warn!(
                topic = key.0,
                partition = key.1,
                offset = record.offset,
                "record of a partition without a worker; it will be read again by the partition's owner"
            );
            return;
        };
        worker.next_offset = record.offset + 1;
        if !worker.held.is_empty() {
            worker.held.push_back(record);
            return;
        }
        match worker.records.try_send(record) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(record)) => {
                // Wait for room for a whole batch, not one record, so that the worker and the
                // consumer do not hand over one record at a time while the other workers run dry.
                let batch = (worker.records.max_capacity() / 2).max(1);
                let room = context.runtime.block_on(async {
                    tokio::time::timeout(ROOM_WAIT, worker.records.reserve_many(batch)).await
                });
                match room {
                    Ok(Ok(mut permits)) => {
                        if let Some(permit) = permits.next() {
                            permit.send(record);
                        }
                    }
                    // The worker ended meanwhile: its records are the new owner's.
                    Ok(Err(_)) => {}
                    Err(_) => {
                        worker.held.push_back(record);
                        self.set_paused(&key, true);
                    }
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The worker ended (its partition was claimed elsewhere); its records are the
                // new owner's to process.
            }
        }
    }

    /// Moves held records into workers that have room again, resuming their partitions.
    fn release_held(&self) {
        let context = self.consumer.context();
        let mut resumed = Vec::new();
        {
            let mut workers = context.workers();
            for (key, worker) in workers.iter_mut().filter(|(_, w)| !w.held.is_empty()) {
                while let Some(record) = worker.held.pop_front() {
                    match worker.records.try_send(record) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(record)) => {
                            worker.held.push_front(record);
                            break;
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            worker.held.clear();
                        }
                    }
                }
                if worker.held.is_empty() {
                    resumed.push(key.clone());
                }
            }
        }
        for key in resumed {
            self.set_paused(&key, false);
        }
    }

    fn set_paused(&self, (topic, partition): &(String, i32), paused: bool) {
        let mut list = TopicPartitionList::new();
        list.add_partition(topic, *partition);
        let result = if paused {
            self.consumer.pause(&list)
        } else {
            self.consumer.resume(&list)
        };
        if let Err(error) = result {
            tracing::warn!(topic, partition, paused, %error, "cannot change the partition's paused state");
        }
    }

    fn serve_commands(&self) {
        while let Ok(command) = self.commands.0.try_recv() {
            self.commit(command, CommitMode::Async);
        }
    }

    fn serve_commands_sync(&self) {
        while let Ok(command) = self.commands.0.try_recv() {
            self.commit(command, CommitMode::Sync);
        }
    }

    fn commit(&self, command: Command, mode: CommitMode) {
        let Command::Commit {
            topic,
            partition,
            next_offset,
        } = command;
        let mut list = TopicPartitionList::new();
        if list
            .add_partition_offset(&topic, partition, Offset::Offset(next_offset))
            .is_ok()
            && let Err(error) = self.consumer.commit(&list, mode)
        {
            // The group offset is informational (lag tools, autoscaling); PostgreSQL holds the
            // offset that counts, so a refused group commit is only worth a debug line.
            tracing::debug!(topic, partition, next_offset, %error, "group offset commit refused");
        }
    }
}
