//! The projector catch-up scenario: preload an event stream of the bank into fresh topics,
//! then put it into PostgreSQL every way [`crate::variants`] knows, each into its own
//! schema, and compare their speed and their tables.
//!
//! Order of a run: generate ([`crate::workload`]) → preload and find the end offsets →
//! raw consume (the broker's limit) → fetch into memory → bulk limit → the projector's own
//! path → naive (over a prefix unless told otherwise) → feed the row changes of every event
//! to the Connect sink's topics → `projector run` with 1 and 2 processes → the Kafka Connect
//! JDBC sink → digest every schema's tables and check they are identical (the naive one only
//! when it applied everything; the sink's read tables only, against the others' read tables).
//!
//! The sink is fed rows, not events, so it is compared on rows: the row changes it wrote per
//! second against the same count of rows divided by the projector's time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tributary_runtime::Topology;
use tributary_runtime::kafka::KafkaSettings;

use crate::broker::{self, Ends};
use crate::digest::{TableDigest, differing, digest, digest_read_tables};
use crate::report::{Table, thousands};
use crate::variants::connect::feed::{self, Feed};
use crate::variants::connect::{ConnectSettings, SinkTarget};
use crate::variants::own_path::OwnPathSettings;
use crate::variants::processes::{ProcessesOutcome, ProjectorLaunch};
use crate::variants::{VariantSchema, bulk, connect, naive, own_path, processes};
use crate::workload::{self, Mix, WorkloadShape};

/// What to run.
#[derive(Debug, Clone)]
pub struct CatchupOptions {
    /// The event stream.
    pub shape: WorkloadShape,
    /// Events the naive projector applies (a prefix of the stream; all when larger).
    pub naive_events: usize,
    /// Projector process counts to run (`projector run`), e.g. `[1, 2]`.
    pub workers: Vec<usize>,
    /// The `projector` binary.
    pub projector_binary: String,
    /// PostgreSQL URL; each variant gets a schema of its own there.
    pub database_url: String,
    /// Broker client settings.
    pub kafka: KafkaSettings,
    /// `PROJECTOR_BATCH_MAX_EVENTS` of the projector (its default: 2000).
    pub batch_max_events: usize,
    /// `TRIBUTARY_RECENT_COMMANDS` of the projector (its default: 32).
    pub recent_commands: usize,
    /// Keep the variants' schemas after the run (for inspection).
    pub keep_schemas: bool,
    /// Longest one variant may take.
    pub variant_timeout: Duration,
    /// The Kafka Connect JDBC sink, unless left out.
    pub connect: Option<ConnectSettings>,
}

/// One variant's figures.
#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    /// Short name (`raw-consume`, `bulk-limit`, `naive`, `projector-own-path`,
    /// `projector-1-worker`, …).
    pub name: String,
    /// Events it processed.
    pub events: usize,
    /// Seconds the measured part took.
    pub seconds: f64,
    /// Events per second.
    pub events_per_second: f64,
    /// What exactly was measured.
    pub note: String,
    /// Peak resident memory of each projector process, MiB (process variants only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peak_rss_mib: Vec<f64>,
    /// Seconds of start-up before the measured part (process variants: until the first
    /// partition was claimed, included in `seconds`; the Connect sink: until every task ran,
    /// not included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_up_seconds: Option<f64>,
    /// Read-table row changes these events make, one per event and row (what the Connect sink
    /// is fed), when the sink ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    /// `rows / seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_per_second: Option<f64>,
    /// Its tables' digest, when it wrote the whole stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Vec<TableDigest>>,
}

impl VariantResult {
    fn new(name: &str, events: usize, elapsed: Duration, note: String) -> Self {
        let seconds = elapsed.as_secs_f64();
        Self {
            name: name.to_owned(),
            events,
            seconds,
            events_per_second: events as f64 / seconds.max(1e-9),
            note,
            peak_rss_mib: Vec::new(),
            start_up_seconds: None,
            rows: None,
            rows_per_second: None,
            digest: None,
        }
    }

    /// Counts `rows` row changes for this variant's events.
    fn with_rows(&mut self, rows: usize) {
        self.rows = Some(rows);
        self.rows_per_second = Some(rows as f64 / self.seconds.max(1e-9));
    }
}

/// A ratio between two variants' rates, and the target it is held against.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// `a / b`.
    pub name: String,
    /// The ratio.
    pub value: f64,
    /// The target, when there is one (`≥`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
}

