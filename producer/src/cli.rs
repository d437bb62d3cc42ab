//! The command line of a domain's `producer` binary: the command side of Tributary as a
//! program, so that a domain's `main` is one call to [`main`].
//!
//! `producer gateway` serves `POST /v1/commands`; `producer processor` is the single writer of
//! the aggregates of the commands partitions it owns; `producer saga` turns saga steps into
//! commands; `producer all` (the default for local use) runs the three in one process. Every
//! mode serves `/metrics`, `/healthz` and `/readyz`. Configuration comes from environment
//! variables; `--help` lists them with their defaults.

use clap::{Parser, Subcommand};
use tributary_runtime::telemetry::init_logging;

use crate::GatewayCommands;
use crate::app::{self, Roles};
use crate::config::ProducerConfig;

/// Validates commands, decides them as the single writer of their aggregates, and runs sagas.
///
/// Kafka client properties come from KAFKA_* environment variables
/// (KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092; KAFKA_SECURITY_PROTOCOL; …).
#[derive(Debug, Parser)]
#[command(name = "producer", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The gateway, the processor and the saga runner in one process.
    All(ProducerConfig),
    /// The HTTP command gateway only.
    Gateway(ProducerConfig),
    /// The command processor only.
    Processor(ProducerConfig),
    /// The saga runner only.
    Saga(ProducerConfig),
}

/// Parses the command line and runs `domain`'s command side in the roles it names until
/// SIGTERM or SIGINT.
pub async fn main<D: GatewayCommands>(domain: D) -> anyhow::Result<()> {
    tributary_runtime::settings::refuse_renamed(std::env::vars())?;
    let (config, roles) = match Cli::parse().command {
        Command::All(config) => (
            config,
            Roles {
                gateway: true,
                processor: true,
                saga: true,
            },
        ),
        Command::Gateway(config) => (
            config,
            Roles {
                gateway: true,
                processor: false,
                saga: false,
            },
        ),
        Command::Processor(config) => (
            config,
            Roles {
                gateway: false,
                processor: true,
                saga: false,
            },
        ),
        Command::Saga(config) => (
            config,
            Roles {
                gateway: false,
                processor: false,
                saga: true,
            },
        ),
    };
    init_logging(config.log_format, "info");
    app::run(domain, config, roles).await
}
