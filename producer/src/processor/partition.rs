//! One owned partition of the commands topic: the single writer of its aggregates.
//!
//! On assignment the partition rebuilds its books — the projector's snapshot of each
//! aggregate type plus the events written after it — and then handles its commands in order:
//! 1. a command whose ID the book already holds is answered with its first outcome, and a
//!    saga's step whose cause the aggregate has taken a step for already is answered as a
//!    repeat, without a record (see `StepsTaken`);
//! 2. otherwise the domain decides on the book's state;
//! 3. the decision is written as one record to the aggregate's events partition (the same
//!    partition number), carrying the version it must have — a refusal too (the domain's
//!    refusal event, or `CommandRefused`), so every decision has its place in the log;
//! 4. the partition reads the log back through that record: only if the record is the valid
//!    one at its version (the version rule) is the command accepted or refused as decided; if
//!    another writer got that version first, the command is decided again on the state the log
//!    now shows;
//! 5. the reply goes to the gateway instance waiting for it, and only then is the command's
//!    offset committed, so a crash repeats a command, whose ID then finds its first outcome.
//!
//! A decision that changes nothing (the holder repeating its claim) writes no record, so it
//! has no read-back of its own: the partition reads its events partition through the current
//! end first and decides again, and only an outcome that is still "unchanged" on the log as it
//! is now is accepted — with the aggregate's latest valid record as its consistency token. A
//! zombie's stale book therefore never answers for a log that has moved on.
//!
//! The commands waiting when the partition is free are handled together, in rounds: a round
//! takes the next commands up to the second one of an aggregate already in it, decides each
//! (on independent aggregates, so no decision depends on another's unconfirmed write), writes
//! all their records, and reads back once through the last. One broker round trip then serves
//! a round instead of a command, and a command that lost its race is decided again first in
//! the next round, keeping its aggregate's order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use tributary_runtime::clock::unix_millis;
use tributary_runtime::kafka::SourceRecord;
use tributary_runtime::kafka::enqueue::enqueue;
use tributary_runtime::partition_for_key;
use tributary_schemas::headers::{Cause, EventHeaders, REPLY_TO};
use tributary_schemas::protocol::{
    CommandEnvelope, CommandOutcome, CommandReply, EventCoordinates,
};
use tributary_store::snapshot::LoadError;
use tributary_store::snapshot::RecentCommand;

use super::book::{Book, Decided, EventToWrite};
use super::kinds::BookSource;
use super::log_tail::{LogTail, TailError};
use crate::context::CommandSide;

/// How many times a command is decided again after losing the race for its version before
/// the partition gives up on it (each loss means another writer is active: a zombie that will
/// soon notice it lost the partition).
const MAX_ATTEMPTS: usize = 16;

