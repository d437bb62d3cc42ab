//! Where each projection has got in each source partition, and who may move it: the
//! `projector_offsets` table, written in the same transactions as the read tables, and the
//! LISTEN/NOTIFY channel that announces each commit.
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