/// Everything a catch-up run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CatchupReport {
    /// The topic prefix of the run.
    pub topic_prefix: String,
    /// Events in the stream.
    pub events: usize,
    /// Accounts.
    pub accounts: usize,
    /// Partitions per events topic.
    pub partitions: i32,
    /// Events the naive variant applied.
    pub naive_events: usize,
    /// `PROJECTOR_BATCH_MAX_EVENTS`.
    pub batch_max_events: usize,
    /// Commands behind the stream.
    pub mix: Mix,
    /// Records per events topic.
    pub records_per_topic: BTreeMap<String, i64>,
    /// Preloading the topics (producer → broker), events per second.
    pub preload_events_per_second: f64,
    /// Every variant.
    pub variants: Vec<VariantResult>,
    /// Ratios of rates.
    pub ratios: Vec<Ratio>,
    /// Peak RSS target of a projector process, MiB.
    pub peak_rss_target_mib: f64,
    /// Whether every variant that wrote the whole stream wrote identical tables.
    pub identical_tables: bool,
    /// Whether the Connect sink's read tables equal the projector's own path's, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_tables_match: Option<bool>,
}

/// Runs the scenario.
pub async fn run(options: &CatchupOptions) -> anyhow::Result<CatchupReport> {
    let (run_id, topology) = broker::fresh_topology(options.shape.partitions);
    let prefix = format!("bench.{run_id}");
    tracing::info!(prefix, "generating the workload");
    let workload = workload::generate(options.shape)?;
    let events = workload.records.len();
    broker::create_topics(&options.kafka, &topology).await?;
    tracing::info!(events, "preloading");
    let preload = broker::preload(&options.kafka, &topology, &workload.records).await?;
    let mix = workload.mix;
    drop(workload);
    let ends = broker::ends(&options.kafka, &topology)?;
    let total: i64 = ends.values().sum();
    if total != events as i64 {
        bail!("the topics hold {total} records after preloading {events}");
    }
    let mut records_per_topic = BTreeMap::new();
    for ((topic, _), end) in &ends {
        *records_per_topic.entry(topic.clone()).or_default() += end;
    }

    let mut variants = Vec::new();
    tracing::info!("raw consume");
    let raw = blocking_read(options, &ends, |kafka, ends, timeout| {
        broker::consume_all(kafka, ends, timeout, |_| {})
    })
    .await?;
    variants.push(VariantResult::new(
        "raw-consume",
        raw.records as usize,
        raw.elapsed,
        format!(
            "one librdkafka consumer reading every record ({} MiB of keys and values), no decoding, no database",
            raw.bytes / (1 << 20)
        ),
    ));
    let fetched = Arc::new(
        blocking_read(options, &ends, |kafka, ends, timeout| {
            broker::fetch_all(kafka, ends, timeout)
        })
        .await?,
    );

    let mut schemas = Vec::new();
    let schema_name = |variant: &str| format!("bench_{run_id}_{variant}");

    tracing::info!("bulk limit");
    let schema = VariantSchema::create(&options.database_url, &schema_name("bulk"), 4).await?;
    let outcome = bulk::run(&schema.pool, &topology, &fetched, options.recent_commands).await?;
    let mut result = VariantResult::new(
        "bulk-limit",
        events,
        outcome.load,
        format!(
            "{} rows COPYed into temporary tables and merged with one statement per table, one transaction (folding them beforehand took {:.1} s, not counted)",
            outcome.rows,
            outcome.fold.as_secs_f64()
        ),
    );
    result.digest = Some(digest(&schema.pool).await?);
    variants.push(result);
    schemas.push(schema);

    tracing::info!("projector's own path");
    let schema = VariantSchema::create(&options.database_url, &schema_name("own"), 8).await?;
    let settings = Arc::new(OwnPathSettings {
        projection: "bench".to_owned(),
        schema: schema.name.clone(),
        batch_max_events: options.batch_max_events,
        recent_commands: options.recent_commands,
    });
    let elapsed = own_path::run(&schema.pool, &topology, Arc::clone(&fetched), settings).await?;
    let mut result = VariantResult::new(
        OWN_PATH,
        events,
        elapsed,
        format!(
            "the projector library's load + plan + apply::commit (offset compare-and-set) per batch of {}, one task per partition, pool of 8, records from memory",
            options.batch_max_events
        ),
    );
    result.digest = Some(digest(&schema.pool).await?);
    variants.push(result);
    schemas.push(schema);

    tracing::info!(events = options.naive_events.min(events), "naive");
    let schema = VariantSchema::create(&options.database_url, &schema_name("naive"), 2).await?;
    let outcome = naive::run(
        &schema.pool,
        &topology,
        "bench",
        &fetched,
        options.naive_events,
        options.recent_commands,
    )
    .await?;
    let whole = outcome.events == events;
    let mut result = VariantResult::new(
        "naive",
        outcome.events,
        outcome.elapsed,
        format!(
            "one statement (= one transaction) per event with its offset, one connection, {}",
            if whole {
                "every event".to_owned()
            } else {
                format!("the first {} of {events} events", outcome.events)
            }
        ),
    );
    if whole {
        result.digest = Some(digest(&schema.pool).await?);
    }
    variants.push(result);
    schemas.push(schema);
    let feed = match options.connect {
        Some(_) => Some(feed_rows(options, &prefix, &topology, &fetched).await?),
        None => None,
    };
    drop(fetched);

    for &workers in &options.workers {
        tracing::info!(workers, "projector processes");
        let name = format!("p{workers}");
        let schema = VariantSchema::create(&options.database_url, &schema_name(&name), 2).await?;
        let launch = ProjectorLaunch {
            binary: options.projector_binary.clone(),
            env: projector_env(options, &prefix, &topology, &schema.name, &name),
            projection: name.clone(),
            timeout: options.variant_timeout,
        };
        let outcome = processes::run(&launch, &schema.pool, workers, &ends).await?;
        variants.push(process_result(workers, events, &outcome, &schema).await?);
        schemas.push(schema);
    }

    if let (Some(settings), Some(feed)) = (&options.connect, &feed) {
        tracing::info!(tasks = settings.tasks, "Kafka Connect JDBC sink");
        let schema =
            VariantSchema::create(&options.database_url, &schema_name("connect"), 2).await?;
        variants.push(connect_result(options, settings, feed, events, &schema).await?);
        schemas.push(schema);
        for variant in variants
            .iter_mut()
            .filter(|v| v.name == CONNECT || compared_on_rows(v))
        {
            variant.with_rows(feed.records);
        }
    }

    let identical_tables = identical(&variants)?;
    let connect_tables_match = tables_match(&variants, CONNECT, OWN_PATH);
    if !options.keep_schemas {
        for schema in schemas {
            schema.drop_schema().await?;
        }
    }
    let ratios = ratios(&variants);
    Ok(CatchupReport {
        topic_prefix: prefix,
        events,
        accounts: options.shape.accounts,
        partitions: options.shape.partitions,
        naive_events: options.naive_events.min(events),
        batch_max_events: options.batch_max_events,
        mix,
        records_per_topic,
        preload_events_per_second: events as f64 / preload.as_secs_f64().max(1e-9),
        variants,
        ratios,
        peak_rss_target_mib: 150.0,
        identical_tables,
        connect_tables_match,
    })
}

