//! The database the suite runs against: reachable at `DATABASE_URL` (default the local test
//! database the scripts create), a PostgreSQL recent enough for the SQL the projector uses,
//! with the databases the scripts promise.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tributary_tests::database_url;

#[tokio::test]
async fn postgres_is_reachable_recent_and_has_the_pipeline_databases() {
    let url = database_url();
    let mut connection = PgConnection::connect(&url).await.unwrap_or_else(|error| {
        panic!("cannot connect to {url}: {error}; run scripts/postgres.sh start")
    });
    let version: i32 = sqlx::query_scalar("select current_setting('server_version_num')::int")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(version >= 130_000, "PostgreSQL {version} is older than 13");
    let databases: Vec<String> =
        sqlx::query_scalar("select datname::text from pg_database order by 1")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    for wanted in ["tributary", "tributary_test"] {
        assert!(
            databases.iter().any(|d| d == wanted),
            "database {wanted} is missing from {databases:?}"
        );
    }
}
