//! Reading aggregates back from `aggregate_state`: the projector reads the aggregates of a
//! batch before folding it, and the command side reads a whole partition's aggregates, with
//! the offset they are committed through, to rebuild its state on assignment.
//!
//! A parked aggregate's stored state stops before the event it is parked behind, while the
//! partition's offset moves on past the events dead-lettered behind it; the snapshot
//! therefore names the parked aggregates with that event's offset, and a reader rebuilding
//! from it re-reads their events from there instead of trusting the stale state.
//!
//! The table is the projector's, so reading it lives here too: one owner for its SQL and its
//! JSON shapes.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use tributary_domain::{Aggregate, Versioned};

use crate::plan::StoredAggregate;

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
        crate::store::parked_in_partition(&mut *transaction, projection, topic, partition).await?;
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
