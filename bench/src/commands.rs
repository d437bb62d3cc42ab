//! The command-path scenario: open-loop load at fixed rates against `producer all` (gateway,
//! processor and saga runner), with a `projector run` behind it, measuring the gateway's
//! answers and how long until each accepted command is visible in the read model.
//!
//! Open loop means commands are sent on a fixed schedule whatever the answers do, and every
//! latency is measured from the moment the schedule said to send, so a slow system cannot
//! hide its slowness by slowing the client down (coordinated omission). After a `200`, the
//! client reads the account back through the projector's read API with the answer's
//! `consistency_token`, which waits until the projection includes the event: the time to that
//! read's `200` is command → visible.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tributary_runtime::kafka::KafkaSettings;
use tributary_tests::http::HttpClient;
use tributary_tests::process::ServiceProcess;

use crate::broker;
use crate::report::{Table, thousands};
use crate::stages::{Reading, StageFigures};
use crate::variants::VariantSchema;

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandsOptions {
    /// Offered rates, commands per second, in the order they are run.
    pub rates: Vec<u32>,
    /// How long each rate is held.
    pub duration: Duration,
    /// Load before the first rate, not measured (fills caches, opens connections).
    pub warm_up: Duration,
    /// Accounts the commands go to (opened and funded first).
    pub accounts: usize,
    /// Partitions of the commands and events topics.
    pub partitions: i32,
    /// Most requests in flight; beyond it a scheduled command counts as an error.
    pub max_in_flight: usize,
    /// The `producer` binary.
    pub producer_binary: String,
    /// The `projector` binary.
    pub projector_binary: String,
    /// PostgreSQL URL.
    pub database_url: String,
    /// Broker client settings.
    pub kafka: KafkaSettings,
    /// Keep the schema after the run.
    pub keep_schemas: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let index = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index].as_secs_f64() * 1000.0
        };
        Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// The figures of one offered rate.
#[derive(Debug, Clone, Serialize)]
pub struct RateResult {
    /// Offered commands per second.
    pub offered_per_second: u32,
    /// Commands sent.
    pub sent: usize,
    /// Answered `200`.
    pub accepted: usize,
    /// Answered `409`.
    pub rejected: usize,
    /// Anything else: other statuses, transport errors, the in-flight limit, reads that
    /// did not see their write.
    pub errors: usize,
    /// Answers (accepted + rejected) per second of the step.
    pub answered_per_second: f64,
    /// Gateway latency (scheduled send → answer) of accepted and rejected commands.
    pub gateway_ms: Percentiles,
    /// Scheduled send → the read with the consistency token answered `200`.
    pub visible_ms: Percentiles,
    /// Where the time went, from the pipeline's own histograms over the step.
    pub stages: Vec<StageFigures>,
    /// A few error messages, for the reader.
    pub error_samples: Vec<String>,
}

/// Everything a command-path run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CommandsReport {
    /// The topic prefix of the run.
    pub topic_prefix: String,
    /// Accounts.
    pub accounts: usize,
    /// Seconds per rate.
    pub duration_seconds: f64,
    /// Each rate.
    pub rates: Vec<RateResult>,
    /// The highest offered rate with no errors, answers keeping up (≥ 95 % of offered) and
    /// command → visible p99 under 100 ms.
    pub highest_rate_held: Option<u32>,
    /// Peak resident memory of the producer and the projector, MiB.
    pub peak_rss_mib: Vec<(String, f64)>,
}

