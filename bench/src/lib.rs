//! Tributary's benchmarks: how fast the projector catches up compared with the limits of the
//! broker and the database and with a naive projector, and how the command path holds up
//! under open-loop load. `bench catchup` and `bench commands` run them (`scripts/bench.sh`
//! sets everything up); results go to `bench/results/` and are read in `bench/RESULTS.md`.
//!
//! Read the modules in the order a catch-up run uses them:
//! - [`workload`]: the event stream, decided by the bank's own aggregates and sagas;
//! - [`broker`]: fresh topics, preload, end offsets, and reading everything back (the
//!   raw-consume limit);
//! - [`rows`]: the rows the projection makes, and the SQL shared by the bulk and naive
//!   variants;
//! - [`variants`]: bulk limit, the projector's own path, `projector run` processes, naive;
//! - [`digest`]: proof that the variants wrote identical tables;
//! - [`catchup`]: the scenario itself; [`commands`]: the command-path scenario, over the
//!   child processes and the keep-alive HTTP client the tests use too
//!   (`tributary_tests::process`, `tributary_tests::http`);
//! - [`machine`] and [`report`]: what it ran on, the printed table, the JSON file;
//! - [`cli`]: the command line.

pub mod broker;
pub mod catchup;
pub mod cli;
pub mod commands;
pub mod digest;
pub mod machine;
pub mod report;
pub mod rows;
pub mod stages;
pub mod variants;
pub mod workload;
