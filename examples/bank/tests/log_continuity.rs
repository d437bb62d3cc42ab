//! The projector never skips events because the log no longer continues where its offset
//! store says: a log that contradicts the stored offsets stops it with an error naming the
//! partition, the stored offset and the offsets the log holds, and nothing more is applied.
//!
//! Two ways a real log gets there: records the projection had not applied yet are deleted
//! (retention, or an operator's `kafka-delete-records`) while it is down, so the log now starts
//! after the stored offset; and the topic is deleted and created again, so the log is shorter
//! than what was applied. Without the check the first case silently resumes past the gap and
//! the second silently drops every new record below the stored offset as "already applied".
//! A third happens while the projector runs: records it has not fetched yet are deleted, and
//! its next fetch asks for an offset the log no longer has; the consumer's reset policy is
//! pinned to `error`, so it stops instead of jumping to the log's new start.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use tributary_runtime::kafka::admin;
use tributary_tests::bank_events::{AccountWorkload, RawRecord, produce, read_accounts};
use tributary_tests::failures::offset_rows;
use tributary_tests::pipeline::{TestPipeline, wait_for_catch_up};
use tributary_tests::{BROKER_TIMEOUT, create_topic, kafka, producer};

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");
const PARTITIONS: i32 = 2;

fn admin() -> AdminClient<DefaultClientContext> {
    kafka().admin().unwrap().create().unwrap()
}

/// Deletes every record of `topic` below its current end; returns the ends.
async fn delete_all_records(pipeline: &TestPipeline, topic: &str) -> BTreeMap<i32, i64> {
    let ends = pipeline.end_offsets(topic);
    let mut deletion = TopicPartitionList::new();
    for (partition, end) in &ends {
        deletion
            .add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*end))
            .unwrap();
    }
    admin()
        .delete_records(&deletion, &AdminOptions::new())
        .await
        .expect("deleting the records");
    ends
}

/// Produces `records`, projects them and stops the projector; returns the stored offsets
/// (partition → next offset).
async fn project(pipeline: &TestPipeline, records: &[RawRecord]) -> BTreeMap<i32, i64> {
    let topic = pipeline.topology.events("account");
    produce(&producer(&[]), &topic, records).await;
    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    let pool = pipeline.pool().await;
    let ends = pipeline.end_offsets(&topic);
    wait_for_catch_up(&pool, "bank", &topic, &ends, Duration::from_secs(60)).await;
    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    offset_rows(&pool, "bank", &topic)
        .await
        .into_iter()
        .map(|(partition, row)| (partition, row.next_offset))
        .collect()
}

