//! The command side: turns a client's command into exactly one event on its aggregate's
//! partition, decided by the single writer of that partition and checked against the log.
//!
//! Read the modules in the order a command travels:
//! - [`command_request`]: the JSON body of `POST /v1/commands` — parsed into a typed
//!   [`command_request::CommandRequest`], or refused with `400` (not JSON) or `422` naming the
//!   field; shape only, the domain decides everything else; its OpenAPI schema is derived from
//!   the same table that drives the parser;
//! - [`responses`]: the JSON bodies the gateway answers with (accepted, rejected, error), as
//!   serde types with their OpenAPI schemas;
//! - [`gateway`]: `POST /v1/commands` — writes the command to its aggregate's partition and
//!   waits, bounded, for the processor's reply on this instance's replies partition; answers
//!   `200`/`409` with the outcome, or `503`/`504` with the command ID to retry with;
//! - [`processor`]: the single writer of each partition's aggregates — rebuild from the
//!   projector's snapshot and the log, decide, write one record, read it back, reply;
//! - [`saga_runner`]: turns each valid saga event into the next command, with deterministic
//!   command IDs;
//! - [`metrics`]: the processor's and the saga runner's metrics;
//! - [`partitioned`]: the consumer-group member that runs a task per owned partition, shared
//!   by the processor and the saga runner, and [`context`]: the clients and settings both use.
//!
//! [`config`] and [`app`] wire the parts into a process, and [`cli`] is the command line of a
//! domain's `producer` binary: `tributary_producer::cli::main(MyDomain).await`.
//!
//! The rules the command side follows (one record per command, the version rule, read-back
//! before replying) are in docs/ARCHITECTURE.md.

pub mod app;
pub mod cli;
pub mod command_request;
pub mod config;
pub mod context;
pub mod gateway;
pub mod metrics;
pub mod partitioned;
pub mod processor;
pub mod responses;
pub mod saga_runner;

use tributary_domain::Domain;

pub use app::run;
pub use command_request::CommandCatalog;

/// A domain whose command side Tributary can run: a [`Domain`] whose commands the gateway
/// reads from JSON, described by its [`CommandCatalog`].
pub trait GatewayCommands: Domain {
    /// The aggregates, commands and fields the gateway accepts, over the domain's codec.
    fn catalog(&self) -> CommandCatalog<Self::Command>;
}
