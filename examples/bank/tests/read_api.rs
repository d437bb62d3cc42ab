//! The read API against a real PostgreSQL (`DATABASE_URL`, by default the local test
//! database): rows are inserted straight into the read tables and `projector_offsets`, and
//! commits are imitated with the same `pg_notify` a projector commit sends, so each test
//! controls exactly what the projection "has committed" and when.
//!
//! Every test works in a schema of its own, dropped at the end, so tests run in parallel.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tributary_projector::read_api::{ReadApi, ReadApiSettings};
use tributary_runtime::Shutdown;
use tributary_store::database;
use tributary_store::offsets;

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/tributary_test";
const PROJECTION: &str = "bank";
const TOPIC: &str = "bank.accounts";
/// Long enough that a read answered in [`PROMPTLY`] was answered by a commit, not a timeout.
const LONG_BOUND: Duration = Duration::from_secs(30);
/// How long a read that should be answered at once (or on a commit) may take.
const PROMPTLY: Duration = Duration::from_secs(5);

/// A fresh, migrated schema of the test database.
struct TestDb {
    pool: PgPool,
    schema: String,
}

impl TestDb {
    async fn new() -> Self {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
        let schema = format!("read_api_{}", uuid::Uuid::new_v4().simple());
        let pool = database::connect(&url, &schema, "read-api-test", 4)
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        tributary_projector::migrate(
            &pool,
            &schema,
            Some(&tributary_bank::read_model::read_model_migrations()),
        )
        .await
        .unwrap_or_else(|error| panic!("{error}"));
        Self { pool, schema }
    }

    fn api(&self, wait_bound: Duration) -> ReadApi {
        let settings = ReadApiSettings {
            projection: PROJECTION.to_owned(),
            schema: self.schema.clone(),
            topics: vec![TOPIC.to_owned()],
            wait_bound,
        };
        ReadApi::new(self.pool.clone(), settings)
    }

    async fn drop_schema(self) {
        let sql = format!("DROP SCHEMA {} CASCADE", self.schema);
        sqlx::query(AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .unwrap();
        self.pool.close().await;
    }

    async fn insert_account(&self, account_id: &str, balance: i64, version: i64) {
        insert_account(&self.pool, account_id, balance, version).await;
    }

    async fn insert_ledger_entry(&self, version: i64, kind: &str, amount: i64, balance: i64) {
        sqlx::query(
            "INSERT INTO account_ledger
                 (account_id, version, kind, amount, balance_after, transfer_id, reference, occurred_at)
             VALUES ('acc-1', $1, $2, $3, $4, NULLIF($2, 'deposit') || '-t', 'ref', '2024-05-01T12:00:00Z')",
        )
        .bind(version)
        .bind(kind)
        .bind(amount)
        .bind(balance)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn insert_user(&self) {
        sqlx::query(
            "INSERT INTO users (user_id, status, email, pending_email, refusal, display_name, version, updated_at)
             VALUES ('user-1', 'registered', 'ann@example.com', NULL, NULL, 'Ann', 2, '2024-05-01T12:00:00.5+02:00')",
        )
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn insert_transfer(&self) {
        sqlx::query(
            "INSERT INTO transfers (transfer_id, source_account_id, target_account_id, amount,
                                    currency, status, failure_reason, compensated, version, updated_at)
             VALUES ('tr-1', 'acc-1', 'acc-2', 250, 'EUR', 'failed', 'target closed', true, 4,
                     '2024-05-02T08:30:00Z')",
        )
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// Records that the projection has committed `TOPIC`/`partition` up to `next_offset`,
    /// without telling anyone (as if the notification were lost).
    async fn set_offset(&self, partition: i32, next_offset: i64) {
        set_offset(&self.pool, partition, next_offset).await;
    }

    /// What a projector commit does: in one transaction, the read-table change, the offset,
    /// and the notification.
    async fn commit(&self, partition: i32, next_offset: i64, account_id: &str) {
        let mut transaction = self.pool.begin().await.unwrap();
        insert_account(&mut *transaction, account_id, 100, 1).await;
        set_offset(&mut *transaction, partition, next_offset).await;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(offsets::progress_channel(&self.schema))
            .bind(offsets::progress_payload(
                PROJECTION,
                TOPIC,
                partition,
                next_offset,
            ))
            .execute(&mut *transaction)
            .await
            .unwrap();
        transaction.commit().await.unwrap();
    }
}

async fn insert_account<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    account_id: &str,
    balance: i64,
    version: i64,
) {
    sqlx::query(
        "INSERT INTO accounts (account_id, owner_id, currency, balance, status, version, updated_at)
         VALUES ($1, 'user-1', 'EUR', $2, 'open', $3, '2024-05-01T12:00:00.123Z')",
    )
    .bind(account_id)
    .bind(balance)
    .bind(version)
    .execute(executor)
    .await
    .unwrap();
}

async fn set_offset<'e>(executor: impl sqlx::PgExecutor<'e>, partition: i32, next_offset: i64) {
    sqlx::query(
        "INSERT INTO projector_offsets (projection, topic, partition, next_offset)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (projection, topic, partition)
         DO UPDATE SET next_offset = EXCLUDED.next_offset, committed_at = now()",
    )
    .bind(PROJECTION)
    .bind(TOPIC)
    .bind(partition)
    .bind(next_offset)
    .execute(executor)
    .await
    .unwrap();
}

/// GET `uri` from the router; the status and the JSON body.
async fn get(router: &Router, uri: &str) -> (StatusCode, Value) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|error| panic!("{uri}: body is not JSON ({error}): {body:?}"));
    (status, json)
}

