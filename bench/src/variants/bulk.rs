//! The bulk limit: what it costs PostgreSQL to take the projection's row changes in the
//! cheapest way it has.
//!
//! The rows are those the projection makes for these events — every partition folded as one
//! batch by the projector's planner, laid out by [`crate::rows`] — computed before the clock
//! starts. Timed is only the database's work: one transaction that, per table, creates a
//! temporary staging table, `COPY`s the rows into it and merges them with one set-based
//! `INSERT … SELECT … ON CONFLICT`. No offsets, no per-batch statements, no bookkeeping.

use std::time::{Duration, Instant};

use sqlx::postgres::PgPool;
use tributary_bank::account::Account;
use tributary_bank::email_claim::EmailClaim;
use tributary_bank::transfer::Transfer;
use tributary_bank::user::User;
use tributary_runtime::Topology;
use tributary_schemas::Codec;

use super::{BankType, fold_from_scratch};
use crate::broker::Fetched;
use crate::rows::{BankRows, Rows, Source, TABLES, add_changes};

/// What the bulk load did.
#[derive(Debug, Clone, Copy)]
pub struct BulkOutcome {
    /// Rows written, all tables together.
    pub rows: usize,
    /// Folding the events into rows (not part of the limit).
    pub fold: Duration,
    /// The transaction: staging, COPY, merge, commit.
    pub load: Duration,
}

/// The rows the projection makes for every fetched record.
pub fn rows_for(
    topology: &Topology,
    fetched: &Fetched,
    recent_commands: usize,
) -> anyhow::Result<Rows> {
    let codec = tributary_bank::codec();
    let mut rows = Rows::default();
    for ((topic, partition), records) in fetched {
        let source = Source {
            topic,
            partition: *partition,
        };
        match BankType::of_topic(topology, topic)? {
            BankType::Account => {
                fold::<Account>(&codec, records, source, recent_commands, &mut rows)?
            }
            BankType::EmailClaim => {
                fold::<EmailClaim>(&codec, records, source, recent_commands, &mut rows)?
            }
            BankType::User => fold::<User>(&codec, records, source, recent_commands, &mut rows)?,
            BankType::Transfer => {
                fold::<Transfer>(&codec, records, source, recent_commands, &mut rows)?
            }
        }
    }
    Ok(rows)
}

fn fold<A: BankRows>(
    codec: &Codec,
    records: &[tributary_runtime::kafka::SourceRecord],
    source: Source<'_>,
    recent_commands: usize,
    rows: &mut Rows,
) -> anyhow::Result<()> {
    let changes = fold_from_scratch::<A>(codec, records, &Default::default(), recent_commands)?;
    add_changes(&changes, source, rows)
}

/// Folds the fetched records into rows, then loads them in one transaction.
pub async fn run(
    pool: &PgPool,
    topology: &Topology,
    fetched: &Fetched,
    recent_commands: usize,
) -> anyhow::Result<BulkOutcome> {
    let started = Instant::now();
    let rows = rows_for(topology, fetched, recent_commands)?;
    let fold = started.elapsed();
    let mut copies = Vec::with_capacity(TABLES.len());
    for index in 0..TABLES.len() {
        let mut text = Vec::new();
        rows.copy_text(index, &mut text);
        copies.push(text);
    }
    let started = Instant::now();
    load(pool, &rows, &copies).await?;
    Ok(BulkOutcome {
        rows: rows.len(),
        fold,
        load: started.elapsed(),
    })
}

/// Stages, copies and merges every table in one transaction.
async fn load(pool: &PgPool, rows: &Rows, copies: &[Vec<u8>]) -> anyhow::Result<()> {
    let mut transaction = pool.begin().await?;
    for (index, table) in TABLES.iter().enumerate() {
        if rows.tables[index].is_empty() {
            continue;
        }
        let stage = format!("bench_stage_{}", table.name);
        // Table and column names come from the constant table descriptions.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TEMPORARY TABLE {stage} ({}) ON COMMIT DROP",
            table.carried_definition()
        )))
        .execute(&mut *transaction)
        .await?;
        let mut copy = transaction
            .copy_in_raw(&format!("COPY {stage} FROM STDIN"))
            .await?;
        for chunk in copies[index].chunks(1 << 20) {
            copy.send(chunk).await?;
        }
        copy.finish().await?;
        sqlx::query(sqlx::AssertSqlSafe(table.merge_from(&stage, None)))
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await?;
    Ok(())
}