/// The Connect sink's name in the report.
const CONNECT: &str = "kafka-connect";

/// The projector's own path's name in the report.
const OWN_PATH: &str = "projector-own-path";

/// Produces the row changes of every fetched event to the Connect sink's topics.
async fn feed_rows(
    options: &CatchupOptions,
    prefix: &str,
    topology: &Topology,
    fetched: &broker::Fetched,
) -> anyhow::Result<Feed> {
    tracing::info!("feeding the row changes of every event to the Connect sink's topics");
    let feed = feed::produce(
        &options.kafka,
        prefix,
        topology,
        fetched,
        options.recent_commands,
    )
    .await?;
    tracing::info!(
        records = feed.records,
        seconds = feed.elapsed.as_secs_f64(),
        "fed"
    );
    Ok(feed)
}

/// Runs the Connect sink over `feed` into `schema`.
async fn connect_result(
    options: &CatchupOptions,
    settings: &ConnectSettings,
    feed: &Feed,
    events: usize,
    schema: &VariantSchema,
) -> anyhow::Result<VariantResult> {
    let target = SinkTarget {
        schema: &schema.name,
        database_url: &options.database_url,
    };
    let outcome = connect::run(
        settings,
        &options.kafka,
        feed,
        target,
        options.variant_timeout,
    )
    .await?;
    let per_table: Vec<String> = feed
        .records_per_table
        .iter()
        .map(|(table, records)| format!("{table} {}", thousands(*records as f64)))
        .collect();
    let mut result = VariantResult::new(
        CONNECT,
        events,
        outcome.elapsed,
        format!(
            "{}, {} tasks, upserts by record key with the batch settings of scripts/connect/jdbc-sink.properties, at-least-once: from every task running to the sink's consumer group committed at the end of all {} partitions; fed {} row changes of these events ({}; {} MiB of JSON with schema, produced in {:.1} s beforehand, not counted) into the read tables, no aggregate_state; start-up: until every task ran, not counted",
            outcome.versions,
            settings.tasks,
            feed.ends.len(),
            thousands(feed.records as f64),
            per_table.join(", "),
            feed.bytes / (1 << 20),
            feed.elapsed.as_secs_f64(),
        ),
    );
    result.peak_rss_mib = outcome
        .peak_rss_kb
        .map(|kb| vec![kb as f64 / 1024.0])
        .unwrap_or_default();
    result.start_up_seconds = Some(outcome.start_up.as_secs_f64());
    result.digest = Some(digest_read_tables(&schema.pool).await?);
    Ok(result)
}