/// Starts the projector on the contradicting log and expects it to stop with an error that
/// names `needles`, having changed neither the tables nor the stored offsets.
async fn assert_stops_unchanged(
    pipeline: &TestPipeline,
    stored: &BTreeMap<i32, i64>,
    needles: &[String],
) {
    let pool = pipeline.pool().await;
    let topic = pipeline.topology.events("account");
    let accounts = read_accounts(&pool).await;
    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    let code = projector.wait_exit(Duration::from_secs(60)).await;
    let log = projector.log_text();
    assert!(
        code.is_some_and(|code| code != 0),
        "the projector did not stop with an error (exit {code:?}):\n{}",
        projector.log_tail()
    );
    for needle in needles {
        assert!(
            log.contains(needle.as_str()),
            "{needle:?} not in the projector's log:\n{log}"
        );
    }
    assert_eq!(read_accounts(&pool).await, accounts, "the tables changed");
    let after: BTreeMap<i32, i64> = offset_rows(&pool, "bank", &topic)
        .await
        .into_iter()
        .map(|(partition, row)| (partition, row.next_offset))
        .collect();
    assert_eq!(&after, stored, "the stored offsets moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unapplied_records_deleted_from_the_log_stop_the_projector() {
    let pipeline = TestPipeline::create("continuity-deleted", PARTITIONS).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, 10, 200, 3);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    let stored = project(&pipeline, &records[..100]).await;

    // While the projector is down, more events arrive and are deleted before it applies them.
    produce(&producer(&[]), &topic, &records[100..]).await;
    let ends = delete_all_records(&pipeline, &topic).await;

    let (partition, stored_offset) = stored.iter().next().map(|(p, o)| (*p, *o)).unwrap();
    assert_stops_unchanged(
        &pipeline,
        &stored,
        &[
            format!("{topic} partition {partition}: the offset store says the projection continues at offset {stored_offset}"),
            format!("holds offsets {} to {}", ends[&partition], ends[&partition]),
            "are gone from the log".to_owned(),
            "docs/OPERATIONS.md".to_owned(),
        ],
    )
    .await;
    pipeline.drop_schema(&pipeline.pool().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_topic_stops_the_projector() {
    let pipeline = TestPipeline::create("continuity-recreated", PARTITIONS).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, 10, 200, 4);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    let stored = project(&pipeline, &records).await;

    admin()
        .delete_topics(&[&topic], &AdminOptions::new())
        .await
        .expect("deleting the topic");
    // The broker refuses a topic of the same name until the deletion has finished.
    let config = kafka().admin().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin::partition_counts(&config, BROKER_TIMEOUT)
        .map_or(true, |counts| counts.contains_key(&topic))
    {
        assert!(
            Instant::now() < deadline,
            "the topic was not deleted within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    create_topic(&topic, PARTITIONS).await;
    produce(&producer(&[]), &topic, &records[..4]).await;
    let ends = pipeline.end_offsets(&topic);

    let (partition, stored_offset) = stored.iter().next().map(|(p, o)| (*p, *o)).unwrap();
    assert_stops_unchanged(
        &pipeline,
        &stored,
        &[
            format!("{topic} partition {partition}: the offset store says the projection continues at offset {stored_offset}"),
            format!("holds offsets 0 to {}", ends[&partition]),
            "recreated or truncated".to_owned(),
        ],
    )
    .await;
    pipeline.drop_schema(&pipeline.pool().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_before_a_running_projector_fetches_them_stop_it() {
    let pipeline = TestPipeline::create("continuity-fetching", PARTITIONS).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, 10, 300, 5);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    let pool = pipeline.pool().await;
    produce(&producer(&[]), &topic, &records[..100]).await;
    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    let ends = pipeline.end_offsets(&topic);
    wait_for_catch_up(&pool, "bank", &topic, &ends, Duration::from_secs(60)).await;

    // Frozen, the projector's client cannot fetch: at most the one fetch it had waiting at
    // the broker is answered, with the first of the next records. The rest are deleted,
    // then more arrive after the gap.
    projector.signal("STOP").unwrap();
    produce(&producer(&[]), &topic, &records[100..150]).await;
    produce(&producer(&[]), &topic, &records[150..200]).await;
    let gap_end = delete_all_records(&pipeline, &topic).await;
    produce(&producer(&[]), &topic, &records[200..]).await;
    projector.signal("CONT").unwrap();

    let code = projector.wait_exit(Duration::from_secs(60)).await;
    let log = projector.log_text();
    assert!(
        code.is_some_and(|code| code != 0),
        "the projector did not stop with an error (exit {code:?}):\n{}",
        projector.log_tail()
    );
    for needle in [
        format!("{topic} partition "),
        "the offset store says the projection continues at offset".to_owned(),
        "are gone from the log".to_owned(),
    ] {
        assert!(
            log.contains(needle.as_str()),
            "{needle:?} not in the projector's log:\n{log}"
        );
    }
    for (partition, row) in offset_rows(&pool, "bank", &topic).await {
        assert!(
            row.next_offset <= gap_end[&partition],
            "partition {partition} was applied past the deleted records (next offset {}, the \
             gap ends at {})",
            row.next_offset,
            gap_end[&partition]
        );
    }
    pipeline.drop_schema(&pool).await;
}
