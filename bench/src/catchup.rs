//! The projector catch-up scenario: preload an event stream of the bank into fresh topics,
//! then put it into PostgreSQL every way [`crate::variants`] knows, each into its own
//! schema, and compare their speed and their tables.
//!
//! Order of a run: generate ([`crate::workload`]) → preload and find the end offsets →
//! raw consume (the broker's limit) → fetch into memory → bulk limit → the projector's own
//! path → naive (over a prefix unless told otherwise) → `projector run` with 1 and 2
//! processes → digest every schema's tables and check they are identical (the naive one only
//! when it applied everything).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tributary_runtime::Topology;
use tributary_runtime::kafka::KafkaSettings;

use crate::broker::{self, Ends};
use crate::digest::{TableDigest, digest};
use crate::report::{Table, thousands};
use crate::variants::own_path::OwnPathSettings;
use crate::variants::processes::{ProcessesOutcome, ProjectorLaunch};
use crate::variants::{VariantSchema, bulk, naive, own_path, processes};
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
    /// Seconds until the first partition was claimed (process variants only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_up_seconds: Option<f64>,
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
            digest: None,
        }
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
        "projector-own-path",
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

    let identical_tables = identical(&variants)?;
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
    })
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
            "{workers} `projector run` process{plural} from start to every partition committed at its end, exactly once (offset compare-and-set), reading from the broker"
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

/// Whether every digest equals the bulk limit's; logs the tables that differ.
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
        if digest != reference {
            same = false;
            tracing::error!(
                variant = variant.name,
                ?digest,
                ?reference,
                "tables differ from the bulk limit's"
            );
        }
    }
    Ok(same)
}

fn rate(variants: &[VariantResult], name: &str) -> Option<f64> {
    variants
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.events_per_second)
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
    let own = rate(variants, "projector-own-path");
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
    for variant in variants.iter().filter(|v| !v.peak_rss_mib.is_empty()) {
        let end_to_end = Some(variant.events_per_second);
        let name = &variant.name;
        push(format!("{name} / raw-consume"), end_to_end, raw, Some(0.8));
        push(format!("{name} / bulk-limit"), end_to_end, bulk, None);
        push(format!("{name} / naive"), end_to_end, naive, None);
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
    let mut table = Table::new(&["variant", "events", "seconds", "events/s", "peak RSS MiB"]);
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
        out.push_str(&format!("{}: {}", variant.name, variant.note));
        if let Some(start_up) = variant.start_up_seconds {
            out.push_str(&format!(" (first partition claimed after {start_up:.1} s)"));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\npeak RSS target per projector process: < {} MiB\ntables identical across variants that wrote every event: {}\n",
        report.peak_rss_target_mib,
        if report.identical_tables { "yes" } else { "NO" }
    ));
    out
}
