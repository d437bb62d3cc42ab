//! Records of the pipeline itself, independent of any domain: the envelope a command travels
//! in, the reply its issuer waits for, the refusal recorded in an aggregate's log, and the
//! marker that says how far a projection got.

use serde::{Deserialize, Serialize};

use crate::avro_record;

/// A command on its way to the processor that owns its aggregate.
///
/// The command itself travels as framed bytes (`command`), so command schemas evolve on
/// their own and the envelope never needs a new version when a command does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    /// Idempotency key (UUID).
    pub command_id: String,
    /// Shared by everything one external request caused.
    pub correlation_id: String,
    /// Target aggregate type (e.g. `account` in the bank example).
    pub aggregate_type: String,
    /// Target aggregate ID; equal to the record key.
    pub aggregate_id: String,
    /// When it was issued, in milliseconds since the Unix epoch.
    pub issued_at: i64,
    /// Gateway instance waiting for the reply, if any.
    pub reply_to: Option<String>,
    /// When the issuer stops waiting, in milliseconds since the Unix epoch.
    pub deadline: Option<i64>,
    /// The framed command record.
    #[serde(with = "apache_avro::serde::bytes")]
    pub command: Vec<u8>,
}

/// Whether the domain accepted a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommandOutcome {
    /// Accepted: an event was written, or the command changed nothing.
    Accepted,
    /// Rejected by the domain, with a reason.
    Rejected,
}

/// Where an accepted command's event sits in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCoordinates {
    /// Events topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Aggregate version the event created.
    pub version: i64,
    /// Full Avro name of the event.
    pub event_type: String,
}

/// The outcome of one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandReply {
    /// The command this answers.
    pub command_id: String,
    /// Aggregate type.
    pub aggregate_type: String,
    /// Aggregate ID.
    pub aggregate_id: String,
    /// Accepted or rejected.
    pub outcome: CommandOutcome,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// When it was refused because its command ID had been used for another aggregate: that
    /// aggregate, as `<aggregate type> <aggregate ID>`.
    #[serde(default)]
    pub reused_for: Option<String>,
    /// The event it wrote, if any.
    pub event: Option<EventCoordinates>,
    /// Aggregate version after the command.
    pub version: i64,
    /// When the processor decided, in milliseconds since the Unix epoch.
    pub replied_at: i64,
}

/// How far a projection's read tables are committed for one source partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectionMarker {
    /// Projection name.
    pub projection: String,
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// First offset not yet in the read tables.
    pub next_offset: i64,
    /// Commit time, in milliseconds since the Unix epoch.
    pub committed_at: i64,
    /// Epoch of the claim under which the offset was committed; 0 in markers of builds that
    /// did not publish it.
    #[serde(default)]
    pub epoch: i64,
}

impl ProjectionMarker {
    /// Whether this marker is newer than `other` of the same key: markers are ordered by
    /// (epoch, next_offset), so a reader that keeps the newest never goes back, even when a
    /// worker that lost its claim published late.
    pub fn supersedes(&self, other: &ProjectionMarker) -> bool {
        (self.epoch, self.next_offset) > (other.epoch, other.next_offset)
    }

    /// The record key on the compacted markers topic: `projection/topic/partition`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.projection, self.topic, self.partition)
    }
}

/// A command an aggregate refused, recorded as the aggregate's next event.
///
/// Every aggregate's event set includes it, so a refusal is decided by the log like an
/// accepted command: it takes the next version, changes no state, and answers repeats of the
/// command after any restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRefused {
    /// Full Avro name of the refused command.
    pub command_type: String,
    /// Why it was refused.
    pub reason: String,
}

avro_record! {
    CommandRefused => "tributary.protocol.CommandRefused",
    CommandEnvelope => "tributary.protocol.CommandEnvelope",
    CommandReply => "tributary.protocol.CommandReply",
    ProjectionMarker => "tributary.protocol.ProjectionMarker",
}