/// Fails the test if `future` takes longer than `limit`.
async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {limit:?}"))
}

/// Waits (bounded) until `condition` holds.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < PROMPTLY, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn each_resource_is_served_as_json() {
    let db = TestDb::new().await;
    db.insert_account("acc-1", 700, 3).await;
    db.insert_ledger_entry(1, "deposit", 1000, 1000).await;
    db.insert_ledger_entry(2, "transfer_debit", -250, 750).await;
    db.insert_ledger_entry(3, "withdrawal", -50, 700).await;
    db.insert_user().await;
    db.insert_transfer().await;
    let router = db
        .api(LONG_BOUND)
        .router(tributary_bank::read_api::routes());

    let (status, account) = get(&router, "/v1/accounts/acc-1").await;
    assert_eq!(status, StatusCode::OK);
    let expected = json!({
        "account_id": "acc-1", "owner_id": "user-1", "currency": "EUR", "balance": 700,
        "status": "open", "version": 3, "updated_at": "2024-05-01T12:00:00.123000Z",
    });
    assert_eq!(account, expected);

    let (status, ledger) = get(&router, "/v1/accounts/acc-1/ledger").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ledger["account_id"], "acc-1");
    let entries = ledger["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let expected = json!({
        "version": 2, "kind": "transfer_debit", "amount": -250, "balance_after": 750,
        "transfer_id": "transfer_debit-t", "reference": "ref",
        "occurred_at": "2024-05-01T12:00:00.000000Z",
    });
    assert_eq!(entries[1], expected);
    assert_eq!(entries[0]["transfer_id"], Value::Null);

    let (status, page) = get(&router, "/v1/accounts/acc-1/ledger?after_version=1&limit=1").await;
    assert_eq!(status, StatusCode::OK);
    let versions: Vec<&Value> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["version"])
        .collect();
    assert_eq!(versions, [&json!(2)]);

    let (status, user) = get(&router, "/v1/users/user-1").await;
    assert_eq!(status, StatusCode::OK);
    let expected = json!({
        "user_id": "user-1", "status": "registered", "email": "ann@example.com",
        "pending_email": null, "refusal": null, "display_name": "Ann", "version": 2,
        "updated_at": "2024-05-01T10:00:00.500000Z",
    });
    assert_eq!(user, expected);
    let (status, by_email) = get(&router, "/v1/users/by-email/%20Ann@Example.COM").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_email, expected);

    let (status, transfer) = get(&router, "/v1/transfers/tr-1").await;
    assert_eq!(status, StatusCode::OK);
    let expected = json!({
        "transfer_id": "tr-1", "source_account_id": "acc-1", "target_account_id": "acc-2",
        "amount": 250, "currency": "EUR", "status": "failed", "failure_reason": "target closed",
        "compensated": true, "version": 4, "updated_at": "2024-05-02T08:30:00.000000Z",
    });
    assert_eq!(transfer, expected);

    db.drop_schema().await;
}

