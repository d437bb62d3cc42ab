//! The offset store, the parked-aggregate register and the dead-letter register: the
//! projector's own bookkeeping in PostgreSQL, written in the same transactions as the read
//! tables.
//!
//! Exactly-once rests on [`claim`] and [`advance`]. A worker that is assigned a partition
//! claims it, which bumps the partition's epoch and returns the offset to resume from. Every
//! batch then moves the offset forward with a compare-and-set on (epoch, previous offset) in
//! the batch's own transaction. A worker that lost the partition — in a rebalance, or paused
//! past its session timeout — holds an old epoch, so its update matches no row, and its whole
//! transaction, read-table changes included, is rolled back.

use std::collections::HashMap;

use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use crate::plan::DeadLetter;

/// The LISTEN/NOTIFY channel on which commits into `schema` are announced.
pub fn progress_channel(schema: &str) -> String {
    format!("{schema}_progress")
}

/// The payload announcing that `projection` has committed `topic`/`partition` up to
/// `next_offset`: the four values separated by tabs (none of them can contain one).
pub fn progress_payload(projection: &str, topic: &str, partition: i32, next_offset: i64) -> String {
    format!("{projection}\t{topic}\t{partition}\t{next_offset}")
}

/// Reads a payload of [`progress_payload`].
pub fn parse_progress_payload(payload: &str) -> Option<(String, String, i32, i64)> {
    let mut parts = payload.split('\t');
    let projection = parts.next()?.to_owned();
    let topic = parts.next()?.to_owned();
    let partition = parts.next()?.parse().ok()?;
    let next_offset = parts.next()?.parse().ok()?;
    parts
        .next()
        .is_none()
        .then_some((projection, topic, partition, next_offset))
}

/// A worker's right to advance one partition's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The epoch this worker claimed; any later claim makes it stale.
    pub epoch: i64,
    /// The first offset not yet in the read tables: where consumption resumes.
    pub next_offset: i64,
}

/// Who holds a partition now, as the store says (for the message when a commit is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Current epoch.
    pub epoch: i64,
    /// Instance that claimed it last.
    pub owner: String,
    /// Current offset.
    pub next_offset: i64,
}

/// A source partition as one claim on it holds it: what a worker's markers and metrics are
/// keyed by, so that an older claim's worker never touches a newer one's state in the same
/// process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimedPartition {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// The claim's epoch: a later claim on the partition has a higher one.
    pub epoch: i64,
}

/// Claims `topic`/`partition` for `owner`: creates the row at offset 0 the first time, bumps
/// the epoch otherwise. Any batch of an earlier claim can no longer commit.
pub async fn claim(
    pool: &PgPool,
    projection: &str,
    topic: &str,
    partition: i32,
    owner: &str,
) -> Result<Claim, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO projector_offsets AS o (projection, topic, partition, next_offset, epoch, owner)
         VALUES ($1, $2, $3, 0, 1, $4)
         ON CONFLICT (projection, topic, partition)
         DO UPDATE SET epoch = o.epoch + 1, owner = EXCLUDED.owner, claimed_at = now()
         RETURNING epoch, next_offset",
    )
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .bind(owner)
    .fetch_one(pool)
    .await?;
    Ok(Claim {
        epoch: row.try_get("epoch")?,
        next_offset: row.try_get("next_offset")?,
    })
}

/// Moves the partition's offset from `claim.next_offset` to `next_offset` if `claim` is still
/// the latest claim. Returns `false` when the claim is stale; the caller must then roll back.
pub async fn advance(
    connection: &mut PgConnection,
    projection: &str,
    topic: &str,
    partition: i32,
    claim: Claim,
    next_offset: i64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE projector_offsets
         SET next_offset = $6, committed_at = now()
         WHERE projection = $1 AND topic = $2 AND partition = $3
           AND epoch = $4 AND next_offset = $5",
    )
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .bind(claim.epoch)
    .bind(claim.next_offset)
    .bind(next_offset)
    .execute(connection)
    .await?;
    Ok(updated.rows_affected() == 1)
}

impl Holder {
    /// Whether a refused [`advance`] from `claim` to `next_offset` had in fact already
    /// happened: the row still carries that claim's epoch and sits at `next_offset` (the
    /// commit succeeded, its acknowledgement was lost, and the retry found it done).
    pub fn shows_committed(&self, claim: Claim, next_offset: i64) -> bool {
        self.epoch == claim.epoch && self.next_offset == next_offset
    }
}

/// The current holder of a partition.
pub async fn holder(
    pool: &PgPool,
    projection: &str,
    topic: &str,
    partition: i32,
) -> Result<Option<Holder>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT epoch, owner, next_offset FROM projector_offsets
         WHERE projection = $1 AND topic = $2 AND partition = $3",
    )
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Holder {
            epoch: row.try_get("epoch")?,
            owner: row.try_get("owner")?,
            next_offset: row.try_get("next_offset")?,
        })
    })
    .transpose()
}

/// The committed offset of every partition of a projection: (topic, partition) → next offset.
pub async fn committed_offsets(
    pool: &PgPool,
    projection: &str,
) -> Result<HashMap<(String, i32), i64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT topic, partition, next_offset FROM projector_offsets WHERE projection = $1",
    )
    .bind(projection)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                (row.try_get("topic")?, row.try_get("partition")?),
                row.try_get("next_offset")?,
            ))
        })
        .collect()
}

