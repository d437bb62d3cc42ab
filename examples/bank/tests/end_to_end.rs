//! The projector as a separate process against the real broker and PostgreSQL: tens of
//! thousands of events across thousands of aggregates land in the read tables exactly as an
//! independent fold of the produced events says, the offsets reach the partitions' ends, the
//! markers announce them, and the consumer group's offsets show zero lag.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tributary_schemas::protocol::ProjectionMarker;
use tributary_tests::bank_events::{AccountWorkload, RawRecord, assert_tables_match, produce};
use tributary_tests::metrics::Histogram;
use tributary_tests::pipeline::{
    TestPipeline, assert_markers_monotonic, committed, read_markers, wait_for_catch_up,
};
use tributary_tests::{BROKER_TIMEOUT, consumer, producer, wait_until};

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");

/// The latest marker per key on the pipeline's markers topic, once there are `wanted` keys;
/// every key's markers never went back.
fn latest_markers(pipeline: &TestPipeline, wanted: usize) -> BTreeMap<String, ProjectionMarker> {
    let distinct = |markers: &[ProjectionMarker]| {
        markers
            .iter()
            .map(ProjectionMarker::key)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    let markers = read_markers(pipeline, "a marker for every partition", |read| {
        distinct(read) >= wanted
    });
    assert_markers_monotonic(&markers);
    markers.into_iter().map(|m| (m.key(), m)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_events_across_two_thousand_accounts_land_exactly_once() {
    let pipeline = TestPipeline::create("e2e", 8).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, 2_000, 50_000, 7);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    produce(&producer(&[]), &topic, &records).await;

    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    let ends = pipeline.end_offsets(&topic);
    assert_eq!(ends.values().sum::<i64>(), 50_000);
    let pool = pipeline.pool().await;
    wait_for_catch_up(&pool, "bank", &topic, &ends, Duration::from_secs(300)).await;

    assert_tables_match(&pool, &workload).await;
    let offsets = committed(&pool, "bank").await;
    for (partition, end) in &ends {
        assert_eq!(
            offsets.get(&(topic.clone(), *partition)),
            Some(end),
            "partition {partition}"
        );
    }
    let states: i64 =
        sqlx::query_scalar("SELECT count(*) FROM aggregate_state WHERE aggregate_type = 'account'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(states as usize, workload.accounts.len());
    assert_eq!(
        projector
            .metric(tributary_projector::metrics::names::EVENTS_APPLIED_TOTAL)
            .await
            .unwrap(),
        50_000.0
    );

    // Markers: the final offset of every partition.
    let markers = latest_markers(&pipeline, 8);
    for (partition, end) in &ends {
        let key = format!("bank/{topic}/{partition}");
        let marker = markers
            .get(&key)
            .unwrap_or_else(|| panic!("no marker {key}"));
        assert_eq!(marker.next_offset, *end, "{key}");
    }

    // The group's committed offsets equal the ends: lag 0, as a lag tool computes it.
    let group = format!("{}.projector.bank", pipeline.prefix);
    let lag_tool = consumer(&group, &[]);
    let mut wanted = TopicPartitionList::new();
    for partition in ends.keys() {
        wanted.add_partition(&topic, *partition);
    }
    let mut lag = i64::MAX;
    wait_until(
        BROKER_TIMEOUT,
        "group offsets at the partitions' ends",
        || {
            let committed = lag_tool
                .committed_offsets(wanted.clone(), BROKER_TIMEOUT)
                .unwrap();
            lag = committed
                .elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(offset) => ends[&e.partition()] - offset,
                    _ => ends[&e.partition()],
                })
                .sum();
            lag == 0
        },
    );
    drop(lag_tool);

    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_timed_from_its_first_record_so_the_wait_for_more_shows() {
    let pipeline = TestPipeline::create("e2e_batch_time", 1).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, 1, 1, 3);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    let mut projector =
        pipeline.start_projector(PROJECTOR, &[("PROJECTOR_BATCH_MAX_WAIT_MS", "400")]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    produce(&producer(&[]), &topic, &records).await;
    let ends = pipeline.end_offsets(&topic);
    let pool = pipeline.pool().await;
    wait_for_catch_up(&pool, "bank", &topic, &ends, Duration::from_secs(60)).await;

    // One record alone: the worker waited the whole 400 ms for more before committing it.
    let exposition = projector.get("/metrics").await.unwrap().body;
    let batches = Histogram::read(
        &exposition,
        tributary_projector::metrics::names::BATCH_DURATION_SECONDS,
        &[],
    );
    assert_eq!(batches.count, 1.0, "{batches:?}");
    assert!(batches.sum >= 0.4, "the batch took {} s", batches.sum);

    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pool).await;
}
