//! The shop through the real pipeline (Apache Kafka and PostgreSQL): commands through its
//! gateway, events on its topics, the order saga across its two aggregates, rows in its read
//! tables read with consistency tokens, and its own migrations applied without the bank's.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use tributary_domain::Domain;
use tributary_shop::Shop;
use tributary_tests::http::post_json;
use tributary_tests::pipeline::TestPipeline;
use tributary_tests::process::ServiceProcess;

const PRODUCER: &str = env!("CARGO_BIN_EXE_shop-producer");
const PROJECTOR: &str = env!("CARGO_BIN_EXE_shop-projector");

/// Sends `command` to aggregate `id` of `aggregate` through the gateway; returns the status
/// and the body.
async fn send(
    producer: &ServiceProcess,
    aggregate: &str,
    id: &str,
    command: Value,
) -> (u16, Value) {
    let body = json!({"aggregate": aggregate, "id": id, "command": command});
    let response = post_json(producer.http, "/v1/commands", &body)
        .await
        .unwrap();
    (response.status, response.json())
}

/// Reads `path` from the projector; returns the status and the body.
async fn read(projector: &ServiceProcess, path: &str) -> (u16, Value) {
    let response = projector.get(path).await.unwrap();
    (response.status, response.json())
}

/// Reads order `id` until the saga has decided it (bounded), then returns it.
async fn decided_order(projector: &ServiceProcess, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, order) = read(projector, &format!("/v1/orders/{id}")).await;
        if status == 200 && order["status"] != "placed" {
            return order;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order {id} was not decided within 60 s: {status} {order}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_reserve_stock_through_the_pipeline_and_are_read_with_their_tokens() {
    let pipeline = TestPipeline::create_for("shop", &Shop.aggregate_types(), 2).await;
    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    let mut producer = pipeline.start_producer(PRODUCER, "all", &[]);
    producer.wait_ready(Duration::from_secs(60)).await.unwrap();
    let sku = format!("{}-sku", pipeline.prefix);

    let (status, added) = send(
        &producer,
        "stock-item",
        &sku,
        json!({"type": "AddStock", "quantity": 5}),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    let token = added["consistency_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let (status, stock) = read(&projector, &format!("/v1/stock/{sku}?consistency={token}")).await;
    assert_eq!(status, 200, "{stock}");
    assert_eq!(
        (stock["available"].as_i64(), stock["version"].as_i64()),
        (Some(5), Some(1)),
        "{stock}"
    );

    let (status, refused) = send(
        &producer,
        "stock-item",
        &sku,
        json!({"type": "ReserveStock", "order_id": "o", "quantity": 1}),
    )
    .await;
    assert_eq!(status, 422, "a saga step is refused to clients: {refused}");

    let served = format!("{}-order-1", pipeline.prefix);
    let (status, placed) = send(
        &producer,
        "order",
        &served,
        json!({"type": "PlaceOrder", "sku": sku, "quantity": 3}),
    )
    .await;
    assert_eq!(status, 200, "{placed}");
    let token = placed["consistency_token"].as_str().unwrap().to_owned();
    let (status, order) = read(
        &projector,
        &format!("/v1/orders/{served}?consistency={token}"),
    )
    .await;
    assert_eq!(
        status, 200,
        "the token of the placement is honoured: {order}"
    );
    assert!(order["version"].as_i64() >= Some(1), "{order}");
    assert_eq!(
        decided_order(&projector, &served).await["status"],
        "confirmed"
    );

    let unserved = format!("{}-order-2", pipeline.prefix);
    let (status, placed) = send(
        &producer,
        "order",
        &unserved,
        json!({"type": "PlaceOrder", "sku": sku, "quantity": 4}),
    )
    .await;
    assert_eq!(status, 200, "{placed}");
    let rejected = decided_order(&projector, &unserved).await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    assert_eq!(
        rejected["reason"],
        format!("4 units of {sku} asked for, 2 available")
    );

    let unknown = format!("{}-no-such-sku", pipeline.prefix);
    let orphan = format!("{}-order-3", pipeline.prefix);
    let order = json!({"type": "PlaceOrder", "sku": unknown, "quantity": 1});
    let (status, placed) = send(&producer, "order", &orphan, order).await;
    assert_eq!(status, 200, "{placed}");
    let rejected = decided_order(&projector, &orphan).await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    let (status, none) = read(&projector, &format!("/v1/stock/{unknown}")).await;
    assert_eq!(status, 404, "an item never stocked has no row: {none}");

    let (_, stock) = read(&projector, &format!("/v1/stock/{sku}")).await;
    assert_eq!(
        (stock["available"].as_i64(), stock["reserved"].as_i64()),
        (Some(2), Some(3)),
        "{stock}"
    );
    for aggregate in ["stock-item", "order"] {
        let ends = pipeline.end_offsets(&pipeline.topology.events(aggregate));
        assert!(
            ends.values().sum::<i64>() > 0,
            "events on the {aggregate} topic"
        );
    }

    let pool = pipeline.pool().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
    )
    .bind(&pipeline.schema)
    .fetch_all(&pool)
    .await
    .unwrap();
    for table in [
        "orders",
        "stock_levels",
        "_tributary_shop_migrations",
        "_tributary_engine_migrations",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing from {tables:?}"
        );
    }
    for table in ["accounts", "users", "_tributary_bank_migrations"] {
        assert!(
            !tables.iter().any(|t| t == table),
            "the bank's {table} is in {tables:?}"
        );
    }

    producer
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pool).await;
}
