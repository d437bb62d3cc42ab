//! The migration sets against the real PostgreSQL: the engine's set creates the engine's
//! tables and none of the read model's (what the command side applies); the projector's adds
//! the read tables; and a schema migrated by a build where both sets shared one history
//! (`_sqlx_migrations`) is taken over without running anything twice.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tributary_store::database::{self, migrate_engine};
use tributary_tests::{database_url, repo_root};

/// A pool on a schema of its own.
async fn fresh_schema(name: &str) -> (PgPool, String) {
    let schema = format!("{name}_{}", uuid::Uuid::new_v4().simple());
    let pool = database::connect(&database_url(), &schema, "migrations test", 2)
        .await
        .unwrap();
    (pool, schema)
}

async fn drop_schema(pool: PgPool, schema: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// Whether `table` exists in the pool's schema.
async fn exists(pool: &PgPool, table: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The versions recorded in `history`.
async fn versions(pool: &PgPool, history: &str) -> Vec<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {history} ORDER BY version"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_engine_set_creates_only_the_engine_tables_and_the_projector_adds_its_own() {
    let (pool, schema) = fresh_schema("migrate_sets").await;
    migrate_engine(&pool, &schema).await.unwrap();
    for table in [
        "projector_offsets",
        "parked_aggregates",
        "dead_lettered_records",
        "aggregate_state",
    ] {
        assert!(exists(&pool, table).await, "{table}");
    }
    assert!(
        !exists(&pool, "users").await,
        "the command side got a read table"
    );
    assert_eq!(
        versions(&pool, "_tributary_engine_migrations").await,
        [1, 3, 5, 7]
    );

    tributary_projector::migrate(
        &pool,
        &schema,
        Some(&tributary_bank::read_model::read_model_migrations()),
    )
    .await
    .unwrap();
    tributary_projector::migrate(
        &pool,
        &schema,
        Some(&tributary_bank::read_model::read_model_migrations()),
    )
    .await
    .unwrap();
    for table in ["accounts", "account_ledger", "users", "transfers"] {
        assert!(exists(&pool, table).await, "{table}");
    }
    assert_eq!(
        versions(&pool, "_tributary_bank_migrations").await,
        [2, 4, 6, 8]
    );
    drop_schema(pool, &schema).await;
}

/// Whether `path` is one of the migrations of the builds that kept one shared history
/// (versions 1 to 6).
fn from_the_shared_history(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.split('_')
        .next()
        .and_then(|version| version.parse::<u32>().ok())
        .is_some_and(|version| version <= 6)
}

#[tokio::test]
async fn a_schema_with_the_shared_history_of_earlier_builds_is_taken_over() {
    let (pool, schema) = fresh_schema("migrate_legacy").await;
    // What an earlier build did: every migration it had (versions 1 to 6) in one folder, one
    // history.
    let folder = std::env::temp_dir().join(format!("tributary-legacy-{schema}"));
    std::fs::create_dir_all(&folder).unwrap();
    let root = repo_root();
    for source in ["store/migrations", "examples/bank/migrations"] {
        for entry in std::fs::read_dir(root.join(source)).unwrap() {
            let path = entry.unwrap().path();
            if !from_the_shared_history(&path) {
                continue;
            }
            std::fs::copy(&path, folder.join(path.file_name().unwrap())).unwrap();
        }
    }
    let legacy = Migrator::new(Path::new(&folder)).await.unwrap();
    legacy.run(&pool).await.unwrap();
    std::fs::remove_dir_all(&folder).unwrap();
    assert_eq!(
        versions(&pool, "_sqlx_migrations").await,
        [1, 2, 3, 4, 5, 6]
    );

    // Without taking the history over, the engine's first migration would run again and fail
    // on its existing tables; the migrations added since then run after the adopted ones.
    tributary_projector::migrate(
        &pool,
        &schema,
        Some(&tributary_bank::read_model::read_model_migrations()),
    )
    .await
    .unwrap();
    assert_eq!(
        versions(&pool, "_tributary_engine_migrations").await,
        [1, 3, 5, 7]
    );
    assert_eq!(
        versions(&pool, "_tributary_bank_migrations").await,
        [2, 4, 6, 8]
    );
    drop_schema(pool, &schema).await;
}
