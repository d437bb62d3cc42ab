//! Kafka Connect's JDBC sink, the tool users would pick instead of the projector to keep
//! PostgreSQL tables up to date from Kafka: a standalone Connect worker (connect-runtime, the
//! broker's version) running Debezium's JDBC sink connector from Maven Central
//! (`scripts/connect.sh`), upserting by primary key with its recommended batch settings
//! (`scripts/connect/jdbc-sink.properties`), into a schema made by the bank's migrations — the
//! tables the projector fills.
//!
//! It is fed what it is built for: the rows each event changes, one JSON-with-schema record
//! per row ([`feed`]), produced before the clock starts. It is at-least-once (a crash replays
//! records since the last offset commit; the upserts make that harmless for these tables)
//! and knows nothing of events, versions or aggregate state: someone has to fold the events
//! into rows first, which is not timed here. The projector does that fold itself, exactly
//! once, from the events. The figures to compare are therefore rows written per second.
//!
//! The clock runs from every task `RUNNING` until the sink's consumer group has committed the
//! end offset of every partition ([`worker`]); the worker commits every second, after the
//! rows are written, so the end is seen up to a second late. The worker's start-up (JVM,
//! plugins, tasks) is reported apart.

pub mod feed;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use tributary_runtime::kafka::KafkaSettings;

use self::feed::Feed;
use self::worker::{GroupProgress, SinkSpec, Worker};

/// How the Connect worker is run.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// `scripts/connect.sh` (its templates are in `connect/` beside it).
    pub script: PathBuf,
    /// The connector's `tasks.max`.
    pub tasks: usize,
}

/// What the sink did.
#[derive(Debug, Clone)]
pub struct ConnectOutcome {
    /// From starting the worker to every task running.
    pub start_up: Duration,
    /// From every task running to every record's offset committed.
    pub elapsed: Duration,
    /// Peak resident memory of the JVM, kB.
    pub peak_rss_kb: Option<u64>,
    /// The worker's and the connector's versions, as they report them.
    pub versions: String,
}

/// Where the sink writes.
#[derive(Debug, Clone, Copy)]
pub struct SinkTarget<'a> {
    /// The PostgreSQL schema with the bank's tables.
    pub schema: &'a str,
    /// The database.
    pub database_url: &'a str,
}

/// Runs a worker with one sink connector over `feed`'s topics into `target`, until it has
/// committed everything or `timeout` has passed.
pub async fn run(
    settings: &ConnectSettings,
    kafka: &KafkaSettings,
    feed: &Feed,
    target: SinkTarget<'_>,
    timeout: Duration,
) -> anyhow::Result<ConnectOutcome> {
    let name = format!("{}-sink", target.schema);
    let spec = SinkSpec {
        name: &name,
        topics: &feed.topics,
        schema: target.schema,
        database_url: target.database_url,
        tasks: settings.tasks,
    };
    let progress = Arc::new(GroupProgress::new(kafka, &spec.group(), &feed.ends)?);
    let started = Instant::now();
    let deadline = started + timeout;
    let mut worker = Worker::start(&settings.script, kafka.bootstrap_servers(), &spec)?;
    let measured = measure(&mut worker, &progress, started, deadline).await;
    let peak_rss_kb = worker.peak_rss_kb();
    let versions = worker.versions().await;
    worker.stop().await;
    let (start_up, elapsed) = measured?;
    Ok(ConnectOutcome {
        start_up,
        elapsed,
        peak_rss_kb,
        versions,
    })
}

/// Start-up and the time from running to done.
async fn measure(
    worker: &mut Worker,
    progress: &Arc<GroupProgress>,
    started: Instant,
    deadline: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    worker.wait_running(deadline).await?;
    let running = Instant::now();
    loop {
        let reader = Arc::clone(progress);
        let behind = tokio::task::spawn_blocking(move || reader.behind())
            .await
            .context("reading the sink's offsets panicked")??;
        if behind.is_empty() {
            return Ok((running - started, running.elapsed()));
        }
        worker
            .check()
            .await
            .with_context(|| format!("while the sink caught up ({})", behind.join(", ")))?;
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the Kafka Connect sink did not commit everything within {:?}: {}",
                deadline - started,
                behind.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
