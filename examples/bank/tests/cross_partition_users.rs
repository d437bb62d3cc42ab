//! A read model never refuses a valid event because another partition lags. Against the real
//! broker and PostgreSQL: user A registers with an address on one partition (among 2,000 other
//! users' registrations); user B, on another partition, registers with the same address once
//! A has moved away from it — but A's move is projected only later, as when A's partition lags
//! (routinely during a rebuild from offset 0). The lag is made certain by producing A's move
//! only after B's registration was projected. Nothing is dead-lettered, the lookup by address
//! answers B (the later holder) while A still shows the address, and `users` equals the fold
//! of the log once both partitions are in.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::PgPool;
use tributary_bank::records::user::{UserEmailChanged, UserEvent, UserRegistered};
use tributary_tests::bank_events::{RawRecord, id_on_partition, produce};
use tributary_tests::failures::parked_rows;
use tributary_tests::pipeline::{TestPipeline, wait_for_catch_up};
use tributary_tests::process::ServiceProcess;
use tributary_tests::producer;

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");
const PARTITIONS: i32 = 2;
const FILLER: usize = 2_000;
const T0: i64 = 1_790_000_000_000;
const CATCH_UP: Duration = Duration::from_secs(120);

fn registered(email: &str, name: &str) -> UserEvent {
    UserRegistered {
        email: email.to_owned(),
        display_name: name.to_owned(),
    }
    .into()
}

/// Produces `records` to the users topic and waits until the projector has committed them.
async fn project(pipeline: &TestPipeline, pool: &PgPool, records: &[RawRecord]) {
    let topic = pipeline.topology.events("user");
    produce(&producer(&[]), &topic, records).await;
    let ends = pipeline.end_offsets(&topic);
    wait_for_catch_up(pool, "bank", &topic, &ends, CATCH_UP).await;
}

async fn users(pool: &PgPool) -> BTreeMap<String, String> {
    sqlx::query_as::<_, (String, String)>("SELECT user_id, email FROM users")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The user ID the read API answers for `address`.
async fn holder(projector: &ServiceProcess, address: &str) -> String {
    let (status, body) = projector
        .get(&format!("/v1/users/by-email/{address}"))
        .await
        .unwrap()
        .status_and_body();
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    view["user_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_taken_over_across_partitions_is_never_dead_lettered() {
    let pipeline = TestPipeline::create("users-across", PARTITIONS).await;
    let prefix = &pipeline.prefix;
    let address = format!("{}@example.org", prefix.replace('.', "-"));
    let (a, b) = (
        id_on_partition(&format!("{prefix}-a"), 0, PARTITIONS),
        id_on_partition(&format!("{prefix}-b"), 1, PARTITIONS),
    );
    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    let pool = pipeline.pool().await;

    // A registers with the address, among other users.
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut first = vec![RawRecord::at_version(
        &a,
        1,
        T0,
        &registered(&address, "Ann"),
    )];
    for index in 0..FILLER {
        let id = id_on_partition(
            &format!("{prefix}-u{index}"),
            index as i32 % PARTITIONS,
            PARTITIONS,
        );
        let email = format!("u{index}-{address}");
        first.push(RawRecord::at_version(
            &id,
            1,
            T0,
            &registered(&email, "filler"),
        ));
        expected.insert(id, email);
    }
    project(&pipeline, &pool, &first).await;
    assert_eq!(holder(&projector, &address).await, a);

    // B registers with it after A moved away; A's partition has not got that far yet.
    let b_registered = RawRecord::at_version(&b, 1, T0 + 2, &registered(&address, "Bob"));
    project(&pipeline, &pool, &[b_registered]).await;
    let parked = parked_rows(&pool, "bank").await;
    assert!(parked.is_empty(), "aggregates parked: {parked:?}");
    let shown = users(&pool).await;
    assert_eq!((&shown[&a], &shown[&b]), (&address, &address));
    assert_eq!(holder(&projector, &address).await, b, "the later holder");

    // A's partition catches up.
    let moved_to = format!("new-{address}");
    let change = UserEmailChanged {
        old_email: address.clone(),
        new_email: moved_to.clone(),
    };
    let a_moved = RawRecord::at_version(&a, 2, T0 + 1, &UserEvent::from(change));
    project(&pipeline, &pool, &[a_moved]).await;
    expected.insert(a.clone(), moved_to);
    expected.insert(b.clone(), address.clone());
    let parked = parked_rows(&pool, "bank").await;
    assert!(parked.is_empty(), "aggregates parked: {parked:?}");
    assert!(
        users(&pool).await == expected,
        "users differ from the fold of the log"
    );
    assert_eq!(holder(&projector, &address).await, b);
    projector.kill();
    pipeline.drop_schema(&pool).await;
}
