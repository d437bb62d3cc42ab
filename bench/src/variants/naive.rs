//! The naive projector: one statement, hence one transaction, per event, with the offset
//! written in it — the shape of most home-grown consumers and of a per-row upserting sink.
//!
//! It is given every advantage short of batching: the aggregates' state is kept in memory (no
//! read per event), the fold is the projector's own, and the one statement per event writes
//! the read-table rows, the aggregate state and the offset (a compare-and-set, as the
//! projector's) in a single round trip, each table's rows carried as JSON. Events are applied
//! in one sequence on one connection, as a simple consumer loop does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use tributary_bank::account::Account;
use tributary_bank::email_claim::EmailClaim;
use tributary_bank::transfer::Transfer;
use tributary_bank::user::User;
use tributary_runtime::Topology;
use tributary_runtime::kafka::SourceRecord;

use super::{BankType, EventFold};
use crate::broker::Fetched;
use crate::rows::{BankRows, Source, TABLES};
use tributary_store::offsets;
use tributary_store::offsets::Claim;

/// What the naive projector did.
#[derive(Debug, Clone, Copy)]
pub struct NaiveOutcome {
    /// Events applied.
    pub events: usize,
    /// The time it took.
    pub elapsed: Duration,
}

/// The one statement per event: the offset's compare-and-set, and each table's rows written
/// only if it succeeded. `$1`–`$5`: projection, topic, partition, expected and new offset;
/// `$6`…: the rows of each of [`TABLES`] as JSON text.
pub fn statement() -> String {
    let mut sql = String::from(
        "WITH fence AS (
             UPDATE projector_offsets SET next_offset = $5, committed_at = now()
             WHERE projection = $1 AND topic = $2 AND partition = $3
               AND epoch = $6 AND next_offset = $4
             RETURNING 1)",
    );
    for (index, table) in TABLES.iter().enumerate() {
        let source = format!(
            "jsonb_to_recordset(${}::text::jsonb) AS s({})",
            index + 7,
            table.carried_definition()
        );
        sql.push_str(&format!(
            ", w{index} AS ({})",
            table.merge_from(&source, Some("EXISTS (SELECT 1 FROM fence)"))
        ));
    }
    sql.push_str(" SELECT count(*) FROM fence");
    sql
}

/// Applies the first `limit` fetched records (whole partitions in topic and partition order,
/// the last one possibly cut short), event by event.
pub async fn run(
    pool: &PgPool,
    topology: &Topology,
    projection: &str,
    fetched: &Fetched,
    limit: usize,
    recent_commands: usize,
) -> anyhow::Result<NaiveOutcome> {
    let sql = statement();
    let mut connection = pool.acquire().await?;
    let mut claims = HashMap::new();
    for (topic, partition) in fetched.keys() {
        let claim = offsets::claim(pool, projection, topic, *partition, "bench-naive").await?;
        claims.insert((topic.clone(), *partition), claim);
    }
    let started = Instant::now();
    let mut events = 0;
    for ((topic, partition), records) in fetched {
        if events >= limit {
            break;
        }
        let records = &records[..records.len().min(limit - events)];
        let mut applier = Applier {
            connection: &mut connection,
            sql: &sql,
            projection,
            source: Source {
                topic,
                partition: *partition,
            },
            claim: claims[&(topic.clone(), *partition)],
            recent_commands,
        };
        match BankType::of_topic(topology, topic)? {
            BankType::Account => applier.apply::<Account>(records).await?,
            BankType::EmailClaim => applier.apply::<EmailClaim>(records).await?,
            BankType::User => applier.apply::<User>(records).await?,
            BankType::Transfer => applier.apply::<Transfer>(records).await?,
        }
        events += records.len();
    }
    Ok(NaiveOutcome {
        events,
        elapsed: started.elapsed(),
    })
}

/// Applies one partition's records one at a time.
struct Applier<'a> {
    connection: &'a mut PgConnection,
    sql: &'a str,
    projection: &'a str,
    source: Source<'a>,
    claim: Claim,
    recent_commands: usize,
}

impl Applier<'_> {
    async fn apply<A: BankRows>(&mut self, records: &[SourceRecord]) -> anyhow::Result<()> {
        let mut fold = EventFold::<A>::new(self.source, self.recent_commands);
        for record in records {
            let rows = fold.next(record)?;
            let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(self.sql))
                .bind(self.projection)
                .bind(self.source.topic)
                .bind(self.source.partition)
                .bind(record.offset)
                .bind(record.offset + 1)
                .bind(self.claim.epoch);
            for index in 0..TABLES.len() {
                query = query.bind(rows.json(index)?.to_string());
            }
            let fenced = query.fetch_one(&mut *self.connection).await?;
            if fenced != 1 {
                bail!(
                    "the naive projector's offset of {}/{} was not at {}",
                    self.source.topic,
                    self.source.partition,
                    record.offset
                );
            }
        }
        Ok(())
    }
}
