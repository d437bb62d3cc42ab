//! One partition's worker: collects records into batches bounded by size and time, plans and
//! commits each batch exactly once, retries what can be retried, and reports what happened.
//!
//! A worker exists from the moment its partition is assigned (and claimed) until it is
//! revoked or the process stops. Partitions are processed concurrently, each by its own worker
//! and strictly in order. A batch that fails for a transient reason (PostgreSQL unreachable, a
//! serialization failure) is retried with capped exponential backoff and never skipped; the
//! offset moves only with the batch. A batch refused because another worker claimed the
//! partition ends the worker: the partition is someone else's now.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPool;
use tokio::sync::{mpsc, watch};
use tributary_domain::Aggregate;
use tributary_runtime::clock::unix_millis;
use tributary_runtime::http::Readiness;
use tributary_schemas::Codec;

use crate::apply::{self, BatchTarget, CommitOutcome};
use crate::consumer::ConsumerCommands;
use crate::dead_letters::DeadLetterPublisher;
use crate::markers::Markers;
use crate::metrics::{BatchCommitted, ProjectorMetrics};
use crate::plan::{self, Plan};
use crate::read_model::ReadModel;
use tributary_runtime::kafka::SourceRecord;
use tributary_store::offsets;
use tributary_store::offsets::{Claim, ClaimedPartition};
use tributary_store::snapshot::{self, LoadError};

/// What every worker of a process shares.
#[derive(Debug)]
pub struct Shared {
    /// Projection name.
    pub projection: String,
    /// This process, as recorded in the offset store.
    pub instance_id: String,
    /// The database.
    pub pool: PgPool,
    /// Decoder of event values.
    pub codec: Codec,
    /// Metrics and the log lines that go with them.
    pub metrics: Arc<ProjectorMetrics>,
    /// Dead-letter producer.
    pub dead_letters: DeadLetterPublisher,
    /// Marker publisher.
    pub markers: Markers,
    /// `/readyz` state.
    pub readiness: Readiness,
    /// Requests to the consumer thread (Kafka offset commits).
    pub consumer: ConsumerCommands,
    /// LISTEN/NOTIFY channel announcing commits.
    pub notify_channel: String,
    /// Batch bounds and retry settings.
    pub tuning: Tuning,
}

/// Batch bounds and retry settings.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Most records per batch.
    pub batch_max_events: usize,
    /// Longest wait for more records after a batch's first.
    pub batch_max_wait: Duration,
    /// Command IDs kept per aggregate.
    pub recent_commands: usize,
    /// Longest pause between retries.
    pub retry_max_backoff: Duration,
}

/// What a worker starts with.
#[derive(Debug)]
pub struct WorkerSetup {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// The claim made on assignment.
    pub claim: Claim,
    /// Aggregates parked in this partition (aggregate → offset of the first failure).
    pub parked: HashMap<String, i64>,
    /// Records routed to this partition, in order.
    pub records: mpsc::Receiver<SourceRecord>,
    /// Becomes `true` when the worker must finish its batch and stop.
    pub stop: watch::Receiver<bool>,
}

/// How a batch ended.
enum BatchEnd {
    Committed,
    Fenced,
    Abandoned,
}

/// A batch attempt failed in a way that is retried.
#[derive(Debug, thiserror::Error)]
enum Retry {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    State(String),
    #[error("dead-letter topic: {0}")]
    DeadLetters(#[from] rdkafka::error::KafkaError),
    #[error(
        "the database refused the batch for its data but accepted every change on its own: {0}"
    )]
    Unattributable(String),
}

impl From<LoadError> for Retry {
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::Database(error) => Retry::Database(error),
            state @ LoadError::State { .. } => Retry::State(state.to_string()),
        }
    }
}

/// The worker of one partition whose events feed read model `R`.
pub struct Worker<R: ReadModel> {
    shared: Arc<Shared>,
    read_model: Arc<R>,
    setup: WorkerSetup,
}

impl<R: ReadModel> Worker<R> {
    /// A worker for `setup`.
    pub fn new(shared: Arc<Shared>, read_model: Arc<R>, setup: WorkerSetup) -> Self {
        Self {
            shared,
            read_model,
            setup,
        }
    }