#[tokio::test]
async fn unknown_ids_answer_404_naming_them() {
    let db = TestDb::new().await;
    let router = db
        .api(LONG_BOUND)
        .router(tributary_bank::read_api::routes());
    let cases = [
        ("/v1/accounts/acc-1", "account acc-1 not found"),
        ("/v1/accounts/acc-1/ledger", "account acc-1 not found"),
        ("/v1/users/user-9", "user user-9 not found"),
        (
            "/v1/users/by-email/Nobody@Example.com",
            "no user has e-mail address nobody@example.com",
        ),
        ("/v1/transfers/tr-9", "transfer tr-9 not found"),
    ];
    for (uri, message) in cases {
        let (status, body) = get(&router, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body, json!({ "error": message }), "{uri}");
    }
    db.drop_schema().await;
}

#[tokio::test]
async fn malformed_requests_answer_400_naming_what_is_wrong() {
    let db = TestDb::new().await;
    db.insert_account("acc-1", 700, 3).await;
    let router = db
        .api(LONG_BOUND)
        .router(tributary_bank::read_api::routes());

    let (status, body) = get(&router, "/v1/accounts/acc-1?consistency=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let expected = "consistency token \"x\" is not <topic>:<partition>:<offset>";
    assert_eq!(body, json!({ "error": expected }));

    let (status, body) = get(&router, "/v1/transfers/tr-1?consistency=t:0:minus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("offset \"minus\""));

    let (status, body) = get(&router, "/v1/accounts/acc-1/ledger?limit=5000").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("limit=5000"));

    let (status, body) = get(&router, "/v1/accounts/acc-1/ledger?after_version=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("after_version"));

    db.drop_schema().await;
}

