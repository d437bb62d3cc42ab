//! One owned partition of the commands topic: the single writer of its aggregates.
//!
//! On assignment the partition rebuilds its books — the projector's snapshot of each
//! aggregate type plus the events written after it — and then handles its commands one at a
//! time, in order:
//! 1. a command whose ID the book already holds is answered with its first outcome;
//! 2. otherwise the domain decides on the book's state;
//! 3. an event is written as one record to the aggregate's events partition (the same
//!    partition number), carrying the version it must have;
//!    A refusal is written too (the domain's refusal event, or `CommandRefused`), so every
//!    decision the domain makes has its place in the log;
//! 4. the partition reads the log back through that record: only if the record is the valid
//!    one at its version (the version rule) is the command accepted or refused as decided; if
//!    another writer got that version first, the command is decided again on the state the log
//!    now shows;
//! 5. the reply goes to the gateway instance waiting for it, and only then is the command's
//!    offset committed, so a crash repeats a command, whose ID then finds its first outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use tributary_projector::plan::RecentCommand;
use tributary_projector::record::SourceRecord;
use tributary_projector::snapshot::LoadError;
use tributary_runtime::clock::unix_millis;
use tributary_runtime::partition_for_key;
use tributary_schemas::headers::{EventHeaders, REPLY_TO};
use tributary_schemas::protocol::{
    CommandEnvelope, CommandOutcome, CommandReply, EventCoordinates,
};

use super::book::{Book, Decided};
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
    async fn handle(&mut self, record: &SourceRecord) -> anyhow::Result<()> {
        PartitionProcessor::handle(self, record).await?;
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
                keep_commands: shared.keep_commands,
            };
            let (book, start) = kind.load(source).await?;
            starts.insert(topic.clone(), start);
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
        let codec = self.shared.codec.clone();
        let envelope: CommandEnvelope = match record
            .value
            .as_deref()
            .map(|v| codec.decode_record(v))
        {
            Some(Ok(envelope)) => envelope,
            Some(Err(error)) => {
                tracing::error!(partition = self.partition, offset = record.offset, %error, "commands record is not a command envelope; skipped");
                return Ok(None);
            }
            None => {
                tracing::error!(
                    partition = self.partition,
                    offset = record.offset,
                    "commands record has no value; skipped"
                );
                return Ok(None);
            }
        };
        let started = std::time::Instant::now();
        let handled = self.decide_and_write(&envelope).await?;
        self.send_reply(&envelope, &handled.reply).await?;
        self.shared.metrics.command_answered(
            &envelope.aggregate_type,
            handled.reply.outcome == CommandOutcome::Accepted,
            handled.duplicate,
            handled.conflicts,
            started.elapsed(),
        );
        Ok(Some(handled))
    }

    async fn decide_and_write(
        &mut self,
        envelope: &CommandEnvelope,
    ) -> Result<Handled, PartitionError> {
        let Some(topic) = self.topics.get(&envelope.aggregate_type).cloned() else {
            let reason = format!("unknown aggregate type {:?}", envelope.aggregate_type);
            return Ok(refused(envelope, reason, 0));
        };
        for conflicts in 0..MAX_ATTEMPTS {
            let book = &self.books[&topic];
            let decided = book.decide(
                &self.shared.codec,
                &envelope.aggregate_id,
                &envelope.command_id,
                &envelope.command,
            );
            let decided = match decided {
                Ok(decided) => decided,
                Err(error) => {
                    let reason = format!("the command cannot be decoded: {error}");
                    return Ok(refused(envelope, reason, conflicts));
                }
            };
            match decided {
                Decided::Duplicate(previous) => {
                    let reply = self.reply_for(envelope, &topic, &previous);
                    return Ok(Handled {
                        reply,
                        duplicate: true,
                        conflicts,
                    });
                }
                Decided::Unchanged { version } => {
                    let reply = reply(envelope, CommandOutcome::Accepted, None, None, version);
                    return Ok(Handled {
                        reply,
                        duplicate: false,
                        conflicts,
                    });
                }
                Decided::Write(write) => {
                    let offset = self
                        .write_event(
                            envelope,
                            &topic,
                            &write.value,
                            write.event_type,
                            write.version,
                        )
                        .await?;
                    self.tail
                        .read_through(&mut self.books, &self.shared.codec, &topic, offset)
                        .await?;
                    let ours = self.books[&topic]
                        .previous(&envelope.aggregate_id, &envelope.command_id)
                        .filter(|previous| previous.offset == offset);
                    if let Some(ours) = ours {
                        let reply = self.reply_for(envelope, &topic, &ours);
                        return Ok(Handled {
                            reply,
                            duplicate: false,
                            conflicts,
                        });
                    }
                    tracing::warn!(
                        partition = self.partition,
                        aggregate = envelope.aggregate_id,
                        version = write.version,
                        offset,
                        "lost the race for the version to another writer; deciding again"
                    );
                }
            }
        }
        Err(PartitionError::Contended {
            command_id: envelope.command_id.clone(),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The reply for a command whose event is `previous`.
    fn reply_for(
        &self,
        envelope: &CommandEnvelope,
        topic: &str,
        previous: &RecentCommand,
    ) -> CommandReply {
        let event = EventCoordinates {
            topic: topic.to_owned(),
            partition: self.partition,
            offset: previous.offset,
            version: previous.version as i64,
            event_type: previous.event_type.clone(),
        };
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

    async fn write_event(
        &self,
        envelope: &CommandEnvelope,
        topic: &str,
        value: &[u8],
        event_type: &str,
        version: u64,
    ) -> Result<i64, PartitionError> {
        let headers = EventHeaders {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: event_type.to_owned(),
            aggregate_version: version,
            command_id: envelope.command_id.clone(),
            correlation_id: envelope.correlation_id.clone(),
            occurred_at: unix_millis(),
        };
        let pairs = headers.to_pairs();
        let kafka_headers = pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v),
            })
        });
        let record = FutureRecord::to(topic)
            .partition(self.partition)
            .key(&envelope.aggregate_id)
            .payload(value)
            .headers(kafka_headers);
        let delivered = self
            .shared
            .producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(error, _)| error)?;
        Ok(delivered.offset)
    }

    async fn send_reply(
        &self,
        envelope: &CommandEnvelope,
        reply: &CommandReply,
    ) -> Result<(), PartitionError> {
        let Some(reply_to) = &envelope.reply_to else {
            return Ok(());
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
        self.shared
            .producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(error, _)| error)?;
        Ok(())
    }
}

/// A refusal the engine gives before any aggregate decides (an unknown aggregate type, an
/// undecodable command). Nothing is recorded: it does not depend on any state, so a repeat of
/// the command is refused the same way.
fn refused(envelope: &CommandEnvelope, reason: String, conflicts: usize) -> Handled {
    Handled {
        reply: reply(envelope, CommandOutcome::Rejected, Some(reason), None, 0),
        duplicate: false,
        conflicts,
    }
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
        event,
        version: version as i64,
        replied_at: unix_millis(),
    }
}