/// A command could not be handled; the partition stops and the command is redone by the next
/// owner (its offset was not committed).
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// The snapshot could not be read.
    #[error("cannot load the snapshot: {0}")]
    Snapshot(#[from] LoadError),
    /// Kafka failed.
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The log could not be read back.
    #[error(transparent)]
    Tail(#[from] TailError),
    /// A reply could not be encoded (a bug in the reply's shape).
    #[error("cannot encode the reply: {0}")]
    Encode(#[from] tributary_schemas::EncodeError),
    /// The command kept losing the race for its version.
    #[error("command {command_id} lost the race for its version {attempts} times")]
    Contended {
        /// The command.
        command_id: String,
        /// Attempts made.
        attempts: usize,
    },
}

/// Starts a [`PartitionProcessor`] for each owned commands partition.
pub struct ProcessorFactory(pub Arc<CommandSide>);

impl crate::partitioned::HandlerFactory for ProcessorFactory {
    type Handler = PartitionProcessor;

    async fn start(
        &self,
        _topic: &str,
        partition: i32,
        _next_offset: i64,
    ) -> anyhow::Result<PartitionProcessor> {
        Ok(PartitionProcessor::start(Arc::clone(&self.0), partition).await?)
    }
}

impl crate::partitioned::PartitionHandler for PartitionProcessor {
    async fn handle_batch(&mut self, records: &[SourceRecord]) -> anyhow::Result<()> {
        PartitionProcessor::handle_batch(self, records).await?;
        Ok(())
    }
}

/// One owned partition.
pub struct PartitionProcessor {
    shared: Arc<CommandSide>,
    partition: i32,
    /// Books by events topic.
    books: HashMap<String, Box<dyn Book>>,
    /// Events topic by aggregate type.
    topics: HashMap<String, String>,
    tail: LogTail,
}

/// What handling a command did, for metrics and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// The reply sent (or that would be sent, when nobody waits).
    pub reply: CommandReply,
    /// Whether the reply repeats an earlier outcome of the same command ID.
    pub duplicate: bool,
    /// Races lost to another writer before the command got its version.
    pub conflicts: usize,
}

impl PartitionProcessor {
    /// Rebuilds the books of `partition` and follows its events partitions to their ends.
    pub async fn start(shared: Arc<CommandSide>, partition: i32) -> Result<Self, PartitionError> {
        let mut books = HashMap::new();
        let mut topics = HashMap::new();
        let mut starts = HashMap::new();
        for kind in &shared.kinds {
            let topic = shared.topology.events(kind.aggregate_type());
            let source = BookSource {
                pool: &shared.pool,
                projection: &shared.projection,
                topic: &topic,
                partition,
                recent_commands: shared.recent_commands,
            };
            let loaded = kind.load(source).await?;
            starts.insert(topic.clone(), loaded.replay_from);
            let book = loaded.book;
            topics.insert(kind.aggregate_type().to_owned(), topic.clone());
            books.insert(topic, book);
        }
        let group = format!(
            "{}.processor-tail.{}",
            shared.topology.commands(),
            shared.instance_id
        );
        let mut tail = LogTail::new(&shared.kafka, &group, partition, &starts)?;
        tail.catch_up(&mut books, &shared.codec).await?;
        shared.metrics.rebuilt("processor");
        tracing::info!(
            partition,
            ?starts,
            "partition rebuilt from the snapshot and the log"
        );
        Ok(Self {
            shared,
            partition,
            books,
            topics,
            tail,
        })
    }

    /// Handles one command record and sends its reply. `Ok(None)` when the record is not a
    /// command envelope (logged; there is nobody to answer).
    pub async fn handle(
        &mut self,
        record: &SourceRecord,
    ) -> Result<Option<Handled>, PartitionError> {
        Ok(self.handle_batch(std::slice::from_ref(record)).await?.pop())
    }

    /// Handles consecutive command records of the partition and sends their replies, in
    /// rounds that each write one record per aggregate and read them all back at once, so a
    /// round trip to the broker serves many commands. Commands of one aggregate keep their
    /// order: a round ends before a second command of an aggregate already in it. Records
    /// that are not command envelopes are logged and skipped.
    pub async fn handle_batch(
        &mut self,
        records: &[SourceRecord],
    ) -> Result<Vec<Handled>, PartitionError> {
        let started = std::time::Instant::now();
        let mut answered: Vec<(CommandEnvelope, Handled)> = Vec::new();
        let mut pending: VecDeque<Pending> = VecDeque::new();
        for record in records {
            let Some(envelope) = self.envelope(record) else {
                continue;
            };
            if let Some(reason) = self.misplaced(&envelope, record.offset) {
                let handled = refused(&envelope, reason, 0);
                answered.push((envelope, handled));
                continue;
            }
            let cause = match Cause::from_headers(record.header_pairs()) {
                Ok(cause) => cause,
                Err(error) => {
                    let reason = format!("the command's `cause` header is malformed: {error}");
                    let handled = refused(&envelope, reason, 0);
                    answered.push((envelope, handled));
                    continue;
                }
            };
            match self.topics.get(&envelope.aggregate_type).cloned() {
                Some(topic) => pending.push_back(Pending {
                    envelope,
                    cause,
                    topic,
                    conflicts: 0,
                    confirmed: false,
                }),
                None => {
                    let reason = format!("unknown aggregate type {:?}", envelope.aggregate_type);
                    let handled = refused(&envelope, reason, 0);
                    answered.push((envelope, handled));
                }
            }
        }
        while !pending.is_empty() {
            let round = take_round(&mut pending);
            let lost = self.run_round(round, &mut answered).await?;
            for command in lost.into_iter().rev() {
                pending.push_front(command);
            }
        }
        self.send_replies(&answered).await?;
        let elapsed = started.elapsed();
        for (envelope, handled) in &answered {
            self.shared.metrics.command_answered(
                &envelope.aggregate_type,
                handled.reply.outcome == CommandOutcome::Accepted,
                handled.duplicate,
                handled.conflicts,
                elapsed,
            );
        }
        Ok(answered.into_iter().map(|(_, handled)| handled).collect())
    }

    /// The command envelope of a commands record, or `None` (logged) when it is not one.
    fn envelope(&self, record: &SourceRecord) -> Option<CommandEnvelope> {
        let Some(value) = record.value.as_deref() else {
            tracing::error!(
                partition = self.partition,
                offset = record.offset,
                "commands record has no value; skipped"
            );
            return None;
        };
        match self.shared.codec.decode_record(value) {
            Ok(envelope) => Some(envelope),
            Err(error) => {
                tracing::error!(partition = self.partition, offset = record.offset, %error, "commands record is not a command envelope; skipped");
                None
            }
        }
    }

    /// Why `envelope` must not be served here, if its aggregate's key places it on another
    /// partition than this one: the owner of that partition is the aggregate's single writer,
    /// and serving it here too would make two. Such a command came from a producer on another
    /// partitioner than the pipeline's (murmur2, as the Java client's default).
    fn misplaced(&self, envelope: &CommandEnvelope, offset: i64) -> Option<String> {
        let placed = partition_for_key(
            envelope.aggregate_id.as_bytes(),
            self.shared.topology.partitions(),
        );
        if placed == self.partition {
            return None;
        }
        tracing::warn!(
            partition = self.partition,
            offset,
            aggregate = envelope.aggregate_id,
            placed,
            "command on the wrong partition refused"
        );
        Some(format!(
            "the command for {:?} was written to commands partition {} but its key places it on \
             partition {placed}: produce commands with the murmur2 partitioner \
             (librdkafka: partitioner=murmur2_random) keyed by the aggregate ID, or send them \
             through the gateway",
            envelope.aggregate_id, self.partition
        ))
    }

    /// Decides every command of `round` (one per aggregate), writes the records they cause,
    /// reads the log back through them and answers each command whose record is the valid one
    /// at its version. Returns the commands that lost the race for their version, to be
    /// decided again on the state the log now shows.
    async fn run_round(
        &mut self,
        round: Vec<Pending>,
        answered: &mut Vec<(CommandEnvelope, Handled)>,
    ) -> Result<Vec<Pending>, PartitionError> {
        let mut deliveries = Vec::new();
        let mut to_confirm = Vec::new();
        // The aggregate (`<type> <id>`) each command ID of the round is for: two commands of
        // a round are decided before either is read back, so the books cannot tell yet.
        let mut in_round: HashMap<String, String> = HashMap::new();
        for command in round {
            let envelope = &command.envelope;
            let owner = format!("{} {}", envelope.aggregate_type, envelope.aggregate_id);
            if let Some(first) = in_round.get(&envelope.command_id).filter(|f| **f != owner) {
                let handled = reused(envelope, first.clone(), command.conflicts);
                answered.push((command.envelope, handled));
                continue;
            }
            in_round.insert(envelope.command_id.clone(), owner);
            match self.decide(&command) {
                Step::Answer(handled) => answered.push((command.envelope, handled)),
                Step::Write(write) => {
                    let delivery = self.enqueue_event(&command, &write).await?;
                    deliveries.push((command, write.version, delivery));
                }
                Step::Confirm => to_confirm.push(command),
            }
        }
        let mut written = Vec::new();
        let mut read_through: HashMap<String, i64> = HashMap::new();
        for (command, version, delivery) in deliveries {
            let offset = delivered_offset(delivery).await?;
            let through = read_through.entry(command.topic.clone()).or_insert(offset);
            *through = (*through).max(offset);
            written.push((command, version, offset));
        }
        for (topic, offset) in &read_through {
            self.tail
                .read_through(&mut self.books, &self.shared.codec, topic, *offset)
                .await?;
        }
        let mut lost = self.confirm_against_the_log(to_confirm).await?;
        for (mut command, version, offset) in written {
            let ours = self.books[&command.topic]
                .previous(&command.envelope.aggregate_id, &command.envelope.command_id)
                .filter(|previous| previous.offset == offset);
            if let Some(ours) = ours {
                let reply = self.reply_for(&command.envelope, &command.topic, &ours);
                let handled = Handled {
                    reply,
                    duplicate: false,
                    conflicts: command.conflicts,
                };
                answered.push((command.envelope, handled));
                continue;
            }
            tracing::warn!(
                partition = self.partition,
                aggregate = command.envelope.aggregate_id,
                version,
                offset,
                "lost the race for the version to another writer; deciding again"
            );
            command.conflicts += 1;
            // What the log shows has changed: an "unchanged" outcome must be confirmed again.
            command.confirmed = false;
            if command.conflicts >= MAX_ATTEMPTS {
                return Err(PartitionError::Contended {
                    command_id: command.envelope.command_id,
                    attempts: MAX_ATTEMPTS,
                });
            }
            lost.push(command);
        }
        Ok(lost)
    }

    /// Reads the events partitions of `commands` (decided "unchanged") through their current
    /// ends and returns them to be decided again on what the log shows now, as confirmed.
    async fn confirm_against_the_log(
        &mut self,
        mut commands: Vec<Pending>,
    ) -> Result<Vec<Pending>, PartitionError> {
        let topics: std::collections::BTreeSet<String> = commands
            .iter()
            .map(|command| command.topic.clone())
            .collect();
        for topic in topics {
            self.tail
                .catch_up_topic(&mut self.books, &self.shared.codec, &topic)
                .await?;
        }
        for command in &mut commands {
            command.confirmed = true;
        }
        Ok(commands)
    }

    /// What the domain decides about `command` on the book's state: an answer now, a record
    /// to write and read back, or a confirmation against the log first.
    fn decide(&self, command: &Pending) -> Step {
        let envelope = &command.envelope;
        if let Some(owner) = self.reused_for(envelope) {
            return Step::Answer(reused(envelope, owner, command.conflicts));
        }
        let decided = self.books[&command.topic].decide(
            &self.shared.codec,
            &envelope.aggregate_id,
            &envelope.command_id,
            command.cause.as_ref(),
            &envelope.command,
        );
        let answer = |reply, duplicate| {
            Step::Answer(Handled {
                reply,
                duplicate,
                conflicts: command.conflicts,
            })
        };
        match decided {
            Err(error) => {
                let reason = format!("the command cannot be decoded: {error}");
                Step::Answer(refused(envelope, reason, command.conflicts))
            }
            Ok(Decided::Duplicate(previous)) => {
                answer(self.reply_for(envelope, &command.topic, &previous), true)
            }
            // Accepted as a repeat whatever the first decision was: nobody waits for a saga's
            // step, and the first decision's record is in the log for the saga to react to.
            Ok(Decided::StepTaken { version, latest }) => {
                tracing::debug!(
                    partition = self.partition,
                    aggregate = envelope.aggregate_id,
                    command_id = envelope.command_id,
                    ?latest,
                    "saga step repeated; it was taken already"
                );
                answer(
                    reply(envelope, CommandOutcome::Accepted, None, None, version),
                    true,
                )
            }
            Ok(Decided::Unchanged { .. }) if !command.confirmed => Step::Confirm,
            Ok(Decided::Unchanged { version }) => {
                let latest = self.books[&command.topic].latest(&envelope.aggregate_id);
                let token = latest.map(|latest| self.coordinates(&command.topic, &latest));
                answer(
                    reply(envelope, CommandOutcome::Accepted, None, token, version),
                    false,
                )
            }
            Ok(Decided::Write(write)) => Step::Write(write),
            Ok(Decided::Blocked(reason)) => {
                self.shared
                    .metrics
                    .command_blocked(&envelope.aggregate_type);
                Step::Answer(refused(envelope, reason, command.conflicts))
            }
        }
    }

    /// The other aggregate (`<type> <id>`) whose recent commands include `envelope`'s command
    /// ID, if one of this partition's does: a command ID is bound to the aggregate it was
    /// first used for.
    fn reused_for(&self, envelope: &CommandEnvelope) -> Option<String> {
        self.books.values().find_map(|book| {
            let owner = book.aggregate_of(&envelope.command_id)?;
            let same =
                book.aggregate_type() == envelope.aggregate_type && owner == envelope.aggregate_id;
            (!same).then(|| format!("{} {owner}", book.aggregate_type()))
        })
    }

    /// Where the event of `recent` is.
    fn coordinates(&self, topic: &str, recent: &RecentCommand) -> EventCoordinates {
        EventCoordinates {
            topic: topic.to_owned(),
            partition: self.partition,
            offset: recent.offset,
            version: recent.version as i64,
            event_type: recent.event_type.clone(),
        }
    }

    /// The reply for a command whose event is `previous`.
    fn reply_for(
        &self,
        envelope: &CommandEnvelope,
        topic: &str,
        previous: &RecentCommand,
    ) -> CommandReply {
        let event = self.coordinates(topic, previous);
        let outcome = if previous.refusal.is_some() {
            CommandOutcome::Rejected
        } else {
            CommandOutcome::Accepted
        };
        reply(
            envelope,
            outcome,
            previous.refusal.clone(),
            Some(event),
            previous.version,
        )
    }

    /// Hands the record `write` causes to the producer; the returned future resolves when
    /// the broker has acknowledged it.
    async fn enqueue_event(
        &self,
        command: &Pending,
        write: &EventToWrite,
    ) -> Result<DeliveryFuture, PartitionError> {
        let envelope = &command.envelope;
        let headers = EventHeaders {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: write.event_type.to_owned(),
            aggregate_version: write.version,
            command_id: envelope.command_id.clone(),
            correlation_id: envelope.correlation_id.clone(),
            occurred_at: unix_millis(),
            cause: command.cause.clone(),
        };
        let pairs = headers.to_pairs();
        let kafka_headers = pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v),
            })
        });
        let record = FutureRecord::to(&command.topic)
            .partition(self.partition)
            .key(&envelope.aggregate_id)
            .payload(&write.value)
            .headers(kafka_headers);
        enqueue(&self.shared.producer, record, enqueue_deadline())
            .await
            .map_err(PartitionError::Kafka)
    }

    /// Sends the replies of `answered` to the gateway instances waiting for them, all at
    /// once, and waits until the broker has every one.
    async fn send_replies(
        &self,
        answered: &[(CommandEnvelope, Handled)],
    ) -> Result<(), PartitionError> {
        let mut deliveries = Vec::new();
        for (envelope, handled) in answered {
            if let Some(delivery) = self.enqueue_reply(envelope, &handled.reply).await? {
                deliveries.push(delivery);
            }
        }
        for delivery in deliveries {
            delivered_offset(delivery).await?;
        }
        Ok(())
    }

    /// Hands the reply to the producer, unless nobody waits for it.
    async fn enqueue_reply(
        &self,
        envelope: &CommandEnvelope,
        reply: &CommandReply,
    ) -> Result<Option<DeliveryFuture>, PartitionError> {
        let Some(reply_to) = &envelope.reply_to else {
            return Ok(None);
        };
        let value = self.shared.codec.encode(reply)?;
        let topic = self.shared.topology.command_replies();
        let partition = partition_for_key(reply_to.as_bytes(), self.shared.topology.partitions());
        let headers = OwnedHeaders::new().insert(Header {
            key: REPLY_TO,
            value: Some(reply_to.as_bytes()),
        });
        let record = FutureRecord::to(&topic)
            .partition(partition)
            .key(reply_to)
            .payload(&value)
            .headers(headers);
        enqueue(&self.shared.producer, record, enqueue_deadline())
            .await
            .map(Some)
            .map_err(PartitionError::Kafka)
    }
}

