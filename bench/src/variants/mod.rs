//! The ways the catch-up scenario puts the same events into PostgreSQL, one file each, from
//! the cheapest the database allows to the commonest home-grown one:
//!
//! - [`bulk`]: the database's limit — the projection's final rows, `COPY`ed into temporary
//!   tables and merged with one statement per table, in one transaction;
//! - [`own_path`]: the projector library's batch path (load, plan, commit with the offset
//!   compare-and-set) fed from memory, so its limit shows even when the broker is slower;
//! - [`processes`]: real `projector run` processes reading from the broker;
//! - [`naive`]: one statement and one transaction per event, the offset written with it;
//! - [`connect`]: Kafka Connect's JDBC sink, the tool users would pick instead, upserting the
//!   rows each event changes, fed to it as JSON records.
//!
//! The raw-consume limit needs no database and lives with the other broker reads in
//! [`crate::broker`]. Every variant writes into a schema of its own ([`VariantSchema`]), made
//! by the projector's own migrations.

pub mod bulk;
pub mod connect;
pub mod naive;
pub mod own_path;
pub mod processes;

use std::collections::HashMap;

use anyhow::{Context, bail};
use sqlx::postgres::PgPool;
use tributary_bank::account::Account;
use tributary_bank::email_claim::EmailClaim;
use tributary_bank::transfer::Transfer;
use tributary_bank::user::User;
use tributary_domain::Aggregate;
use tributary_projector::plan::{self, AggregateChange};
use tributary_runtime::Topology;
use tributary_runtime::kafka::SourceRecord;
use tributary_schemas::Codec;
use tributary_store::database;
use tributary_store::snapshot::StoredAggregate;

use crate::rows::{BankRows, Rows, Source, add_changes};

/// A fresh schema with the projector's tables, for one variant.
#[derive(Debug, Clone)]
pub struct VariantSchema {
    /// The schema name.
    pub name: String,
    /// A pool whose sessions use it.
    pub pool: PgPool,
}

impl VariantSchema {
    /// Creates schema `name` (dropping what a previous run left there) and applies the
    /// projector's migrations.
    pub async fn create(url: &str, name: &str, connections: u32) -> anyhow::Result<Self> {
        let pool = database::connect(url, name, "tributary-bench", connections).await?;
        // `name` passed `connect`'s schema-name check: a plain lower-case identifier.
        for statement in [
            format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
            format!("CREATE SCHEMA {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await?;
        }
        let read_model = tributary_bank::read_model::read_model_migrations();
        tributary_projector::migrate(&pool, name, Some(&read_model)).await?;
        Ok(Self {
            name: name.to_owned(),
            pool,
        })
    }

    /// Drops the schema and closes the pool.
    pub async fn drop_schema(self) -> anyhow::Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        )))
        .execute(&self.pool)
        .await?;
        self.pool.close().await;
        Ok(())
    }
}

/// The bank aggregate types, for dispatching on a topic's aggregate type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankType {
    /// `account`.
    Account,
    /// `email-claim`.
    EmailClaim,
    /// `user`.
    User,
    /// `transfer`.
    Transfer,
}

impl BankType {
    /// The aggregate type whose events topic `topic` is.
    pub fn of_topic(topology: &Topology, topic: &str) -> anyhow::Result<Self> {
        for kind in [Self::Account, Self::EmailClaim, Self::User, Self::Transfer] {
            if topology.events(kind.name()) == topic {
                return Ok(kind);
            }
        }
        bail!("{topic} is not an events topic of the bank")
    }

    /// The aggregate type's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Account => Account::TYPE,
            Self::EmailClaim => EmailClaim::TYPE,
            Self::User => User::TYPE,
            Self::Transfer => Transfer::TYPE,
        }
    }
}

/// Folds `records` (one partition, in order) from nothing with the projector's planner, as
/// one batch; every record must be a valid event.
pub fn fold_from_scratch<A: Aggregate>(
    codec: &Codec,
    records: &[SourceRecord],
    stored: &HashMap<String, tributary_store::snapshot::StoredAggregate<A>>,
    recent_commands: usize,
) -> anyhow::Result<Vec<AggregateChange<A>>> {
    let mut parked = HashMap::new();
    let plan = plan::plan::<A>(codec, records, stored, &mut parked, recent_commands);
    if let Some(letter) = plan.dead_letters.first() {
        return Err(anyhow::anyhow!(
            "record {} cannot be applied: {}",
            letter.index,
            letter.error
        ))
        .context("the preloaded stream must consist of valid events");
    }
    if !plan.void.is_empty() {
        bail!(
            "{} preloaded records are void under the version rule; the stream must be valid",
            plan.void.len()
        );
    }
    Ok(plan.changes)
}

/// One partition's events folded one at a time, as a per-event projector folds them: each
/// aggregate's state is kept in memory and every event yields the rows it changes, computed
/// from the state before it. What the naive projector writes and the Connect sink is fed.
pub struct EventFold<'a, A: BankRows> {
    codec: Codec,
    source: Source<'a>,
    recent_commands: usize,
    states: HashMap<String, StoredAggregate<A>>,
}

impl<'a, A: BankRows> EventFold<'a, A> {
    /// A fold of the partition `source` from nothing.
    pub fn new(source: Source<'a>, recent_commands: usize) -> Self {
        Self {
            codec: tributary_bank::codec(),
            source,
            recent_commands,
            states: HashMap::new(),
        }
    }

    /// Folds `record`, the partition's next event, onto its aggregate's state; returns the rows
    /// it changes (its aggregate state's row included).
    pub fn next(&mut self, record: &SourceRecord) -> anyhow::Result<Rows> {
        let changes = fold_from_scratch::<A>(
            &self.codec,
            std::slice::from_ref(record),
            &self.states,
            self.recent_commands,
        )?;
        let mut rows = Rows::default();
        add_changes(&changes, self.source, &mut rows)?;
        for change in changes {
            self.states.insert(change.aggregate_id, change.after);
        }
        Ok(rows)
    }
}
