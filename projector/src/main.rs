//! `projector`: the query side of Tributary as a binary.
//!
//! `projector run` consumes the events topics into the read tables and serves the read API,
//! `/metrics`, `/healthz` and `/readyz`; `projector migrate` applies the SQL migrations (which
//! `run` also does unless told not to). Configuration comes from environment variables; `--help`
//! lists them with their defaults.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tributary_projector::app;
use tributary_projector::config::ProjectorConfig;
use tributary_runtime::telemetry::{LogFormat, init_logging};
use tributary_store::database;
use tributary_store::database::DatabaseArgs;

/// Folds Tributary's events into PostgreSQL read tables exactly once and serves them.
///
/// Kafka client properties come from KAFKA_* environment variables
/// (KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092; KAFKA_SECURITY_PROTOCOL; …).
#[derive(Debug, Parser)]
#[command(name = "projector", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume the events topics into the read tables and serve the read API.
    Run(ProjectorConfig),
    /// Apply the engine's and the read model's SQL migrations to the schema and exit (each set
    /// keeps its own history table).
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Log format.
        #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
        log_format: LogFormat,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(config) => {
            init_logging(config.log_format, "info");
            app::run(config).await
        }
        Command::Migrate {
            database,
            log_format,
        } => {
            init_logging(log_format, "info");
            let pool = database::connect(
                &database.database_url,
                &database.schema,
                "tributary-projector migrate",
                1,
            )
            .await?;
            tributary_projector::migrate(&pool, &database.schema)
                .await
                .context("projector migrate failed")?;
            tracing::info!(schema = %database.schema, "migrations applied");
            Ok(())
        }
    }
}