/// Longest a record waits for room in the producer's queue before the round fails (and is
/// retried from the log like any other broker error).
const ENQUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Until when a record enqueued now may wait for room: [`ENQUEUE_WAIT`] from now.
fn enqueue_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + ENQUEUE_WAIT
}

/// A command of a batch not answered yet.
struct Pending {
    envelope: CommandEnvelope,
    /// For a saga's step, the event it reacts to (the `cause` header).
    cause: Option<Cause>,
    /// The events topic of its aggregate type.
    topic: String,
    /// Races for a version it has lost so far.
    conflicts: usize,
    /// Whether the book has read the log through its end since the command was found to
    /// change nothing.
    confirmed: bool,
}

/// What deciding a command leads to.
enum Step {
    /// The answer is known without writing (a repeat, no change, an engine refusal).
    Answer(Handled),
    /// A record to write and read back before answering.
    Write(EventToWrite),
    /// Nothing to write: decide again once the book has read the log through its end.
    Confirm,
}

/// Takes the longest prefix of `pending` with at most one command per aggregate.
fn take_round(pending: &mut VecDeque<Pending>) -> Vec<Pending> {
    let mut aggregates = HashSet::new();
    let mut round = Vec::new();
    while let Some(next) = pending.front() {
        if !aggregates.insert((next.topic.clone(), next.envelope.aggregate_id.clone())) {
            break;
        }
        round.extend(pending.pop_front());
    }
    round
}

