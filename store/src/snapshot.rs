//! Reading aggregates back from `aggregate_state`: the projector reads the aggregates of a
//! batch before folding it, and the command side reads a whole partition's aggregates, with
//! the offset they are committed through, to rebuild its state on assignment.
//!
//! A parked aggregate's stored state stops before the event it is parked behind, while the
//! partition's offset moves on past the events dead-lettered behind it; the snapshot
//! therefore names the parked aggregates with that event's offset, and a reader rebuilding
//! from it re-reads their events from there instead of trusting the stale state.
//!
//! The projector writes the table and the command side reads it, so both sides share this one
//! owner of its SQL and its JSON shapes.

use std::collections::{BTreeMap, HashMap};

use clap::Args;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use tributary_domain::{Aggregate, Versioned};
use tributary_schemas::headers::Cause;

/// The dedup window of command IDs: how many of the commands behind an aggregate's latest
/// events are remembered, so that a repeated command is answered with its first outcome.
/// The processor keeps them in memory and the projector stores them in `aggregate_state`,
/// which the processor rebuilds from; both read this one setting, so the window does not
/// shrink when a processor restarts from the snapshot.
#[derive(Debug, Clone, Copy, Args)]
pub struct DedupWindowArgs {
    /// Commands remembered per aggregate (in the processor and in `aggregate_state`) to
    /// answer a repeated command ID with its first outcome.
    #[arg(long, env = "TRIBUTARY_RECENT_COMMANDS", default_value_t = 32)]
    pub recent_commands: usize,
}

/// An aggregate as stored in `aggregate_state`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredAggregate<A> {
    /// State and version.
    pub versioned: Versioned<A>,
    /// The commands that caused its latest events, oldest first.
    pub recent_commands: Vec<RecentCommand>,
    /// The saga steps it has taken.
    pub steps_taken: StepsTaken,
}

/// The saga steps an aggregate has taken: per events partition that sent it steps
/// (`topic/partition`), the position (offset, step) of the latest step's cause.
///
/// Steps from one partition arrive in the order of their causes (see [`Cause`]), so a step
/// whose cause is at or before the remembered position is a repeat, however long ago the
/// first one was: one number per source partition replaces a window of command IDs.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct StepsTaken(BTreeMap<String, (i64, u32)>);

impl StepsTaken {
    /// Notes that the step caused by `cause` was taken.
    pub fn take(&mut self, cause: &Cause) {
        let position = self.0.entry(cause.source()).or_insert(cause.position());
        *position = (*position).max(cause.position());
    }

    /// The position of the latest step taken from `cause`'s partition, when `cause` is at or
    /// before it: the step `cause` asks for was taken already.
    pub fn covering(&self, cause: &Cause) -> Option<(i64, u32)> {
        self.0
            .get(&cause.source())
            .copied()
            .filter(|latest| cause.position() <= *latest)
    }
}

/// A command that caused one of an aggregate's events, with where that event is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecentCommand {
    /// The command's idempotency key.
    pub command_id: String,
    /// The version of the event it caused.
    pub version: u64,
    /// The offset of that event in its partition.
    pub offset: i64,
    /// Full Avro name of that event.
    pub event_type: String,
    /// When the event records a refusal, the reason the command was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

/// Loading aggregate states failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored state does not fit the aggregate type.
    #[error(
        "the stored state of {aggregate_type} {aggregate_id} cannot be read as the current state type ({error}): migrate the aggregate_state table or rebuild the projection"
    )]
    State {
        /// Aggregate type.
        aggregate_type: String,
        /// Aggregate ID.
        aggregate_id: String,
        /// The decoder's complaint.
        error: String,
    },
}

/// The aggregates of one partition as committed, and the offset they are committed through.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSnapshot<A> {
    /// The first offset of the events partition not reflected in `aggregates`.
    pub next_offset: i64,
    /// Every aggregate last written from the partition, by ID.
    pub aggregates: HashMap<String, StoredAggregate<A>>,
    /// The parked aggregates of the partition: ID → offset of the event they are parked
    /// behind. Their entry in `aggregates` (if any) is their state before that event, not at
    /// `next_offset`.
    pub parked: HashMap<String, i64>,
}

impl<A> PartitionSnapshot<A> {
    /// A snapshot of a partition nothing has been projected from.
    pub fn empty() -> Self {
        Self {
            next_offset: 0,
            aggregates: HashMap::new(),
            parked: HashMap::new(),
        }
    }

