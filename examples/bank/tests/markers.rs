//! Markers of one key never go back, against the real broker and PostgreSQL: a worker whose
//! claim was taken over publishes nothing more (checked against the offset store before every
//! marker), and within one process an older claim's late reports, idle flush or release never
//! touch a newer claim's marker. Each test reads the markers topic in full and checks every
//! key's markers in the order they were written.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureProducer;
use sqlx::PgPool;
use tributary_projector::markers::Markers;
use tributary_projector::metrics::ProjectorMetrics;
use tributary_store::database;
use tributary_store::offsets;
use tributary_store::offsets::ClaimedPartition;
use tributary_tests::pipeline::{TestPipeline, assert_markers_monotonic, read_markers};
use tributary_tests::{database_url, producer};

const PROJECTION: &str = "bank";
/// Long enough that a commit reported right after a publish waits for the next interval.
const INTERVAL: Duration = Duration::from_secs(3);

/// A publisher of this test's markers, as one projector process runs it.
fn publisher(pipeline: &TestPipeline, pool: &PgPool) -> (Markers, tokio::task::JoinHandle<()>) {
    let producer: FutureProducer = producer(&[]);
    Markers::start(
        producer,
        pool.clone(),
        tributary_bank::codec(),
        PROJECTION,
        &pipeline.topology.markers(),
        INTERVAL,
        Arc::new(ProjectorMetrics::new(PROJECTION)),
    )
}

/// Stops a publisher and waits until it has published, or withheld, what it still held.
async fn stop(markers: Markers, task: tokio::task::JoinHandle<()>) {
    drop(markers);
    tokio::time::timeout(INTERVAL * 3, task)
        .await
        .expect("the publisher ends")
        .expect("the publisher does not panic");
}

/// Claims partition 0 of the account events for `owner`, as a worker does on assignment.
async fn claim(pipeline: &TestPipeline, pool: &PgPool, owner: &str) -> ClaimedPartition {
    let topic = pipeline.topology.events("account");
    let claim = offsets::claim(pool, PROJECTION, &topic, 0, owner)
        .await
        .unwrap();
    ClaimedPartition {
        topic,
        partition: 0,
        epoch: claim.epoch,
    }
}

/// (epoch, next offset) of every marker written, once there are at least `wanted`, after
/// checking that they never go back.
fn markers_written(pipeline: &TestPipeline, wanted: usize) -> Vec<(i64, i64)> {
    let markers = read_markers(pipeline, &format!("{wanted} markers"), |read| {
        read.len() >= wanted
    });
    assert_markers_monotonic(&markers);
    markers.iter().map(|m| (m.epoch, m.next_offset)).collect()
}

async fn setup(name: &str) -> (TestPipeline, PgPool) {
    let pipeline = TestPipeline::create(name, 1).await;
    let pool = database::connect(&database_url(), &pipeline.schema, "markers test", 4)
        .await
        .unwrap();
    tributary_projector::migrate(
        &pool,
        &pipeline.schema,
        Some(&tributary_bank::read_model::read_model_migrations()),
    )
    .await
    .unwrap();
    (pipeline, pool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_claim_was_taken_over_publishes_nothing_more() {
    let (pipeline, pool) = setup("markers-stale").await;
    let (old, old_task) = publisher(&pipeline, &pool);
    let old_claim = claim(&pipeline, &pool, "old").await;
    old.committed(&old_claim, 10, 1);
    old.flush_and_wait(&old_claim).await;
    // A commit reported right after a publish waits for the next interval…
    old.committed(&old_claim, 15, 2);

    // …during which another process claims the partition and publishes further.
    let (new, new_task) = publisher(&pipeline, &pool);
    let new_claim = claim(&pipeline, &pool, "new").await;
    assert!(new_claim.epoch > old_claim.epoch);
    new.committed(&new_claim, 20, 3);
    new.flush_and_wait(&new_claim).await;

    // The old publisher's pending marker, at its tick or at its end, is withheld.
    stop(old, old_task).await;
    stop(new, new_task).await;
    let written = markers_written(&pipeline, 2);
    assert_eq!(
        written,
        vec![(old_claim.epoch, 10), (new_claim.epoch, 20)],
        "markers as written"
    );
    pipeline.drop_schema(&pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_claim_in_the_same_process_never_touches_the_newer_ones_marker() {
    let (pipeline, pool) = setup("markers-epochs").await;
    let (markers, task) = publisher(&pipeline, &pool);
    let older = claim(&pipeline, &pool, "this").await;
    markers.committed(&older, 10, 1);
    markers.flush_and_wait(&older).await;

    // The partition comes back to this process under a new claim while the older claim's
    // worker is still winding down: its late report, idle flush and release come after.
    let newer = claim(&pipeline, &pool, "this").await;
    markers.committed(&newer, 30, 2);
    markers.committed(&older, 12, 3);
    markers.flush(&older);
    markers.forget(&older);
    markers.flush_and_wait(&newer).await;
    markers.flush_and_wait(&older).await;

    stop(markers, task).await;
    let written = markers_written(&pipeline, 2);
    assert_eq!(
        written,
        vec![(older.epoch, 10), (newer.epoch, 30)],
        "markers as written"
    );
    pipeline.drop_schema(&pool).await;
}