/// The offset the broker acknowledged for a record handed to the producer.
async fn delivered_offset(delivery: DeliveryFuture) -> Result<i64, PartitionError> {
    match delivery.await {
        Ok(Ok(delivered)) => Ok(delivered.offset),
        Ok(Err((error, _))) => Err(PartitionError::Kafka(error)),
        Err(_) => Err(PartitionError::Kafka(rdkafka::error::KafkaError::Canceled)),
    }
}

/// A refusal the engine gives without the domain deciding (an unknown aggregate type, an
/// undecodable command, a blocked aggregate). Nothing is recorded: no version is decided, so a
/// repeat of the command is refused the same way until what blocks it is fixed.
fn refused(envelope: &CommandEnvelope, reason: String, conflicts: usize) -> Handled {
    Handled {
        reply: reply(envelope, CommandOutcome::Rejected, Some(reason), None, 0),
        duplicate: false,
        conflicts,
    }
}

/// The refusal of a command whose ID was used for `owner` (`<type> <id>`) before. Nothing is
/// recorded, like any engine refusal.
fn reused(envelope: &CommandEnvelope, owner: String, conflicts: usize) -> Handled {
    let reason = format!(
        "command ID {} was already used for {owner}; a command ID names one command for one \
         aggregate: send this command with a new command ID",
        envelope.command_id
    );
    let mut handled = refused(envelope, reason, conflicts);
    handled.reply.reused_for = Some(owner);
    handled
}

fn reply(
    envelope: &CommandEnvelope,
    outcome: CommandOutcome,
    reason: Option<String>,
    event: Option<EventCoordinates>,
    version: u64,
) -> CommandReply {
    CommandReply {
        command_id: envelope.command_id.clone(),
        aggregate_type: envelope.aggregate_type.clone(),
        aggregate_id: envelope.aggregate_id.clone(),
        outcome,
        reason,
        reused_for: None,
        event,
        version: version as i64,
        replied_at: unix_millis(),
    }
}