    /// Runs until the partition is revoked, the process stops, or another worker claims the
    /// partition; then publishes the partition's final marker.
    pub async fn run(mut self) {
        let (topic, partition) = (self.setup.topic.clone(), self.setup.partition);
        tracing::info!(
            topic,
            partition,
            next_offset = self.setup.claim.next_offset,
            epoch = self.setup.claim.epoch,
            "partition claimed"
        );
        let claimed = self.claimed();
        self.shared.metrics.partition_claimed(&claimed);
        loop {
            let (records, stopping, first_arrived) = self.collect().await;
            if !records.is_empty() {
                match self.process(records, first_arrived).await {
                    BatchEnd::Committed => {}
                    BatchEnd::Abandoned => break,
                    BatchEnd::Fenced => {
                        // The new owner's markers are the truth now; ours would be older.
                        self.shared.markers.forget(&claimed);
                        self.shared.metrics.partition_released(&claimed);
                        tracing::info!(topic, partition, "partition lost to another worker");
                        return;
                    }
                }
                if self.setup.records.is_empty() {
                    self.shared.markers.flush(&claimed);
                }
            }
            if stopping {
                break;
            }
        }
        self.shared.markers.flush_and_wait(&claimed).await;
        self.shared.metrics.partition_released(&claimed);
        tracing::info!(
            topic,
            partition,
            next_offset = self.setup.claim.next_offset,
            "partition released"
        );
    }