    /// The first offset a reader must read from to complete the snapshot: `next_offset`, or
    /// the earliest event a parked aggregate is parked behind.
    pub fn replay_from(&self) -> i64 {
        self.parked
            .values()
            .copied()
            .fold(self.next_offset, i64::min)
    }
}

const COLUMNS: &str = "aggregate_id, version, state::text AS state, \
     recent_commands::text AS recent_commands, steps_taken::text AS steps_taken";

/// Loads the stored state of `ids` (the aggregates a batch touches).
pub async fn load_aggregates<A: Aggregate>(
    pool: &PgPool,
    aggregate_type: &str,
    ids: &[String],
) -> Result<HashMap<String, StoredAggregate<A>>, LoadError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM aggregate_state WHERE aggregate_type = $1 AND aggregate_id = ANY($2)"
    )))
    .bind(aggregate_type)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| stored_from_row(row, aggregate_type))
        .collect()
}

/// Loads every aggregate of `aggregate_type` last written from `partition` of `topic`,
/// together with the offset `projection` has committed there, in one read-only
/// REPEATABLE READ transaction, so the two agree exactly: replaying the partition from
/// `next_offset` onto the aggregates — and from each parked aggregate's first failure onto
/// that one — yields the log's current state.
pub async fn load_partition<A: Aggregate>(
    pool: &PgPool,
    projection: &str,
    aggregate_type: &str,
    topic: &str,
    partition: i32,
) -> Result<PartitionSnapshot<A>, LoadError> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *transaction)
        .await?;
    let next_offset: Option<i64> = sqlx::query_scalar(
        "SELECT next_offset FROM projector_offsets
         WHERE projection = $1 AND topic = $2 AND partition = $3",
    )
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .fetch_optional(&mut *transaction)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM aggregate_state
         WHERE aggregate_type = $1 AND source_topic = $2 AND source_partition = $3"
    )))
    .bind(aggregate_type)
    .bind(topic)
    .bind(partition)
    .fetch_all(&mut *transaction)
    .await?;
    let parked =
        crate::parked::parked_in_partition(&mut *transaction, projection, topic, partition).await?;
    transaction.commit().await?;
    let aggregates = rows
        .iter()
        .map(|row| stored_from_row(row, aggregate_type))
        .collect::<Result<_, _>>()?;
    Ok(PartitionSnapshot {
        next_offset: next_offset.unwrap_or(0),
        aggregates,
        parked,
    })
}

fn stored_from_row<A: Aggregate>(
    row: &PgRow,
    aggregate_type: &str,
) -> Result<(String, StoredAggregate<A>), LoadError> {
    let id: String = row.try_get("aggregate_id")?;
    let version: i64 = row.try_get("version")?;
    let state_json: String = row.try_get("state")?;
    let recent_json: String = row.try_get("recent_commands")?;
    let steps_json: String = row.try_get("steps_taken")?;
    let unreadable = |what: &str, error: serde_json::Error| LoadError::State {
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: id.clone(),
        error: format!("{what}: {error}"),
    };
    let state: A = serde_json::from_str(&state_json).map_err(|e| unreadable("state", e))?;
    let recent_commands =
        serde_json::from_str(&recent_json).map_err(|e| unreadable("recent_commands", e))?;
    let steps_taken =
        serde_json::from_str(&steps_json).map_err(|e| unreadable("steps_taken", e))?;
    let stored = StoredAggregate {
        versioned: Versioned {
            state,
            version: version as u64,
        },
        recent_commands,
        steps_taken,
    };
    Ok((id, stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_taken_cover_every_cause_up_to_the_latest_of_their_partition() {
        let cause = |partition: i32, offset: i64, step: u32| Cause {
            topic: "t.order.events".into(),
            partition,
            offset,
            step,
        };
        let mut taken = StepsTaken::default();
        taken.take(&cause(0, 10, 1));
        taken.take(&cause(0, 7, 0));
        assert_eq!(taken.covering(&cause(0, 10, 1)), Some((10, 1)));
        assert_eq!(taken.covering(&cause(0, 10, 0)), Some((10, 1)));
        assert_eq!(taken.covering(&cause(0, 3, 5)), Some((10, 1)));
        assert_eq!(
            taken.covering(&cause(0, 10, 2)),
            None,
            "a later step of the same event"
        );
        assert_eq!(taken.covering(&cause(0, 11, 0)), None);
        assert_eq!(taken.covering(&cause(1, 1, 0)), None, "another partition");
        let json = serde_json::to_string(&taken).unwrap();
        assert_eq!(json, r#"{"t.order.events/0":[10,1]}"#);
        assert_eq!(serde_json::from_str::<StepsTaken>(&json).unwrap(), taken);
    }
}
