//! Sets of migrations, each applied with its own history table, so that the engine's tables
//! and each read model's tables evolve on their own: the command side applies the engine's set
//! alone, a projector the engine's and its read model's, and a read model's versions never
//! collide with the engine's.
//!
//! Every set takes PostgreSQL's advisory lock of the database (the one sqlx's migrator takes)
//! while it runs, so instances starting together apply each migration once.
//!
//! Schemas migrated before the sets were split kept one history, `_sqlx_migrations`, for the
//! engine's and the bank's migrations together. A set whose own table does not exist yet
//! adopts the rows of that history whose version and checksum are its own migrations', so
//! nothing is applied twice; the old table is left for an operator to drop once every instance
//! runs a build with split sets.

use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use crate::database::DatabaseSetupError;

/// The history table every migration lived in before the sets were split.
const LEGACY_HISTORY: &str = "_sqlx_migrations";

/// A set of migrations and the table that records which of them ran.
#[derive(Debug)]
pub struct MigrationSet {
    migrator: Migrator,
    history: &'static str,
}

impl MigrationSet {
    /// The set `migrator` (from `sqlx::migrate!`), recorded in `history`, unique per set in a
    /// schema.
    ///
    /// # Panics
    /// If `history` is not a plain identifier (lower-case letters, digits, underscores): it is
    /// a constant of the code that defines the set.
    pub fn new(mut migrator: Migrator, history: &'static str) -> Self {
        let plain = !history.is_empty()
            && history
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        assert!(plain, "history table {history:?} is not a plain identifier");
        migrator.dangerous_set_table_name(history);
        Self { migrator, history }
    }

    /// The table recording which migrations of the set ran.
    pub fn history(&self) -> &'static str {
        self.history
    }

    /// Applies the set's missing migrations in the pool's schema (named `schema` in errors).
    pub async fn apply(&self, pool: &PgPool, schema: &str) -> Result<(), DatabaseSetupError> {
        let failed = |source| DatabaseSetupError::Migrate {
            schema: schema.to_owned(),
            history: self.history,
            source,
        };
        let mut pooled = pool
            .acquire()
            .await
            .map_err(|error| failed(MigrateError::from(error)))?;
        let connection: &mut PgConnection = &mut pooled;
        connection.lock().await.map_err(failed)?;
        let applied = self.adopt_legacy_history(connection).await;
        let applied = match applied {
            Ok(()) => self.migrator.run(&mut *connection).await,
            Err(error) => Err(error),
        };
        let unlocked = connection.unlock().await;
        applied.and(unlocked).map_err(failed)
    }

    /// Copies the set's rows of the shared history of earlier builds into the set's own
    /// table, when the set has none yet.
    async fn adopt_legacy_history(
        &self,
        connection: &mut PgConnection,
    ) -> Result<(), MigrateError> {
        let row = sqlx::query(
            "SELECT to_regclass($1) IS NOT NULL AS legacy, to_regclass($2) IS NOT NULL AS own",
        )
        .bind(LEGACY_HISTORY)
        .bind(self.history)
        .fetch_one(&mut *connection)
        .await?;
        let (legacy, own): (bool, bool) = (row.try_get("legacy")?, row.try_get("own")?);
        if !legacy || own {
            return Ok(());
        }
        connection.ensure_migrations_table(self.history).await?;
        let (versions, checksums): (Vec<i64>, Vec<Vec<u8>>) = self
            .migrator
            .iter()
            .filter(|migration| !migration.migration_type.is_down_migration())
            .map(|migration| (migration.version, migration.checksum.to_vec()))
            .unzip();
        // `history` is a validated identifier.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {} SELECT legacy.* FROM {LEGACY_HISTORY} legacy
             JOIN UNNEST($1::bigint[], $2::bytea[]) AS mine(version, checksum)
               ON legacy.version = mine.version AND legacy.checksum = mine.checksum
             ON CONFLICT DO NOTHING",
            self.history
        )))
        .bind(&versions)
        .bind(&checksums)
        .execute(&mut *connection)
        .await?;
        Ok(())
    }
}
