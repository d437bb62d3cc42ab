//! `producer`: the command side of Tributary as a binary.
//!
//! `producer gateway` serves `POST /v1/commands`; `producer processor` is the single writer of
//! the aggregates of the commands partitions it owns; `producer saga` turns saga steps into
//! commands; `producer all` (the default for local use) runs the three in one process. Every
//! mode serves `/metrics`, `/healthz` and `/readyz`. Configuration comes from environment
//! variables; `--help` lists them with their defaults.

use clap::{Parser, Subcommand};
use tributary_producer::app::{self, Roles};
use tributary_producer::config::ProducerConfig;
use tributary_runtime::telemetry::init_logging;

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
    app::run(config, roles).await
}