    /// The next batch: records until the size bound, or until the time bound after the
    /// first; whether the worker must stop after it; and when its first record arrived.
    async fn collect(&mut self) -> (Vec<SourceRecord>, bool, Instant) {
        let tuning = &self.shared.tuning;
        let mut batch = Vec::new();
        let stop = &mut self.setup.stop;
        let first = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return (batch, true, Instant::now()),
            record = self.setup.records.recv() => record,
        };
        let first_arrived = Instant::now();
        let Some(first) = first else {
            return (batch, true, first_arrived);
        };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + tuning.batch_max_wait;
        while batch.len() < tuning.batch_max_events {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => return (batch, true, first_arrived),
                record = self.setup.records.recv() => match record {
                    Some(record) => batch.push(record),
                    None => return (batch, true, first_arrived),
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        (batch, false, first_arrived)
    }

    /// Commits one batch, retrying transient failures until it commits, is fenced, or the
    /// process stops.
    async fn process(&mut self, mut records: Vec<SourceRecord>, started: Instant) -> BatchEnd {
        let before = records.len();
        records.retain(|r| r.offset >= self.setup.claim.next_offset);
        self.shared.metrics.skipped(
            &self.setup.topic,
            "already_committed",
            before - records.len(),
        );
        let Some(last) = records.last() else {
            return BatchEnd::Committed;
        };
        let next_offset = last.offset + 1;
        let newest_ms = last.timestamp_ms;
        let mut sent_dead_letters = HashSet::new();
        let mut backoff = Duration::from_millis(100);
        loop {
            match self
                .attempt(&records, next_offset, &mut sent_dead_letters)
                .await
            {
                Ok(Some((plan, transaction))) => {
                    self.shared.readiness.ready("database");
                    self.report(
                        &records,
                        &plan,
                        next_offset,
                        started,
                        transaction,
                        newest_ms,
                    );
                    return BatchEnd::Committed;
                }
                Ok(None) => return BatchEnd::Fenced,
                Err(error) => {
                    let message = error.to_string();
                    self.shared.readiness.not_ready(
                        "database",
                        format!(
                            "batch of {} partition {} cannot be committed: {message}",
                            self.setup.topic, self.setup.partition
                        ),
                    );
                    self.shared
                        .metrics
                        .transient_failure("commit", &message, backoff);
                    tokio::select! {
                        biased;
                        _ = self.setup.stop.wait_for(|stop| *stop) => return BatchEnd::Abandoned,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.shared.tuning.retry_max_backoff);
                }
            }
        }
    }

    /// One attempt: load, plan, dead-letter, commit. `Ok(None)` when fenced.
    async fn attempt(
        &mut self,
        records: &[SourceRecord],
        next_offset: i64,
        sent_dead_letters: &mut HashSet<usize>,
    ) -> Result<Option<(Plan<R::Aggregate>, Duration)>, Retry> {
        let shared = Arc::clone(&self.shared);
        let aggregate_type = <R::Aggregate as Aggregate>::TYPE;
        let ids = plan::aggregate_ids(records);
        let stored =
            snapshot::load_aggregates::<R::Aggregate>(&shared.pool, aggregate_type, &ids).await?;
        let mut parked = self.setup.parked.clone();
        let keep = shared.tuning.recent_commands;
        let mut plan = plan::plan(&shared.codec, records, &stored, &mut parked, keep);
        let target = BatchTarget {
            projection: &shared.projection,
            aggregate_type,
            topic: &self.setup.topic,
            partition: self.setup.partition,
            claim: self.setup.claim,
            next_offset,
            notify_channel: &shared.notify_channel,
        };
        loop {
            self.send_dead_letters(records, &plan, sent_dead_letters)
                .await?;
            let started = Instant::now();
            match apply::commit(&shared.pool, &target, self.read_model.as_ref(), &plan).await {
                Ok(CommitOutcome::Committed) => {
                    let transaction = started.elapsed();
                    self.setup.parked = parked;
                    self.setup.claim.next_offset = next_offset;
                    return Ok(Some((plan, transaction)));
                }
                Ok(CommitOutcome::Fenced) => {
                    // The refused update may be the retry of a commit that succeeded but whose
                    // acknowledgement was lost with the connection: then the row still has our
                    // epoch and already sits at this batch's end.
                    let holder = offsets::holder(
                        &shared.pool,
                        &shared.projection,
                        &self.setup.topic,
                        self.setup.partition,
                    )
                    .await?;
                    let ours = holder.is_some_and(|h| {
                        h.epoch == self.setup.claim.epoch && h.next_offset == next_offset
                    });
                    if ours {
                        tracing::info!(
                            topic = self.setup.topic,
                            partition = self.setup.partition,
                            next_offset,
                            "the batch had committed before its acknowledgement was lost"
                        );
                        self.setup.parked = parked;
                        self.setup.claim.next_offset = next_offset;
                        return Ok(Some((plan, started.elapsed())));
                    }
                    self.report_fenced().await;
                    return Ok(None);
                }
                Err(error)
                    if tributary_store::database::classify(&error)
                        == tributary_store::database::FailureKind::EventFault =>
                {
                    let faulty = apply::find_faulty_event(
                        &shared.pool,
                        &target,
                        self.read_model.as_ref(),
                        &plan,
                        keep,
                    )
                    .await?;
                    let Some(faulty) = faulty else {
                        return Err(Retry::Unattributable(error.to_string()));
                    };
                    plan.remove_faulty(&faulty, &mut parked, keep);
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Publishes the plan's dead letters not yet published for this batch.
    async fn send_dead_letters(
        &self,
        records: &[SourceRecord],
        plan: &Plan<R::Aggregate>,
        sent: &mut HashSet<usize>,
    ) -> Result<(), Retry> {
        let new: Vec<_> = plan
            .dead_letters
            .iter()
            .filter(|letter| !sent.contains(&letter.index))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        self.shared.dead_letters.publish(records, &new).await?;
        for letter in new {
            sent.insert(letter.index);
            let record = &records[letter.index];
            self.shared.metrics.dead_lettered(
                &record.topic,
                record.partition,
                record.offset,
                letter.reason,
                &letter.error,
            );
        }
        Ok(())
    }

    async fn report_fenced(&self) {
        let holder = offsets::holder(
            &self.shared.pool,
            &self.shared.projection,
            &self.setup.topic,
            self.setup.partition,
        )
        .await
        .ok()
        .flatten()
        .map(|h| format!("{} (epoch {}, offset {})", h.owner, h.epoch, h.next_offset))
        .unwrap_or_else(|| "unknown".to_owned());
        self.shared.metrics.stale_commit_refused(
            &self.setup.topic,
            self.setup.partition,
            self.setup.claim.epoch,
            &holder,
        );
    }

    /// The partition as this worker's claim holds it.
    fn claimed(&self) -> ClaimedPartition {
        ClaimedPartition {
            topic: self.setup.topic.clone(),
            partition: self.setup.partition,
            epoch: self.setup.claim.epoch,
        }
    }

    fn report(
        &self,
        records: &[SourceRecord],
        plan: &Plan<R::Aggregate>,
        next_offset: i64,
        started: Instant,
        transaction: Duration,
        newest_ms: Option<i64>,
    ) {
        let shared = &self.shared;
        let topic = &self.setup.topic;
        for parked in &plan.newly_parked {
            shared.metrics.aggregate_parked(
                topic,
                &parked.aggregate_id,
                parked.first_offset,
                &parked.reason,
            );
        }
        let mut void: HashMap<&str, usize> = HashMap::new();
        for (_, reason) in &plan.void {
            *void.entry(reason.label()).or_default() += 1;
        }
        for (reason, count) in void {
            shared.metrics.skipped(topic, reason, count);
        }
        let now_ms = unix_millis();
        let age_ms = newest_ms.map(|t| (now_ms - t).max(0)).unwrap_or_default();
        shared.metrics.batch_committed(&BatchCommitted {
            topic,
            partition: self.setup.partition,
            size: records.len(),
            applied: plan.changes.iter().map(|c| c.events.len()).sum(),
            next_offset,
            duration: started.elapsed(),
            transaction,
            age: Duration::from_millis(age_ms as u64),
        });
        shared
            .consumer
            .commit(topic, self.setup.partition, next_offset);
        shared
            .markers
            .committed(&self.claimed(), next_offset, now_ms);
    }
}
