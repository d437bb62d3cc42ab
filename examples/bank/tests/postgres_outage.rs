//! A PostgreSQL outage under a running projector (a separate process, against the real broker
//! and PostgreSQL): while events keep arriving, every connection the projector holds is
//! terminated again and again. The projector reports itself unready and counts the failures,
//! retries its batches rather than skipping them, and once the database serves it again it
//! catches up by itself: the read tables equal an independent fold of every event, and the
//! stored offsets reach the partitions' ends.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tributary_projector::metrics::names::TRANSIENT_FAILURES_TOTAL;
use tributary_tests::bank_events::{AccountWorkload, RawRecord, assert_tables_match, produce};
use tributary_tests::metrics;
use tributary_tests::pipeline::{TestPipeline, committed, wait_for_catch_up};
use tributary_tests::producer;

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");
/// How long PostgreSQL keeps terminating the projector's connections.
const OUTAGE: Duration = Duration::from_secs(6);
/// How often it terminates them.
const KILL_EVERY: Duration = Duration::from_millis(100);

fn transient_failures(exposition: &str) -> f64 {
    metrics::sum(exposition, TRANSIENT_FAILURES_TOTAL, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_retried_never_skipped_and_recovers_by_itself() {
    let pipeline = TestPipeline::create("outage", 4).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, 300, 12_000, 31);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    let mut chunks = records.chunks(500);

    let instance = format!("outage-{}", uuid::Uuid::new_v4().simple());
    let application_name = format!("tributary-projector {instance}");
    // Retries pause at most half a second, so recovery is not waiting out a long backoff.
    let mut projector = pipeline.start_projector(
        PROJECTOR,
        &[
            ("PROJECTOR_INSTANCE_ID", &instance),
            ("PROJECTOR_RETRY_MAX_BACKOFF_MS", "500"),
        ],
    );
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    let pool = pipeline.pool().await;
    let producer = producer(&[]);
    produce(&producer, &topic, chunks.next().unwrap()).await;

    let metrics = projector.get("/metrics").await.unwrap().body;
    let failures_before = transient_failures(&metrics);

    // The outage: the test's own connection terminates the projector's, and nobody else's.
    let outage_over = Arc::new(AtomicBool::new(false));
    let killer = {
        let pool = pool.clone();
        let application_name = application_name.clone();
        let outage_over = Arc::clone(&outage_over);
        tokio::spawn(async move {
            let until = tokio::time::Instant::now() + OUTAGE;
            let mut terminated = 0_i64;
            while tokio::time::Instant::now() < until {
                let killed: i64 = sqlx::query_scalar(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
                     FROM pg_stat_activity WHERE application_name = $1",
                )
                .bind(&application_name)
                .fetch_one(&pool)
                .await
                .unwrap();
                terminated += killed;
                tokio::time::sleep(KILL_EVERY).await;
            }
            outage_over.store(true, Ordering::SeqCst);
            terminated
        })
    };

    // Meanwhile events keep coming, paced over the outage so there is always work to fail,
    // and the projector must say that it cannot work.
    let started = tokio::time::Instant::now();
    let pace = OUTAGE / 16;
    let mut produced_during = 0;
    let (mut unready_seen, mut readyz_polls) = (0, 0);
    let mut failures_during = failures_before;
    while !outage_over.load(Ordering::SeqCst) {
        if started.elapsed() >= pace * produced_during
            && let Some(chunk) = chunks.next()
        {
            produce(&producer, &topic, chunk).await;
            produced_during += 1;
        }
        readyz_polls += 1;
        if let Ok(answer) = projector.get("/readyz").await
            && answer.status == 503
        {
            unready_seen += 1;
        }
        if let Ok(answer) = projector.get("/metrics").await
            && answer.status == 200
        {
            failures_during = failures_during.max(transient_failures(&answer.body));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let terminated = killer.await.unwrap();
    assert!(
        terminated > 0,
        "no connection of {application_name} was terminated"
    );
    assert!(
        unready_seen > 0,
        "/readyz never answered 503 in {readyz_polls} polls during the outage, in which {terminated} connections were terminated"
    );
    assert!(
        failures_during > failures_before,
        "tributary_projector_transient_failures_total did not increase during the outage ({failures_before} before, {terminated} connections terminated)"
    );

    // After it, the projector recovers by itself.
    for chunk in chunks {
        produce(&producer, &topic, chunk).await;
    }
    let ends = pipeline.end_offsets(&topic);
    assert_eq!(ends.values().sum::<i64>(), records.len() as i64);
    wait_for_catch_up(&pool, "bank", &topic, &ends, Duration::from_secs(90)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = projector.get("/readyz").await.unwrap();
        if answer.status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz still {} after catching up: {}\n{}",
            answer.status,
            answer.body,
            projector.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_tables_match(&pool, &workload).await;
    let offsets = committed(&pool, "bank").await;
    for (partition, end) in &ends {
        assert_eq!(
            offsets.get(&(topic.clone(), *partition)),
            Some(end),
            "partition {partition}"
        );
    }
    let metrics = projector.get("/metrics").await.unwrap().body;
    assert!(transient_failures(&metrics) >= failures_during);

    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pool).await;
}