#[tokio::test]
async fn a_token_of_a_topic_the_projection_does_not_read_answers_422_at_once() {
    let db = TestDb::new().await;
    db.insert_account("acc-1", 700, 3).await;
    let router = db
        .api(LONG_BOUND)
        .router(tributary_bank::read_api::routes());
    let uri = "/v1/accounts/acc-1?consistency=bank.email-claim.events:3:7";
    let (status, body) = within(PROMPTLY, "the refused read", get(&router, uri)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let error = body["error"].as_str().unwrap();
    for part in ["bank.email-claim.events", "does not read", TOPIC] {
        assert!(error.contains(part), "{part:?} not in {error:?}");
    }
    db.drop_schema().await;
}

#[tokio::test]
async fn a_token_already_committed_is_answered_at_once() {
    let db = TestDb::new().await;
    db.insert_account("acc-1", 700, 3).await;
    db.set_offset(0, 43).await;
    // No listener: the committed offset is found in the table.
    let router = db
        .api(LONG_BOUND)
        .router(tributary_bank::read_api::routes());

    let uri = format!("/v1/accounts/acc-1?consistency={TOPIC}:0:42");
    let (status, body) = within(PROMPTLY, "a satisfied read", get(&router, &uri)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["account_id"], "acc-1");

    db.drop_schema().await;
}

#[tokio::test]
async fn a_token_committed_later_wakes_the_waiting_read() {
    let db = TestDb::new().await;
    db.set_offset(0, 42).await;
    let api = db.api(LONG_BOUND);
    let shutdown = Shutdown::new();
    let listener = api.start(shutdown.clone()).await.unwrap();
    let router = api.router(tributary_bank::read_api::routes());

    let uri = format!("/v1/accounts/acc-7?consistency={TOPIC}:0:42");
    let read = tokio::spawn(async move { get(&router, &uri).await });
    until("the read waiting", || api.waiting_reads() == 1).await;
    db.commit(0, 43, "acc-7").await;

    let (status, body) = within(PROMPTLY, "the woken read", read).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account_id"], "acc-7");
    assert_eq!(api.waiting_reads(), 0);

    shutdown.trigger();
    within(PROMPTLY, "the listener stopping", listener)
        .await
        .unwrap();
    db.drop_schema().await;
}

#[tokio::test]
async fn commits_missed_while_the_listener_was_disconnected_are_read_from_the_table() {
    let db = TestDb::new().await;
    db.set_offset(0, 10).await;
    let api = db.api(LONG_BOUND);
    let shutdown = Shutdown::new();
    let _listener = api.start(shutdown.clone()).await.unwrap();
    let router = api.router(tributary_bank::read_api::routes());

    db.insert_account("acc-1", 700, 3).await;
    let uri = format!("/v1/accounts/acc-1?consistency={TOPIC}:0:20");
    let read = tokio::spawn(async move { get(&router, &uri).await });
    until("the read waiting", || api.waiting_reads() == 1).await;
    // Committed without a notification, then the listener's connection is cut: only the
    // re-read after reconnecting can wake the read.
    db.set_offset(0, 21).await;
    let channel = offsets::progress_channel(&db.schema);
    let terminated: i64 = sqlx::query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE query LIKE 'LISTEN%' AND query LIKE '%' || $1 || '%'",
    )
    .bind(&channel)
    .fetch_one(&db.pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(terminated, 1, "the listener's connection");

    let (status, body) = within(PROMPTLY, "the read after reconnecting", read)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");

    shutdown.trigger();
    db.drop_schema().await;
}

#[tokio::test]
async fn a_token_never_reached_answers_503_within_the_bound() {
    let db = TestDb::new().await;
    db.insert_account("acc-1", 700, 3).await;
    db.set_offset(0, 10).await;
    let bound = Duration::from_millis(300);
    let api = db.api(bound);
    let shutdown = Shutdown::new();
    let _listener = api.start(shutdown.clone()).await.unwrap();
    let router = api.router(tributary_bank::read_api::routes());

    let started = Instant::now();
    let uri = format!("/v1/accounts/acc-1?consistency={TOPIC}:0:42");
    let (status, body) = within(PROMPTLY, "the timed-out read", get(&router, &uri)).await;
    assert!(started.elapsed() >= bound);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["projection"], PROJECTION);
    assert_eq!(body["topic"], TOPIC);
    assert_eq!(body["partition"], 0);
    assert_eq!(body["committed_next_offset"], 10);
    assert_eq!(body["wanted_offset"], 42);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("up to offset 9") && error.contains("retry"),
        "{error}"
    );

    let uri = format!("/v1/users/user-1?consistency={TOPIC}:5:0");
    let (status, body) = within(PROMPTLY, "the timed-out read", get(&router, &uri)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["committed_next_offset"], Value::Null);
    assert_eq!(body["wanted_offset"], 0);

    shutdown.trigger();
    db.drop_schema().await;
}

#[tokio::test]
async fn the_api_and_its_openapi_document_are_served_over_http() {
    let db = TestDb::new().await;
    db.insert_account("acc-1", 700, 3).await;
    db.set_offset(0, 1).await;
    let router = db
        .api(LONG_BOUND)
        .router(tributary_bank::read_api::routes());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let uri = format!("/v1/accounts/acc-1?consistency={TOPIC}:0:0");
    let (status, body) = within(PROMPTLY, "GET over HTTP", http_get(address, &uri)).await;
    assert_eq!(status, 200);
    assert_eq!(body["balance"], 700);

    let (status, document) = within(
        PROMPTLY,
        "GET /openapi.json",
        http_get(address, "/openapi.json"),
    )
    .await;
    assert_eq!(status, 200);
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/v1/accounts/{id}",
        "/v1/accounts/{id}/ledger",
        "/v1/users/{id}",
        "/v1/users/by-email/{email}",
        "/v1/transfers/{id}",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }

    server.abort();
    db.drop_schema().await;
}

/// `GET uri` over HTTP: the status code and the JSON body.
async fn http_get(address: std::net::SocketAddr, uri: &str) -> (u16, Value) {
    let answer = tributary_tests::http::get(address, uri).await.unwrap();
    (answer.status, answer.json())
}
