//! The aggregates a projection holds back and the records it did not apply: the
//! `parked_aggregates` and `dead_lettered_records` tables, written in the transaction of the
//! batch that parks or skips them, so that a restart keeps an aggregate parked and a read with
//! a consistency token can tell an applied event from a dead-lettered one.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

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

/// One record a batch sends to the dead-letter topic instead of applying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewDeadLetter<'a> {
    /// The record's offset.
    pub offset: i64,
    /// The aggregate it belongs to, if its key names one.
    pub aggregate_id: Option<&'a str>,
    /// Short, stable label of why.
    pub reason: &'a str,
    /// The full explanation.
    pub error: &'a str,
    /// For a record held back behind an earlier failure of its aggregate, that failure's
    /// offset.
    pub parked_behind: Option<i64>,
}

/// Records the batch's dead letters, in the batch's transaction. A retried batch records
/// the same records again, which changes nothing.
pub async fn record_dead_letters(
    connection: &mut PgConnection,
    projection: &str,
    topic: &str,
    partition: i32,
    letters: &[NewDeadLetter<'_>],
) -> Result<(), sqlx::Error> {
    if letters.is_empty() {
        return Ok(());
    }
    let offsets: Vec<i64> = letters.iter().map(|l| l.offset).collect();
    let ids: Vec<Option<&str>> = letters.iter().map(|l| l.aggregate_id).collect();
    let reasons: Vec<&str> = letters.iter().map(|l| l.reason).collect();
    let errors: Vec<&str> = letters.iter().map(|l| l.error).collect();
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
