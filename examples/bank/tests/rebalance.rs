//! Partitions moving between projector processes never cost exactness: workers joining and
//! leaving a consumer group while events stream in leave the read tables equal to an
//! independent fold of the events, with no stored offset ever moving backwards; and a worker
//! frozen past its session timeout, whose partitions were claimed by another meanwhile, has
//! its stale batch refused when it wakes up — counted, logged, and nothing of it written.
//!
//! The frozen worker's partitions go to the survivor alone: once the frozen member's session
//! expires, the group coordinator removes it and rebalances, and the survivor is assigned
//! every partition; nobody has to join for that to happen.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use sqlx::postgres::PgPool;
use tributary_tests::bank_events::{AccountWorkload, RawRecord, assert_tables_match};
use tributary_tests::failures::{
    ChunkedProduction, OffsetRow, OffsetWatch, assert_offsets_at_ends, offset_rows,
};
use tributary_tests::pipeline::{
    TestPipeline, assert_markers_monotonic, committed, read_markers, wait_for_catch_up,
};
use tributary_tests::process::ServiceProcess;

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");
const PROJECTION: &str = "bank";
const REBALANCES: &str = tributary_projector::metrics::names::REBALANCES_TOTAL;
const STALE_REFUSED: &str = tributary_projector::metrics::names::STALE_COMMITS_REFUSED_TOTAL;

/// Polls `condition` every 50 ms until it holds, failing with `what` after `timeout`.
async fn eventually<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The partitions `instance` holds according to the offset store.
fn held_by(rows: &BTreeMap<i32, OffsetRow>, instance: &str) -> BTreeSet<i32> {
    rows.iter()
        .filter(|(_, row)| row.owner == instance)
        .map(|(partition, _)| *partition)
        .collect()
}

async fn stop_gracefully(projector: &mut ServiceProcess, name: &str) {
    projector.signal("TERM").unwrap();
    let code = projector.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(
        code,
        Some(0),
        "{name} did not exit cleanly within its grace:\n{}",
        projector.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_joining_and_leaving_mid_stream_keep_the_result_exact() {
    let started = Instant::now();
    let pipeline = TestPipeline::create("rebalance", 8).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, 4_000, 100_000, 23);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    let pool = pipeline.pool().await;
    let watch = OffsetWatch::start(&pool, PROJECTION, &topic);
    let settings = |instance: &'static str| {
        [
            ("PROJECTOR_INSTANCE_ID", instance),
            ("SHUTDOWN_GRACE_MS", "10000"),
        ]
    };

    // 40 chunks of 2,500 events, produced as fast as the broker takes them, in three
    // stretches: before the others join, while they join, after one leaves.
    let mut production = ChunkedProduction::start(&topic, records, 2_500, Duration::ZERO, 10);
    let mut first = pipeline.start_projector(PROJECTOR, &settings("r1"));
    first.wait_ready(Duration::from_secs(60)).await.unwrap();
    production.wait_produced(4, Duration::from_secs(60)).await;

    production.allow(26);
    let mut second = pipeline.start_projector(PROJECTOR, &settings("r2"));
    let mut third = pipeline.start_projector(PROJECTOR, &settings("r3"));
    eventually(
        Duration::from_secs(60),
        "the partitions spread over all three instances",
        || async {
            let rows = offset_rows(&pool, PROJECTION, &topic).await;
            ["r1", "r2", "r3"]
                .iter()
                .all(|instance| !held_by(&rows, instance).is_empty())
        },
    )
    .await;
    eprintln!("spread after {:?}", started.elapsed());

    production.wait_produced(16, Duration::from_secs(60)).await;
    let left_behind = held_by(&offset_rows(&pool, PROJECTION, &topic).await, "r2");
    stop_gracefully(&mut second, "r2").await;
    eprintln!(
        "r2 left after {:?} at chunk {} of {}",
        started.elapsed(),
        production.produced(),
        production.chunks()
    );
    assert!(
        production.produced() < production.chunks(),
        "events keep arriving after r2 left"
    );

    production.finish(Duration::from_secs(120)).await;
    let ends = pipeline.end_offsets(&topic);
    assert_eq!(ends.values().sum::<i64>(), 100_000);
    wait_for_catch_up(&pool, PROJECTION, &topic, &ends, Duration::from_secs(240)).await;
    eprintln!("caught up after {:?}", started.elapsed());

    let report = watch.finish().await;
    report.assert_monotonic();
    assert!(
        !report.moved_partitions().is_empty(),
        "no partition changed hands: {:?}",
        report.owners
    );
    let rows = offset_rows(&pool, PROJECTION, &topic).await;
    for partition in &left_behind {
        assert_ne!(
            rows[partition].owner, "r2",
            "partition {partition} was not taken over after r2 left"
        );
    }
    assert!(
        first.metric(REBALANCES).await.unwrap() >= 3.0,
        "r1 saw fewer rebalances than the joins and the departure cause"
    );
    assert_tables_match(&pool, &workload).await;
    assert_offsets_at_ends(&pool, PROJECTION, &topic, &ends).await;

    stop_gracefully(&mut first, "r1").await;
    stop_gracefully(&mut third, "r3").await;
    pipeline.drop_schema(&pool).await;
}

