//! Support for the failure tests (crashes, rebalances, frozen workers): projector processes
//! with extra settings, production in chunks that a test can hold back and release, a
//! watcher that samples the offset store for the whole run and records any offset that moves
//! backwards and every owner a partition had, and the final check that the stored offsets are
//! exactly the partitions' ends.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPool;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::bank_events::{RawRecord, produce};
use crate::pipeline::committed;

/// The `parked_aggregates` of `projection`: aggregate ID → (partition, first offset, reason).
pub async fn parked_rows(pool: &PgPool, projection: &str) -> BTreeMap<String, (i32, i64, String)> {
    sqlx::query_as::<_, (String, i32, i64, String)>(
        "SELECT aggregate_id, partition, first_offset, reason FROM parked_aggregates
         WHERE projection = $1",
    )
    .bind(projection)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, partition, offset, reason)| (id, (partition, offset, reason)))
    .collect()
}

/// One row of `projector_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetRow {
    /// Next offset to apply.
    pub next_offset: i64,
    /// Epoch of the latest claim.
    pub epoch: i64,
    /// Instance that made the latest claim.
    pub owner: String,
}

/// The offset store of `projection`: partition of `topic` → row.
pub async fn offset_rows(pool: &PgPool, projection: &str, topic: &str) -> BTreeMap<i32, OffsetRow> {
    sqlx::query_as::<_, (i32, i64, i64, String)>(
        "SELECT partition, next_offset, epoch, owner FROM projector_offsets
         WHERE projection = $1 AND topic = $2",
    )
    .bind(projection)
    .bind(topic)
    .fetch_all(pool)
    .await
    // Before the first projector has migrated the schema the table does not exist yet.
    .map(|rows| {
        rows.into_iter()
            .map(|(partition, next_offset, epoch, owner)| {
                (
                    partition,
                    OffsetRow {
                        next_offset,
                        epoch,
                        owner,
                    },
                )
            })
            .collect()
    })
    .unwrap_or_default()
}

/// What the watcher saw of the offset store.
#[derive(Debug, Clone, Default)]
pub struct WatchReport {
    /// Samples taken.
    pub samples: usize,
    /// The latest row of every partition.
    pub latest: BTreeMap<i32, OffsetRow>,
    /// Every instance that held each partition.
    pub owners: BTreeMap<i32, BTreeSet<String>>,
    /// Every backwards move of an offset or an epoch, described.
    pub regressions: Vec<String>,
}

impl WatchReport {
    fn observe(&mut self, rows: BTreeMap<i32, OffsetRow>) {
        self.samples += 1;
        for (partition, row) in rows {
            if let Some(previous) = self.latest.get(&partition) {
                if row.next_offset < previous.next_offset {
                    self.regressions.push(format!(
                        "partition {partition}: next_offset {} after {}",
                        row.next_offset, previous.next_offset
                    ));
                }
                if row.epoch < previous.epoch {
                    self.regressions.push(format!(
                        "partition {partition}: epoch {} after {}",
                        row.epoch, previous.epoch
                    ));
                }
            }
            self.owners
                .entry(partition)
                .or_default()
                .insert(row.owner.clone());
            self.latest.insert(partition, row);
        }
    }

    /// Partitions that were held by more than one instance during the run.
    pub fn moved_partitions(&self) -> Vec<i32> {
        self.owners
            .iter()
            .filter(|(_, owners)| owners.len() > 1)
            .map(|(partition, _)| *partition)
            .collect()
    }

    /// Fails the test if any offset or epoch moved backwards.
    pub fn assert_monotonic(&self) {
        assert!(
            self.regressions.is_empty(),
            "the offset store moved backwards ({} samples): {}",
            self.samples,
            self.regressions.join("; ")
        );
    }
}