/// An aggregate held back behind an event that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedAggregate {
    /// The aggregate.
    pub aggregate_id: String,
    /// Offset of the event that could not be applied.
    pub first_offset: i64,
    /// Short reason label.
    pub reason: String,
    /// The full error.
    pub error: String,
}

/// The aggregates parked in one partition: aggregate ID → offset of the first failure.
pub async fn parked_in_partition(
    executor: impl sqlx::PgExecutor<'_>,
    projection: &str,
    topic: &str,
    partition: i32,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT aggregate_id, first_offset FROM parked_aggregates
         WHERE projection = $1 AND topic = $2 AND partition = $3",
    )
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .fetch_all(executor)
    .await?;
    rows.into_iter()
        .map(|row| Ok((row.try_get("aggregate_id")?, row.try_get("first_offset")?)))
        .collect()
}

/// Records newly parked aggregates, in the batch's transaction.
pub async fn park(
    connection: &mut PgConnection,
    projection: &str,
    topic: &str,
    partition: i32,
    parked: &[ParkedAggregate],
) -> Result<(), sqlx::Error> {
    if parked.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = parked.iter().map(|p| p.aggregate_id.as_str()).collect();
    let offsets: Vec<i64> = parked.iter().map(|p| p.first_offset).collect();
    let reasons: Vec<&str> = parked.iter().map(|p| p.reason.as_str()).collect();
    let errors: Vec<&str> = parked.iter().map(|p| p.error.as_str()).collect();
    sqlx::query(
        "INSERT INTO parked_aggregates (projection, topic, partition, aggregate_id, first_offset, reason, error)
         SELECT $1, $2, $3, * FROM UNNEST($4::text[], $5::bigint[], $6::text[], $7::text[])
         ON CONFLICT (projection, topic, aggregate_id) DO NOTHING",
    )
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .bind(&ids)
    .bind(&offsets)
    .bind(&reasons)
    .bind(&errors)
    .execute(connection)
    .await?;
    Ok(())
}

/// Records the batch's dead letters, in the batch's transaction. A retried batch records
/// the same records again, which changes nothing.
pub async fn record_dead_letters(
    connection: &mut PgConnection,
    projection: &str,
    topic: &str,
    partition: i32,
    letters: &[DeadLetter],
) -> Result<(), sqlx::Error> {
    if letters.is_empty() {
        return Ok(());
    }
    let offsets: Vec<i64> = letters.iter().map(|l| l.offset).collect();
    let ids: Vec<Option<&str>> = letters.iter().map(|l| l.aggregate_id.as_deref()).collect();
    let reasons: Vec<&str> = letters.iter().map(|l| l.reason).collect();
    let errors: Vec<&str> = letters.iter().map(|l| l.error.as_str()).collect();
    let behind: Vec<Option<i64>> = letters.iter().map(|l| l.parked_behind).collect();
    sqlx::query(
        "INSERT INTO dead_lettered_records
             (projection, topic, partition, source_offset, aggregate_id, reason, error, parked_behind)
         SELECT $1, $2, $3, *
         FROM UNNEST($4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[])
         ON CONFLICT (projection, topic, partition, source_offset) DO NOTHING",
    )
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .bind(&offsets)
    .bind(&ids)
    .bind(&reasons)
    .bind(&errors)
    .bind(&behind)
    .execute(connection)
    .await?;
    Ok(())
}

/// A record the projection sent to the dead-letter topic instead of applying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetteredRecord {
    /// The aggregate it belongs to, if its key names one.
    pub aggregate_id: Option<String>,
    /// Short reason label (`parked` for a record held back behind an earlier failure).
    pub reason: String,
    /// The full explanation.
    pub error: String,
    /// For a parked record, the offset of the failure it waits behind.
    pub parked_behind: Option<i64>,
}

/// The record at `offset` of the partition, if the projection dead-lettered it.
pub async fn dead_lettered_at(
    executor: impl sqlx::PgExecutor<'_>,
    projection: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<DeadLetteredRecord>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT aggregate_id, reason, error, parked_behind FROM dead_lettered_records
         WHERE projection = $1 AND topic = $2 AND partition = $3 AND source_offset = $4",
    )
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .bind(offset)
    .fetch_optional(executor)
    .await?;
    row.map(|row| {
        Ok(DeadLetteredRecord {
            aggregate_id: row.try_get("aggregate_id")?,
            reason: row.try_get("reason")?,
            error: row.try_get("error")?,
            parked_behind: row.try_get("parked_behind")?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(epoch: i64, next_offset: i64) -> Holder {
        Holder {
            epoch,
            owner: "me".to_owned(),
            next_offset,
        }
    }

    #[test]
    fn a_lost_acknowledgement_is_recognised_only_with_our_epoch_and_end() {
        let claim = Claim {
            epoch: 3,
            next_offset: 100,
        };
        assert!(holder(3, 150).shows_committed(claim, 150));
        assert!(!holder(4, 150).shows_committed(claim, 150), "another claim");
        assert!(!holder(3, 100).shows_committed(claim, 150), "not advanced");
        assert!(!holder(4, 100).shows_committed(claim, 150));
    }
}
