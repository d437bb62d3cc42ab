//! A projector killed with SIGKILL at random moments, over and over, while it works through
//! 200,000 events, loses nothing and applies nothing twice: after the last restart the read
//! tables equal an independent fold of the produced events, the stored offsets are exactly
//! the partitions' ends, and no stored offset ever moved backwards in between.
//!
//! A quarter of the events is produced before the first start and the rest while the
//! projector is being killed and restarted, so kills also land while new records arrive (and
//! production overlaps the work instead of preceding it). Small batches (500 records) keep a
//! transaction in flight most of the time, and every kill waits until the incarnation has
//! committed at least one batch of its own, so kills land mid-work, not during start-up. The
//! moments are random but reproducible (a fixed seed).
//!
//! Each incarnation joins a consumer group of its own. The group's offsets play no part in
//! exactly-once (a worker starts where the offset store says), so this loses nothing, and
//! it spares every restart the wait for the killed member's session to expire (a classic
//! group's rebalance waits for every member it knows, the dead one included).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tributary_tests::bank_events::{AccountWorkload, RawRecord, Rng, assert_tables_match, produce};
use tributary_tests::failures::{OffsetWatch, assert_offsets_at_ends, total};
use tributary_tests::pipeline::{TestPipeline, wait_for_catch_up};
use tributary_tests::producer;

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");

const EVENTS: usize = 200_000;
const ACCOUNTS: usize = 5_000;
/// Events produced before the first start.
const UP_FRONT: usize = EVENTS / 4;
const KILLS: usize = 12;
/// Longest random run after an incarnation's first commit, before its kill.
const MAX_RUN_MS: u64 = 1_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let started = Instant::now();
    let pipeline = TestPipeline::create("crash", 8).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, ACCOUNTS, EVENTS, 41);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    let late: Vec<RawRecord> = records[UP_FRONT..].to_vec();
    let events_producer = producer(&[]);
    produce(&events_producer, &topic, &records[..UP_FRONT]).await;
    eprintln!("produced {UP_FRONT} after {:?}", started.elapsed());

    let pool = pipeline.pool().await;
    let watch = OffsetWatch::start(&pool, "bank", &topic);
    let late_topic = topic.clone();
    let late_production =
        tokio::spawn(async move { produce(&events_producer, &late_topic, &late).await });

    let settings = [("PROJECTOR_BATCH_MAX_EVENTS", "500")];
    let mut rng = Rng::new(0xC4A5_4001);
    let mut kills_mid_work = 0;
    for round in 0..KILLS {
        let before = total(&watch.sample(&pool, "bank", &topic).await.latest);
        if before >= EVENTS as i64 {
            break;
        }
        let group = format!("{}.crash-{round}", pipeline.prefix);
        let mut env = settings.to_vec();
        env.push(("PROJECTOR_GROUP_ID", &group));
        let mut projector = pipeline.start_projector(PROJECTOR, &env);
        // At work: this incarnation has committed a batch of its own.
        let deadline = Instant::now() + Duration::from_secs(60);
        while total(&watch.sample(&pool, "bank", &topic).await.latest) <= before {
            assert!(
                Instant::now() < deadline,
                "incarnation {round} committed nothing within 60 s:\n{}",
                projector.log_tail()
            );
            if let Some(code) = projector.wait_exit(Duration::ZERO).await {
                panic!(
                    "incarnation {round} exited ({code:?}):\n{}",
                    projector.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let at_work = started.elapsed();
        let run = rng.below(MAX_RUN_MS);
        tokio::time::sleep(Duration::from_millis(run)).await;
        projector.kill();
        let report = watch.sample(&pool, "bank", &topic).await;
        report.assert_monotonic();
        let at_kill = total(&report.latest);
        // Mid-work: this incarnation had committed (so the kill cut into a stream of
        // batches), and records were still left.
        if at_kill > before && at_kill < EVENTS as i64 {
            kills_mid_work += 1;
        }
        eprintln!(
            "kill {round}: at work after {at_work:?}, killed {run} ms later at {at_kill} of {EVENTS}"
        );
    }
    assert!(
        kills_mid_work >= 10,
        "only {kills_mid_work} kills landed before the work was done"
    );

    late_production.await.unwrap();
    let ends = pipeline.end_offsets(&topic);
    assert_eq!(ends.values().sum::<i64>(), EVENTS as i64);
    // The last incarnation runs with the default batch size, to finish sooner.
    let group = format!("{}.crash-final", pipeline.prefix);
    let mut projector = pipeline.start_projector(PROJECTOR, &[("PROJECTOR_GROUP_ID", &group)]);
    wait_for_catch_up(&pool, "bank", &topic, &ends, Duration::from_secs(300)).await;
    eprintln!("caught up after {:?}", started.elapsed());

    let report = watch.finish().await;
    report.assert_monotonic();
    assert_tables_match(&pool, &workload).await;
    assert_offsets_at_ends(&pool, "bank", &topic, &ends).await;

    projector.signal("TERM").unwrap();
    let code = projector.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(
        code,
        Some(0),
        "graceful shutdown:\n{}",
        projector.log_tail()
    );
    pipeline.drop_schema(&pool).await;
}
