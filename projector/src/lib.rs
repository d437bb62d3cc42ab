//! The projector: consumer-group workers that fold events into PostgreSQL read tables exactly
//! once, publish how far they got, and serve reads that can wait for a write to be visible.
//!
//! Read the modules in the order a record travels:
//! - [`consumer`]: the group member; claims assigned partitions in PostgreSQL and starts each
//!   at its stored offset; routes records to per-partition workers with back-pressure;
//! - [`worker`]: one partition — batches bounded by size and time, retries that never skip;
//! - [`plan`]: what a batch means — the version rule, folding per aggregate, dead letters and
//!   parking (pure, unit-tested);
//! - [`apply`]: one transaction per batch — offset compare-and-set (the fence against stale
//!   workers), aggregate states, read tables, parked aggregates and dead-lettered records, all
//!   in the engine's tables of `tributary_store`;
//! - [`read_model`]: the trait a domain implements for its read tables (set-based writes);
//!   [`projection`]: the [`Projection`] a team implements, tying read models to topics with
//!   their migrations and read routes;
//! - [`dead_letters`] and [`markers`]: what is published after (dead letters: before) a
//!   commit;
//! - [`read_api`]: reads with consistency tokens, woken by LISTEN/NOTIFY;
//! - [`metrics`], [`config`], [`app`]: observability, configuration and the wiring of
//!   `projector run`; [`cli`]: the command line of a domain's `projector` binary; [`migrate`]
//!   applies the engine's and the read model's migrations.
//!
//! The exactly-once argument is in docs/ARCHITECTURE.md.

pub mod app;
pub mod apply;
pub mod cli;
pub mod config;
pub mod consumer;
pub mod continuity;
pub mod dead_letters;
pub mod markers;
pub mod metrics;
pub mod plan;
pub mod projection;
pub mod read_api;
pub mod read_model;
pub mod worker;

use sqlx::postgres::PgPool;
use tributary_store::database::{DatabaseSetupError, migrate_engine};
use tributary_store::migrations::MigrationSet;

pub use app::run;
pub use projection::Projection;

/// Applies the engine's migrations, then the read model's (if it has any), that are missing in
/// the pool's schema (named `schema` in errors). Each set keeps its own history table.
pub async fn migrate(
    pool: &PgPool,
    schema: &str,
    read_model: Option<&MigrationSet>,
) -> Result<(), DatabaseSetupError> {
    migrate_engine(pool, schema).await?;
    match read_model {
        Some(migrations) => migrations.apply(pool, schema).await,
        None => Ok(()),
    }
}