/// Runs the scenario.
pub async fn run(options: &CommandsOptions) -> anyhow::Result<CommandsReport> {
    let (run_id, topology) = broker::fresh_topology(options.partitions);
    let prefix = format!("bench.{run_id}");
    broker::create_topics(&options.kafka, &topology).await?;
    let schema =
        VariantSchema::create(&options.database_url, &format!("bench_{run_id}_cmd"), 2).await?;
    let env: Vec<(String, String)> = [
        ("KAFKA_BOOTSTRAP_SERVERS", options.kafka.bootstrap_servers()),
        ("DATABASE_URL", options.database_url.as_str()),
        ("TRIBUTARY_TOPIC_PREFIX", prefix.as_str()),
        ("TRIBUTARY_PARTITIONS", &options.partitions.to_string()),
        ("PROJECTOR_SCHEMA", schema.name.as_str()),
        ("PROJECTOR_NAME", "bank"),
        ("PRODUCER_INSTANCE_ID", &format!("bench-gateway-{run_id}")),
        ("LOG_FORMAT", "text"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut projector = ServiceProcess::start(
        "projector",
        &options.projector_binary,
        &["run"],
        &env,
        "PROJECTOR_HTTP_ADDR",
    )?;
    let mut producer = ServiceProcess::start(
        "producer",
        &options.producer_binary,
        &["all"],
        &env,
        "PRODUCER_HTTP_ADDR",
    )?;
    let outcome = drive(options, &mut projector, &mut producer).await;
    let peak_rss_mib = [("producer", &producer), ("projector", &projector)]
        .iter()
        .map(|(name, s)| {
            (
                (*name).to_owned(),
                s.peak_rss_kb().unwrap_or_default() as f64 / 1024.0,
            )
        })
        .collect();
    producer.stop(Duration::from_secs(30)).await;
    projector.stop(Duration::from_secs(30)).await;
    if !options.keep_schemas {
        schema.drop_schema().await?;
    }
    let rates = outcome?;
    let highest_rate_held = rates
        .iter()
        .filter(|r| {
            r.errors == 0
                && r.answered_per_second >= 0.95 * f64::from(r.offered_per_second)
                && r.visible_ms.p99 < 100.0
        })
        .map(|r| r.offered_per_second)
        .max();
    Ok(CommandsReport {
        topic_prefix: prefix,
        accounts: options.accounts,
        duration_seconds: options.duration.as_secs_f64(),
        rates,
        highest_rate_held,
        peak_rss_mib,
    })
}

async fn drive(
    options: &CommandsOptions,
    projector: &mut ServiceProcess,
    producer: &mut ServiceProcess,
) -> anyhow::Result<Vec<RateResult>> {
    projector.wait_ready(Duration::from_secs(120)).await?;
    producer.wait_ready(Duration::from_secs(120)).await?;
    let load = Arc::new(Load {
        gateway: HttpClient::new(producer.http),
        reader: HttpClient::new(projector.http),
        accounts: options.accounts,
        in_flight: AtomicUsize::new(0),
        max_in_flight: options.max_in_flight,
    });
    tracing::info!(
        accounts = options.accounts,
        "opening and funding the accounts"
    );
    open_accounts(&load).await?;
    if let Some(&first) = options.rates.first()
        && !options.warm_up.is_zero()
    {
        tracing::info!(rate = first, "warming up");
        step(&load, first, options.warm_up, 0).await;
    }
    let mut results = Vec::new();
    for (index, &rate) in options.rates.iter().enumerate() {
        tracing::info!(
            rate,
            seconds = options.duration.as_secs_f64(),
            "open-loop step"
        );
        let before = Reading::take(producer, projector).await?;
        let mut result = step(&load, rate, options.duration, (index as u64 + 1) << 40).await;
        result.stages = Reading::take(producer, projector).await?.since(&before);
        tracing::info!(
            rate,
            accepted = result.accepted,
            errors = result.errors,
            visible_p99_ms = result.visible_ms.p99,
            "step done"
        );
        results.push(result);
        producer.check_running()?;
        projector.check_running()?;
    }
    Ok(results)
}

/// The clients and the shape of the load.
struct Load {
    gateway: HttpClient,
    reader: HttpClient,
    accounts: usize,
    in_flight: AtomicUsize,
    max_in_flight: usize,
}

fn account(index: usize) -> String {
    format!("bench-acc-{index:05}")
}

/// Opens and funds every account, 32 at a time.
async fn open_accounts(load: &Arc<Load>) -> anyhow::Result<()> {
    let mut tasks = JoinSet::new();
    for index in 0..load.accounts {
        if tasks.len() >= 32
            && let Some(done) = tasks.join_next().await
        {
            done??;
        }
        let load = Arc::clone(load);
        tasks.spawn(async move {
            let id = account(index);
            for command in [
                serde_json::json!({"type": "OpenAccount", "owner_id": format!("owner-{index}"), "currency": "EUR"}),
                serde_json::json!({"type": "Deposit", "amount": 1_000_000_000}),
            ] {
                let body = serde_json::json!({"aggregate": "account", "id": id, "command": command});
                let response = load
                    .gateway
                    .post_json("/v1/commands", &body)
                    .await?;
                if response.status != 200 {
                    bail!(
                        "setting up {id} was answered {}: {}",
                        response.status,
                        response.body
                    );
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// How one scheduled command ended.
enum Outcome {
    Accepted {
        gateway: Duration,
        visible: Duration,
    },
    Rejected {
        gateway: Duration,
    },
    Error(String),
}

/// Offers `rate` commands per second for `duration`: deposits (70 %) and withdrawals to
/// accounts in turn.
async fn step(load: &Arc<Load>, rate: u32, duration: Duration, salt: u64) -> RateResult {
    let total = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let mut refused_locally = 0;
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        if load.in_flight.load(Ordering::Relaxed) >= load.max_in_flight {
            refused_locally += 1;
            continue;
        }
        load.in_flight.fetch_add(1, Ordering::Relaxed);
        let load = Arc::clone(load);
        tasks.spawn(async move {
            let outcome = one_command(&load, salt + i, due).await;
            load.in_flight.fetch_sub(1, Ordering::Relaxed);
            outcome
        });
    }
    let mut result = RateResult {
        offered_per_second: rate,
        sent: total as usize,
        accepted: 0,
        rejected: 0,
        errors: refused_locally,
        answered_per_second: 0.0,
        gateway_ms: Percentiles::default(),
        visible_ms: Percentiles::default(),
        stages: Vec::new(),
        error_samples: Vec::new(),
    };
    if refused_locally > 0 {
        result.error_samples.push(format!(
            "{refused_locally} commands not sent: {} already in flight",
            load.max_in_flight
        ));
    }
    let (mut gateway, mut visible) = (Vec::new(), Vec::new());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Outcome::Accepted {
                gateway: g,
                visible: v,
            }) => {
                result.accepted += 1;
                gateway.push(g);
                visible.push(v);
            }
            Ok(Outcome::Rejected { gateway: g }) => {
                result.rejected += 1;
                gateway.push(g);
            }
            Ok(Outcome::Error(message)) => {
                result.errors += 1;
                if result.error_samples.len() < 5 {
                    result.error_samples.push(message);
                }
            }
            Err(error) => {
                result.errors += 1;
                result.error_samples.push(format!("task failed: {error}"));
            }
        }
    }
    result.answered_per_second =
        (result.accepted + result.rejected) as f64 / duration.as_secs_f64();
    result.gateway_ms = Percentiles::of(&mut gateway);
    result.visible_ms = Percentiles::of(&mut visible);
    result
}

/// Sends command number `n`, then reads its write back with the consistency token.
async fn one_command(load: &Load, n: u64, due: Instant) -> Outcome {
    let id = account((n % load.accounts as u64) as usize);
    let command = if n % 10 < 7 {
        serde_json::json!({"type": "Deposit", "amount": 1 + n % 500})
    } else {
        serde_json::json!({"type": "Withdraw", "amount": 1 + n % 300})
    };
    let body = serde_json::json!({
        "aggregate": "account",
        "id": id,
        "command_id": uuid::Uuid::new_v4().to_string(),
        "command": command,
    });
    let response = match load.gateway.post_json("/v1/commands", &body).await {
        Ok(response) => response,
        Err(error) => return Outcome::Error(format!("gateway: {error:#}")),
    };
    let gateway = due.elapsed();
    match response.status {
        200 => {}
        409 => return Outcome::Rejected { gateway },
        status => {
            return Outcome::Error(format!("gateway answered {status}: {}", response.body));
        }
    }
    let token = serde_json::from_str::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|answer| answer["consistency_token"].as_str().map(str::to_owned));
    let Some(token) = token else {
        return Outcome::Error("a 200 answer without a consistency_token".to_owned());
    };
    match load
        .reader
        .get(&format!("/v1/accounts/{id}?consistency={token}"))
        .await
    {
        Ok(read) if read.status == 200 => Outcome::Accepted {
            gateway,
            visible: due.elapsed(),
        },
        Ok(read) => Outcome::Error(format!(
            "read with {token} answered {}: {}",
            read.status, read.body
        )),
        Err(error) => Outcome::Error(format!("read API: {error:#}")),
    }
}

/// The report as the table the command prints.
pub fn render(report: &CommandsReport) -> String {
    let mut out = format!(
        "command path: open-loop deposits and withdrawals over {} accounts, {:.0} s per rate, topics {}.*\n\n",
        report.accounts, report.duration_seconds, report.topic_prefix
    );
    let mut table = Table::new(&[
        "offered/s",
        "answered/s",
        "accepted",
        "rejected",
        "errors",
        "gw p50",
        "gw p95",
        "gw p99",
        "visible p50",
        "visible p99",
    ]);
    for rate in &report.rates {
        table.row(vec![
            thousands(f64::from(rate.offered_per_second)),
            thousands(rate.answered_per_second),
            thousands(rate.accepted as f64),
            thousands(rate.rejected as f64),
            thousands(rate.errors as f64),
            format!("{:.1}", rate.gateway_ms.p50),
            format!("{:.1}", rate.gateway_ms.p95),
            format!("{:.1}", rate.gateway_ms.p99),
            format!("{:.1}", rate.visible_ms.p50),
            format!("{:.1}", rate.visible_ms.p99),
        ]);
    }
    out.push_str(&table.render());
    out.push_str("(latencies in ms, from the scheduled send)\n\n");
    out.push_str(&render_stages(report));
    for rate in &report.rates {
        for sample in &rate.error_samples {
            out.push_str(&format!("  at {}/s: {sample}\n", rate.offered_per_second));
        }
    }
    out.push_str(&format!(
        "\nhighest rate held (no errors, answers ≥ 95 % of offered, command → visible p99 < 100 ms): {}\n",
        report
            .highest_rate_held
            .map_or("none".to_owned(), |r| format!("{r}/s"))
    ));
    let rss: Vec<String> = report
        .peak_rss_mib
        .iter()
        .map(|(name, mib)| format!("{name} {mib:.0} MiB"))
        .collect();
    out.push_str(&format!("peak RSS: {}\n", rss.join(", ")));
    out
}

/// Where the time went at each rate: the pipeline's own histograms.
fn render_stages(report: &CommandsReport) -> String {
    let mut table = Table::new(&["offered/s", "stage", "count", "mean", "p50", "p99"]);
    let ms = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for rate in &report.rates {
        for stage in &rate.stages {
            table.row(vec![
                thousands(f64::from(rate.offered_per_second)),
                stage.stage.to_owned(),
                thousands(stage.observations),
                ms(stage.mean_ms),
                ms(stage.p50_ms),
                ms(stage.p99_ms),
            ]);
        }
    }
    format!(
        "where the time goes (the pipeline's histograms, ms; quantiles interpolated in buckets):\n{}\
         gateway request: request received → answer (produce, processor, reply consumed); \
         processor handling: the batch of commands a command arrived in, decoded → replies sent; \
         projector batch: its first record → commit; projector transaction: its part in PostgreSQL\n",
        table.render()
    )
}

/// Checks that `rates` is usable.
pub fn check_rates(rates: &[u32]) -> anyhow::Result<()> {
    if rates.is_empty() || rates.contains(&0) {
        bail!("--rates needs one or more positive rates, e.g. 500,1000,2000,5000");
    }
    Ok(())
}

/// `Context` for a missing binary.
pub fn binary_exists(path: &str) -> anyhow::Result<()> {
    std::fs::metadata(path)
        .map(|_| ())
        .with_context(|| format!("{path} does not exist: build it with `cargo build --release -p tributary-projector -p tributary-bank`"))
}