/// Offsets of `partitions` as stored now.
async fn stored(pool: &PgPool, topic: &str, partitions: &BTreeSet<i32>) -> BTreeMap<i32, i64> {
    let all = committed(pool, PROJECTION).await;
    partitions
        .iter()
        .map(|p| (*p, all.get(&(topic.to_owned(), *p)).copied().unwrap_or(0)))
        .collect()
}

fn ends_of(pipeline: &TestPipeline, topic: &str, partitions: &BTreeSet<i32>) -> BTreeMap<i32, i64> {
    let ends = pipeline.end_offsets(topic);
    partitions.iter().map(|p| (*p, ends[p])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_paused_past_its_session_timeout_cannot_commit_its_stale_batch() {
    let started = Instant::now();
    let pipeline = TestPipeline::create("stale", 4).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, 400, 8_000, 29);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    let pool = pipeline.pool().await;
    let watch = OffsetWatch::start(&pool, PROJECTION, &topic);

    // A short session lets the group expel the frozen member within seconds, and a short
    // heartbeat lets the survivor notice each rebalance within one; both get the same.
    let session = [
        ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
        ("KAFKA_HEARTBEAT_INTERVAL_MS", "1000"),
    ];
    let with = |instance: &'static str, extra: &[(&'static str, &'static str)]| {
        let mut env = vec![("PROJECTOR_INSTANCE_ID", instance)];
        env.extend_from_slice(&session);
        env.extend_from_slice(extra);
        env
    };
    // A keeps a batch open for 5 s after its first record, far longer than a fetch takes.
    let slow_batches = [
        ("PROJECTOR_BATCH_MAX_WAIT_MS", "5000"),
        ("PROJECTOR_BATCH_MAX_EVENTS", "100000"),
    ];

    // A trickle of 40 events every 100 ms; 150 of the 200 chunks may go before the test
    // holds production back.
    let mut production =
        ChunkedProduction::start(&topic, records, 40, Duration::from_millis(100), 150);
    let mut b = pipeline.start_projector(PROJECTOR, &with("b", &[]));
    b.wait_ready(Duration::from_secs(60)).await.unwrap();
    let mut a = pipeline.start_projector(PROJECTOR, &with("a", &slow_batches));
    eventually(
        Duration::from_secs(60),
        "a and b to share the partitions",
        || async {
            let rows = offset_rows(&pool, PROJECTION, &topic).await;
            !held_by(&rows, "a").is_empty() && !held_by(&rows, "b").is_empty()
        },
    )
    .await;
    let a_partitions = held_by(&offset_rows(&pool, PROJECTION, &topic).await, "a");
    eprintln!(
        "a holds {a_partitions:?} after {:?}; {} chunks produced",
        started.elapsed(),
        production.produced()
    );

    // The moment: with production held, let A commit everything it has; then send new
    // records to A's partitions, give A time to fetch them, and freeze it while the batch
    // holding them waits for its time bound.
    production.hold(Duration::from_secs(30)).await;
    let before_burst = ends_of(&pipeline, &topic, &a_partitions);
    eventually(
        Duration::from_secs(30),
        "a to commit what it was sent",
        || async { stored(&pool, &topic, &a_partitions).await == before_burst },
    )
    .await;
    let mut frozen_ends = before_burst.clone();
    while frozen_ends == before_burst {
        production.one_more(Duration::from_secs(30)).await;
        frozen_ends = ends_of(&pipeline, &topic, &a_partitions);
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    a.signal("STOP").unwrap();
    let rows_at_freeze = offset_rows(&pool, PROJECTION, &topic).await;
    let frozen_epochs: BTreeMap<i32, i64> = a_partitions
        .iter()
        .map(|p| (*p, rows_at_freeze[p].epoch))
        .collect();
    assert!(
        a_partitions
            .iter()
            .any(|p| rows_at_freeze[p].next_offset < frozen_ends[p]),
        "a committed its batch before it was frozen: {rows_at_freeze:?}, ends {frozen_ends:?}"
    );
    eprintln!("a frozen after {:?}", started.elapsed());
    production.allow(production.produced() + 30);

    // The group notices A's silence after the session timeout: B rebalances.
    let rebalances_at_freeze = b.metric(REBALANCES).await.unwrap();
    eventually(
        Duration::from_secs(60),
        "b to rebalance after a's session expired",
        || async { b.metric(REBALANCES).await.unwrap() >= rebalances_at_freeze + 2.0 },
    )
    .await;
    eprintln!("a's session expired after {:?}", started.elapsed());
    eventually(
        Duration::from_secs(90),
        "a's partitions to be claimed by b and committed past a's batch",
        || async {
            let rows = offset_rows(&pool, PROJECTION, &topic).await;
            a_partitions.iter().all(|p| {
                rows[p].owner == "b"
                    && rows[p].epoch > frozen_epochs[p]
                    && rows[p].next_offset >= frozen_ends[p]
            })
        },
    )
    .await;
    eprintln!("a's partitions taken over after {:?}", started.elapsed());

    a.signal("CONT").unwrap();
    eventually(
        Duration::from_secs(60),
        "a to report its stale batch refused",
        || async { a.metric(STALE_REFUSED).await.unwrap() >= 1.0 },
    )
    .await;
    assert!(
        a.log_text().contains("stale batch refused"),
        "a's log does not report the refusal:\n{}",
        a.log_tail()
    );
    eprintln!("stale batch refused after {:?}", started.elapsed());

    production.finish(Duration::from_secs(120)).await;
    let ends = pipeline.end_offsets(&topic);
    assert_eq!(ends.values().sum::<i64>(), 8_000);
    wait_for_catch_up(&pool, PROJECTION, &topic, &ends, Duration::from_secs(120)).await;

    let report = watch.finish().await;
    report.assert_monotonic();
    assert_tables_match(&pool, &workload).await;
    assert_offsets_at_ends(&pool, PROJECTION, &topic, &ends).await;

    // Markers, including a's after it woke up and lost its partitions, never went back.
    stop_gracefully(&mut a, "a").await;
    stop_gracefully(&mut b, "b").await;
    let markers = read_markers(&pipeline, "the final marker of every partition", |read| {
        ends.iter().all(|(partition, end)| {
            read.iter()
                .any(|m| m.partition == *partition && m.next_offset == *end)
        })
    });
    assert_markers_monotonic(&markers);
    pipeline.drop_schema(&pool).await;
}
