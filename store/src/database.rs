//! The PostgreSQL side of both the command side and the projector: where the tables are
//! (`DATABASE_URL`, `PROJECTOR_SCHEMA`), a connection pool whose sessions live in that schema,
//! the engine's own migrations, and how a database error is to be treated.
//!
//! Every table sits in one schema, selected through `search_path`, so several pipelines (or
//! tests) share a database without sharing tables, and the migrations are the same SQL
//! whatever the schema is called.

use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use thiserror::Error;

use crate::migrations::MigrationSet;

/// Where the pipeline's tables live: every binary that touches PostgreSQL takes these.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/tributary"
    )]
    pub database_url: String,

    /// PostgreSQL schema holding the pipeline's tables (created if missing).
    #[arg(long, env = "PROJECTOR_SCHEMA", default_value = "tributary")]
    pub schema: String,

    /// Do not apply the SQL migrations at start-up (apply them with `projector migrate`).
    #[arg(long, env = "PROJECTOR_NO_MIGRATE", default_value_t = false)]
    pub no_migrate: bool,
}

/// The engine's migrations (offsets, parked aggregates, dead-lettered records, aggregate
/// snapshots), recorded in `_tributary_engine_migrations`.
pub fn engine_migrations() -> MigrationSet {
    MigrationSet::new(
        sqlx::migrate!("./migrations"),
        "_tributary_engine_migrations",
    )
}

/// The database could not be prepared.
#[derive(Debug, Error)]
pub enum DatabaseSetupError {
    /// The schema name is not a plain identifier.
    #[error(
        "PROJECTOR_SCHEMA={0:?} is not a valid schema name: use lower-case letters, digits and underscores, starting with a letter"
    )]
    BadSchemaName(String),
    /// The URL does not parse.
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    BadUrl(#[source] sqlx::Error),
    /// The server is unreachable or refused the connection.
    #[error(
        "cannot connect to PostgreSQL at {url}: {source}; check DATABASE_URL and that the server is running"
    )]
    Connect {
        /// The URL without its password.
        url: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migrating schema {schema} (history {history}) failed: {source}")]
    Migrate {
        /// The schema.
        schema: String,
        /// The history table of the set that failed.
        history: &'static str,
        /// What the migrator said.
        source: sqlx::migrate::MigrateError,
    },
}

/// Checks that `schema` can be used unquoted in SQL.
pub fn validate_schema_name(schema: &str) -> Result<(), DatabaseSetupError> {
    let mut chars = schema.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if valid {
        Ok(())
    } else {
        Err(DatabaseSetupError::BadSchemaName(schema.to_owned()))
    }
}

/// A pool whose connections use `schema` (created if missing), named `application_name` in
/// `pg_stat_activity`.
pub async fn connect(
    url: &str,
    schema: &str,
    application_name: &str,
    max_connections: u32,
) -> Result<PgPool, DatabaseSetupError> {
    validate_schema_name(schema)?;
    let options = PgConnectOptions::from_str(url)
        .map_err(DatabaseSetupError::BadUrl)?
        .application_name(application_name)
        .options([("search_path", schema)]);
    let connect_error = |source| DatabaseSetupError::Connect {
        url: redact(url),
        source,
    };
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(connect_error)?;
    // `schema` passed `validate_schema_name`: a plain lower-case identifier.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&pool)
    .await
    .map_err(connect_error)?;
    Ok(pool)
}

/// Applies the engine's migrations that are missing in the pool's schema.
pub async fn migrate_engine(pool: &PgPool, schema: &str) -> Result<(), DatabaseSetupError> {
    engine_migrations().apply(pool, schema).await
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// How a failed database operation is to be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The data of the batch is at fault (a constraint or data exception): retrying the same
    /// statements cannot succeed, so the event responsible goes to the dead-letter topic.
    EventFault,
    /// The schema is not what the projector expects (a table or column is missing): retried,
    /// never skipped, reported as needing `projector migrate`.
    Schema,
    /// Anything else (connection lost, serialization failure, deadlock, server restarting):
    /// retried with backoff.
    Transient,
}

/// Classifies a database error by its SQLSTATE class.
pub fn classify(error: &sqlx::Error) -> FailureKind {
    let Some(code) = error.as_database_error().and_then(|e| e.code()) else {
        return FailureKind::Transient;
    };
    match code.get(..2) {
        Some("22") | Some("23") => FailureKind::EventFault,
        Some("42") | Some("3F") => FailureKind::Schema,
        _ => FailureKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(validate_schema_name("tributary").is_ok());
        assert!(validate_schema_name("t_2024_x").is_ok());
        for bad in ["", "1abc", "Tributary", "a-b", "a;drop", "a b"] {
            assert!(validate_schema_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }

    #[test]
    fn io_errors_are_transient() {
        let error = sqlx::Error::Io(std::io::Error::other("reset"));
        assert_eq!(classify(&error), FailureKind::Transient);
    }
}
