//! The command line of a domain's `projector` binary: the query side of Tributary as a
//! program, so that a domain's `main` is one call to [`main`].
//!
//! `projector run` consumes the events topics into the read tables and serves the read API,
//! `/metrics`, `/healthz` and `/readyz`; `projector migrate` applies the SQL migrations (which
//! `run` also does unless told not to). Configuration comes from environment variables; `--help`
//! lists them with their defaults.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tributary_runtime::telemetry::{LogFormat, init_logging};
use tributary_store::database;
use tributary_store::database::DatabaseArgs;

use crate::Projection;
use crate::app;
use crate::config::ProjectorConfig;

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

/// Parses the command line and runs `projection` (`run`) or applies its migrations
/// (`migrate`).
pub async fn main<P: Projection>(projection: P) -> anyhow::Result<()> {
    tributary_runtime::settings::refuse_renamed(std::env::vars())?;
    match Cli::parse().command {
        Command::Run(config) => {
            init_logging(config.log_format, "info");
            app::run(config, projection).await
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
            crate::migrate(&pool, &database.schema, projection.migrations().as_ref())
                .await
                .context("projector migrate failed")?;
            tracing::info!(schema = %database.schema, "migrations applied");
            Ok(())
        }
    }
}