/// Samples `projector_offsets` of one topic in the background, every few milliseconds,
/// until [`OffsetWatch::finish`].
///
/// A sample's query and its comparison with the previous sample happen under one lock, so
/// samples are compared in the order the database answered them: a query that starts after
/// another has finished sees at least what that one saw.
#[derive(Debug)]
pub struct OffsetWatch {
    report: Arc<Mutex<WatchReport>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl OffsetWatch {
    /// Starts sampling `projection`'s offsets of `topic`.
    pub fn start(pool: &PgPool, projection: &str, topic: &str) -> Self {
        let report = Arc::new(Mutex::new(WatchReport::default()));
        let (stop, mut stopped) = watch::channel(false);
        let (pool, projection, topic) = (pool.clone(), projection.to_owned(), topic.to_owned());
        let shared = Arc::clone(&report);
        let task = tokio::spawn(async move {
            loop {
                {
                    let mut report = shared.lock().await;
                    report.observe(offset_rows(&pool, &projection, &topic).await);
                }
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        });
        Self { report, stop, task }
    }

    /// Takes one sample now (in addition to the background ones) and returns the report so
    /// far.
    pub async fn sample(&self, pool: &PgPool, projection: &str, topic: &str) -> WatchReport {
        let mut report = self.report.lock().await;
        report.observe(offset_rows(pool, projection, topic).await);
        report.clone()
    }

    /// Stops sampling and returns everything seen.
    pub async fn finish(self) -> WatchReport {
        let _ = self.stop.send(true);
        self.task.await.unwrap();
        self.report.lock().await.clone()
    }
}

/// Asserts that `projection` stored exactly `ends` as the next offsets of `topic`.
pub async fn assert_offsets_at_ends(
    pool: &PgPool,
    projection: &str,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
) {
    let offsets = committed(pool, projection).await;
    for (partition, end) in ends {
        assert_eq!(
            offsets.get(&(topic.to_owned(), *partition)),
            Some(end),
            "stored offset of partition {partition}"
        );
    }
}

/// Sum of the stored offsets of `topic`: how many records the projection has got past.
pub fn total(rows: &BTreeMap<i32, OffsetRow>) -> i64 {
    rows.values().map(|row| row.next_offset).sum()
}

/// Produces records in chunks from a background task, each chunk fully acknowledged before
/// the next starts, never beyond the number of chunks the test allows: so a test decides
/// when records arrive (a trickle, a burst, a pause) while the order of every key is kept.
#[derive(Debug)]
pub struct ChunkedProduction {
    allowed: watch::Sender<usize>,
    produced: watch::Receiver<usize>,
    chunks: usize,
    task: JoinHandle<()>,
}

impl ChunkedProduction {
    /// Starts producing `records` to `topic` in chunks of `chunk`, pausing `pause` between
    /// chunks, at first only `allowed` chunks.
    pub fn start(
        topic: &str,
        records: Vec<RawRecord>,
        chunk: usize,
        pause: Duration,
        allowed: usize,
    ) -> Self {
        let chunks = records.len().div_ceil(chunk.max(1));
        let (allowed, mut allowance) = watch::channel(allowed);
        let (progress, produced) = watch::channel(0);
        let topic = topic.to_owned();
        let task = tokio::spawn(async move {
            let producer = crate::producer(&[]);
            for (index, records) in records.chunks(chunk.max(1)).enumerate() {
                allowance
                    .wait_for(|allowed| *allowed > index)
                    .await
                    .expect("the test holds the production handle");
                produce(&producer, &topic, records).await;
                progress.send_replace(index + 1);
                tokio::time::sleep(pause).await;
            }
        });
        Self {
            allowed,
            produced,
            chunks,
            task,
        }
    }

    /// Chunks fully produced so far.
    pub fn produced(&self) -> usize {
        *self.produced.borrow()
    }

    /// Every chunk.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// Allows production up to `chunks` chunks in all.
    pub fn allow(&self, chunks: usize) {
        self.allowed.send_replace(chunks.min(self.chunks));
    }

    /// Waits until `chunks` chunks are produced.
    pub async fn wait_produced(&mut self, chunks: usize, timeout: Duration) {
        let chunks = chunks.min(self.chunks);
        tokio::time::timeout(timeout, self.produced.wait_for(|done| *done >= chunks))
            .await
            .unwrap_or_else(|_| panic!("{chunks} chunks were not produced within {timeout:?}"))
            .expect("the production task reports progress");
    }

    /// Stops after the chunk in flight, if any (or after one more chunk), and waits until
    /// nothing is in flight; returns the chunks produced.
    pub async fn hold(&mut self, timeout: Duration) -> usize {
        let target = (self.produced() + 1).min(self.chunks);
        self.allow(target);
        self.wait_produced(target, timeout).await;
        target
    }

    /// Produces one more chunk and waits until it is acknowledged (production must be held).
    pub async fn one_more(&mut self, timeout: Duration) {
        let target = self.produced() + 1;
        assert!(target <= self.chunks, "no chunk left to produce");
        self.allow(target);
        self.wait_produced(target, timeout).await;
    }

    /// Allows every remaining chunk and waits until all are produced.
    pub async fn finish(mut self, timeout: Duration) {
        self.allow(self.chunks);
        self.wait_produced(self.chunks, timeout).await;
        self.task.await.expect("the production task ends cleanly");
    }
}