/// The projector's variants that the Connect sink is compared with on rows per second: the
/// own path and the `projector run` processes, which apply every event.
fn compared_on_rows(variant: &VariantResult) -> bool {
    variant.name == OWN_PATH || is_process(variant)
}

/// A `projector run` variant.
fn is_process(variant: &VariantResult) -> bool {
    variant.name.starts_with("projector-") && variant.name != OWN_PATH
}

/// Runs a blocking broker read on a blocking thread.
async fn blocking_read<T: Send + 'static>(
    options: &CatchupOptions,
    ends: &Ends,
    read: impl FnOnce(&KafkaSettings, &Ends, Duration) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (kafka, ends, timeout) = (options.kafka.clone(), ends.clone(), options.variant_timeout);
    tokio::task::spawn_blocking(move || read(&kafka, &ends, timeout))
        .await
        .context("a broker read panicked")?
}

/// The environment of a `projector run` process of this run.
fn projector_env(
    options: &CatchupOptions,
    prefix: &str,
    topology: &Topology,
    schema: &str,
    projection: &str,
) -> Vec<(String, String)> {
    [
        ("KAFKA_BOOTSTRAP_SERVERS", options.kafka.bootstrap_servers()),
        ("DATABASE_URL", options.database_url.as_str()),
        ("TRIBUTARY_TOPIC_PREFIX", prefix),
        ("TRIBUTARY_PARTITIONS", &topology.partitions().to_string()),
        ("PROJECTOR_SCHEMA", schema),
        ("PROJECTOR_NAME", projection),
        (
            "PROJECTOR_BATCH_MAX_EVENTS",
            &options.batch_max_events.to_string(),
        ),
        (
            "TRIBUTARY_RECENT_COMMANDS",
            &options.recent_commands.to_string(),
        ),
        ("LOG_FORMAT", "text"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

async fn process_result(
    workers: usize,
    events: usize,
    outcome: &ProcessesOutcome,
    schema: &VariantSchema,
) -> anyhow::Result<VariantResult> {
    let plural = if workers == 1 { "" } else { "es" };
    let mut result = VariantResult::new(
        &format!(
            "projector-{workers}-worker{}",
            if workers == 1 { "" } else { "s" }
        ),
        events,
        outcome.wall,
        format!(
            "{workers} `projector run` process{plural} from start to every partition committed at its end, exactly once (offset compare-and-set), reading from the broker; start-up: until the first partition was claimed"
        ),
    );
    result.peak_rss_mib = outcome
        .peak_rss_kb
        .iter()
        .map(|kb| *kb as f64 / 1024.0)
        .collect();
    result.start_up_seconds = Some(outcome.start_up.as_secs_f64());
    result.digest = Some(digest(&schema.pool).await?);
    Ok(result)
}

/// Whether every digest equals the bulk limit's, table by table (a variant that wrote only
/// the read tables is compared on those); logs the tables that differ.
fn identical(variants: &[VariantResult]) -> anyhow::Result<bool> {
    let reference = variants
        .iter()
        .find_map(|v| v.digest.as_ref())
        .context("no variant produced a digest")?;
    let mut same = true;
    for variant in variants {
        let Some(digest) = &variant.digest else {
            continue;
        };
        let tables = differing(digest, reference);
        if !tables.is_empty() {
            same = false;
            tracing::error!(
                variant = variant.name,
                ?tables,
                ?digest,
                ?reference,
                "tables differ from the bulk limit's"
            );
        }
    }
    Ok(same)
}

/// Whether variant `name`'s tables equal those of variant `reference`, when both have a
/// digest.
fn tables_match(variants: &[VariantResult], name: &str, reference: &str) -> Option<bool> {
    let digest_of = |name: &str| {
        variants
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.digest.as_ref())
    };
    Some(differing(digest_of(name)?, digest_of(reference)?).is_empty())
}

fn rate(variants: &[VariantResult], name: &str) -> Option<f64> {
    variants
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.events_per_second)
}

fn rows_rate(variants: &[VariantResult], name: &str) -> Option<f64> {
    variants
        .iter()
        .find(|v| v.name == name)
        .and_then(|v| v.rows_per_second)
}

/// The ratios the issue asks for, with their targets.
fn ratios(variants: &[VariantResult]) -> Vec<Ratio> {
    let mut ratios = Vec::new();
    let mut push = |name: String, a: Option<f64>, b: Option<f64>, target: Option<f64>| {
        if let (Some(a), Some(b)) = (a, b) {
            ratios.push(Ratio {
                name,
                value: a / b.max(1e-9),
                target,
            });
        }
    };
    let own = rate(variants, OWN_PATH);
    let (bulk, naive, raw) = (
        rate(variants, "bulk-limit"),
        rate(variants, "naive"),
        rate(variants, "raw-consume"),
    );
    push(
        "projector-own-path / bulk-limit".into(),
        own,
        bulk,
        Some(0.6),
    );
    push("projector-own-path / naive".into(), own, naive, Some(40.0));
    push("projector-own-path / raw-consume".into(), own, raw, None);
    for variant in variants.iter().filter(|v| is_process(v)) {
        let end_to_end = Some(variant.events_per_second);
        let name = &variant.name;
        push(format!("{name} / raw-consume"), end_to_end, raw, Some(0.8));
        push(format!("{name} / bulk-limit"), end_to_end, bulk, None);
        push(format!("{name} / naive"), end_to_end, naive, None);
    }
    let sink = rows_rate(variants, CONNECT);
    for variant in variants.iter().filter(|v| compared_on_rows(v)) {
        push(
            format!("{} / {CONNECT} (rows/s)", variant.name),
            variant.rows_per_second,
            sink,
            Some(2.0),
        );
    }
    ratios
}

/// The report as the table the command prints.
pub fn render(report: &CatchupReport) -> String {
    let mut out = format!(
        "catch-up: {} events ({} accounts opened, {} deposits, {} withdrawals, {} transfers of which {} completed), {} partitions, topics {}.*\npreload: {} events/s\n\n",
        thousands(report.events as f64),
        thousands(report.mix.opened as f64),
        thousands(report.mix.deposits as f64),
        thousands(report.mix.withdrawals as f64),
        thousands(report.mix.transfers as f64),
        thousands(report.mix.transfers_completed as f64),
        report.partitions,
        report.topic_prefix,
        thousands(report.preload_events_per_second),
    );
    let mut table = Table::new(&[
        "variant",
        "events",
        "seconds",
        "events/s",
        "rows/s",
        "start-up s",
        "peak RSS MiB",
    ]);
    for variant in &report.variants {
        let rss = variant
            .peak_rss_mib
            .iter()
            .map(|m| format!("{m:.0}"))
            .collect::<Vec<_>>()
            .join(" + ");
        table.row(vec![
            variant.name.clone(),
            thousands(variant.events as f64),
            format!("{:.2}", variant.seconds),
            thousands(variant.events_per_second),
            variant.rows_per_second.map(thousands).unwrap_or_default(),
            variant
                .start_up_seconds
                .map(|s| format!("{s:.1}"))
                .unwrap_or_default(),
            rss,
        ]);
    }
    out.push_str(&table.render());
    out.push('\n');
    let mut table = Table::new(&["ratio", "value", "target", ""]);
    for ratio in &report.ratios {
        let (target, verdict) = match ratio.target {
            Some(target) if ratio.value >= target => (format!("≥ {target}"), "met".to_owned()),
            Some(target) => (
                format!("≥ {target}"),
                format!("missed by {:.0} %", (1.0 - ratio.value / target) * 100.0),
            ),
            None => (String::new(), String::new()),
        };
        table.row(vec![
            ratio.name.clone(),
            format!("{:.2}", ratio.value),
            target,
            verdict,
        ]);
    }
    out.push_str(&table.render());
    out.push('\n');
    for variant in &report.variants {
        out.push_str(&format!("{}: {}\n", variant.name, variant.note));
    }
    if let Some(rows) = report.variants.iter().find_map(|v| v.rows) {
        out.push_str(&format!(
            "rows/s: the {} read-table row changes of the stream (one per event and row changed, what {CONNECT} is fed) over each variant's seconds\n",
            thousands(rows as f64)
        ));
    }
    out.push_str(&format!(
        "\npeak RSS target per projector process: < {} MiB\ntables identical across variants that wrote every event: {}\n",
        report.peak_rss_target_mib,
        yes_no(report.identical_tables)
    ));
    if let Some(matched) = report.connect_tables_match {
        out.push_str(&format!(
            "{CONNECT}'s read tables (accounts, account_ledger, users, transfers) equal {OWN_PATH}'s: {}\n",
            yes_no(matched)
        ));
    }
    out
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "NO" }
}
