//! The projector: consumer-group workers that fold events into PostgreSQL read tables exactly
//! once, publish how far they got, and serve reads that can wait for a write to be visible.
//!
//! Read the modules in the order a record travels:
//! - [`consumer`]: the group member; claims assigned partitions in PostgreSQL and starts each
//!   at its stored offset; routes records to per-partition workers with back-pressure;
//! - [`worker`]: one partition — batches bounded by size and time, retries that never skip;
//! - [`plan`]: what a batch means — the version rule, folding per aggregate, dead letters and
//!   parking (pure, unit-tested);
//! - [`apply`] and [`store`]: one transaction per batch — offset compare-and-set (the fence
//!   against stale workers), aggregate states, read tables, parked aggregates;
//! - [`snapshot`]: aggregates read back from `aggregate_state`, by batch or by partition (the
//!   command side's rebuild);
//! - [`read_model`] and [`bank`]: the trait a domain implements for its read tables, and the
//!   bank's set-based writes; [`projection`] ties read models to topics;
//! - [`dead_letters`] and [`markers`]: what is published after (dead letters: before) a
//!   commit;
//! - [`read_api`]: reads with consistency tokens, woken by LISTEN/NOTIFY;
//! - [`metrics`], [`config`], [`database`], [`app`]: observability, configuration, the
//!   database set-up, and the wiring of `projector run`.
//!
//! The exactly-once argument is in docs/ARCHITECTURE.md.

pub mod app;
pub mod apply;
pub mod bank;
pub mod config;
pub mod consumer;
pub mod continuity;
pub mod database;
pub mod dead_letters;
pub mod markers;
pub mod metrics;
pub mod plan;
pub mod projection;
pub mod read_api;
pub mod read_model;
pub mod record;
pub mod snapshot;
pub mod store;
pub mod worker;
