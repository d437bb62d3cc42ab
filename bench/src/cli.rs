//! The command line: `bench catchup` and `bench commands`, their flags with defaults, and
//! what `--quick` changes. Flags become the scenarios' option structs here, so the scenarios
//! themselves can be run from tests without a command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tributary_runtime::kafka::KafkaSettings;

use crate::catchup::{self, CatchupOptions};
use crate::commands::{self, CommandsOptions};
use crate::machine::{Machine, command_line};
use crate::report::{self, ResultFile};
use crate::variants::connect::ConnectSettings;
use crate::workload::WorkloadShape;

/// Tributary's benchmarks. `scripts/bench.sh` starts what they need and runs them.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
pub struct Cli {
    /// The scenario.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Projector catch-up over a preloaded stream, against the raw-consume and bulk limits,
    /// a naive projector and Kafka Connect's JDBC sink.
    Catchup(CatchupArgs),
    /// Open-loop command load at fixed rates through the gateway, with read-backs.
    Commands(CommandsArgs),
}

/// Flags both scenarios take.
#[derive(Debug, Args)]
pub struct Common {
    /// A small version of the scenario (about a minute).
    #[arg(long)]
    pub quick: bool,
    /// PostgreSQL; every run uses schemas of its own there.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/tributary"
    )]
    pub database_url: String,
    /// The broker's name and version, for the record (the script asks the binary).
    #[arg(long, env = "BENCH_BROKER_VERSION", default_value = "unknown")]
    pub broker_version: String,
    /// Where the `projector` and `producer` binaries are; by default next to this one.
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Where the result JSON goes.
    #[arg(long, default_value = "bench/results")]
    pub results_dir: PathBuf,
    /// Print only; write no result file.
    #[arg(long)]
    pub no_results: bool,
    /// Keep the PostgreSQL schemas of the run.
    #[arg(long)]
    pub keep_schemas: bool,
}

/// `bench catchup`.
#[derive(Debug, Args)]
pub struct CatchupArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: Common,
    /// Events to preload [default: 1000000; --quick: 100000].
    #[arg(long)]
    pub events: Option<usize>,
    /// Accounts [default: 100000; --quick: 10000].
    #[arg(long)]
    pub accounts: Option<usize>,
    /// Partitions per topic.
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Events the naive projector applies, a prefix of the stream [default: 50000;
    /// --quick: 5000].
    #[arg(long)]
    pub naive_events: Option<usize>,
    /// Projector process counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub workers: Vec<usize>,
    /// Records per projector batch (`PROJECTOR_BATCH_MAX_EVENTS`).
    #[arg(long, default_value_t = 2000)]
    pub batch_max_events: usize,
    /// Seed of the command mix.
    #[arg(long, default_value_t = 20_240_601)]
    pub seed: u64,
    /// Longest one variant may take, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub variant_timeout: u64,
    /// Leave out the Kafka Connect JDBC sink.
    #[arg(long)]
    pub no_connect: bool,
    /// `scripts/connect.sh`, which runs the Kafka Connect worker (`scripts/bench.sh` sets it
    /// after resolving the worker's jars).
    #[arg(
        long,
        env = "BENCH_CONNECT_SCRIPT",
        default_value = "scripts/connect.sh"
    )]
    pub connect_script: PathBuf,
    /// Tasks of the Kafka Connect sink (`tasks.max`); the default is the projector's
    /// database pool size, its number of concurrent writers.
    #[arg(long, default_value_t = 8)]
    pub connect_tasks: usize,
}

/// `bench commands`.
#[derive(Debug, Args)]
pub struct CommandsArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: Common,
    /// Offered rates in commands per second, comma-separated [default: 20,500,1000,2000,5000;
    /// --quick: 20,500,1000; 20/s is the idle path: commands rarely overlap].
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<u32>,
    /// Seconds each rate is held [default: 30; --quick: 10].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds of load before the first rate, not measured.
    #[arg(long, default_value_t = 3.0)]
    pub warm_up: f64,
    /// Accounts the commands go to [default: 1000; --quick: 200].
    #[arg(long)]
    pub accounts: Option<usize>,
    /// Partitions per topic.
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Most requests in flight.
    #[arg(long, default_value_t = 4000)]
    pub max_in_flight: usize,
}

impl Common {
    fn binary(&self, name: &str) -> anyhow::Result<String> {
        let dir = match &self.bin_dir {
            Some(dir) => dir.clone(),
            None => std::env::current_exe()?
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default(),
        };
        let path = dir.join(name).to_string_lossy().into_owned();
        commands::binary_exists(&path)?;
        Ok(path)
    }
}

impl CatchupArgs {
    /// The options these flags stand for.
    pub fn options(&self) -> anyhow::Result<CatchupOptions> {
        let quick = self.common.quick;
        let pick = |given: Option<usize>, full: usize, small: usize| {
            given.unwrap_or(if quick { small } else { full })
        };
        Ok(CatchupOptions {
            shape: WorkloadShape {
                events: pick(self.events, 1_000_000, 100_000),
                accounts: pick(self.accounts, 100_000, 10_000),
                partitions: self.partitions,
                seed: self.seed,
            },
            naive_events: pick(self.naive_events, 50_000, 5_000),
            workers: self.workers.clone(),
            projector_binary: self.common.binary("projector")?,
            database_url: self.common.database_url.clone(),
            kafka: KafkaSettings::from_env("127.0.0.1:9092"),
            batch_max_events: self.batch_max_events,
            recent_commands: 32,
            keep_schemas: self.common.keep_schemas,
            variant_timeout: Duration::from_secs(self.variant_timeout),
            connect: self.connect()?,
        })
    }

    fn connect(&self) -> anyhow::Result<Option<ConnectSettings>> {
        if self.no_connect {
            return Ok(None);
        }
        let script = self.connect_script.canonicalize().with_context(|| {
            format!(
                "{} not found (the Kafka Connect sink's launcher): run from the repository root, set BENCH_CONNECT_SCRIPT, or pass --no-connect",
                self.connect_script.display()
            )
        })?;
        Ok(Some(ConnectSettings {
            script,
            tasks: self.connect_tasks.max(1),
        }))
    }
}

impl CommandsArgs {
    /// The options these flags stand for.
    pub fn options(&self) -> anyhow::Result<CommandsOptions> {
        let quick = self.common.quick;
        let rates = if !self.rates.is_empty() {
            self.rates.clone()
        } else if quick {
            vec![20, 500, 1000]
        } else {
            vec![20, 500, 1000, 2000, 5000]
        };
        commands::check_rates(&rates)?;
        let duration = self.duration.unwrap_or(if quick { 10.0 } else { 30.0 });
        Ok(CommandsOptions {
            rates,
            duration: Duration::from_secs_f64(duration),
            warm_up: Duration::from_secs_f64(self.warm_up),
            accounts: self
                .accounts
                .unwrap_or(if quick { 200 } else { 1000 })
                .max(1),
            partitions: self.partitions,
            max_in_flight: self.max_in_flight,
            producer_binary: self.common.binary("producer")?,
            projector_binary: self.common.binary("projector")?,
            database_url: self.common.database_url.clone(),
            kafka: KafkaSettings::from_env("127.0.0.1:9092"),
            keep_schemas: self.common.keep_schemas,
        })
    }
}

/// Runs the chosen scenario, prints its table and writes its result file.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.scenario {
        Scenario::Catchup(args) => {
            let options = args.options()?;
            let report = catchup::run(&options).await?;
            print!("{}", catchup::render(&report));
            let name = if args.common.quick {
                "catchup-quick"
            } else {
                "catchup"
            };
            record(&args.common, &options.kafka, name, &report).await?;
            if !report.identical_tables {
                anyhow::bail!("the variants wrote different tables (see the log above)");
            }
        }
        Scenario::Commands(args) => {
            let options = args.options()?;
            let report = commands::run(&options).await?;
            print!("{}", commands::render(&report));
            let name = if args.common.quick {
                "commands-quick"
            } else {
                "commands"
            };
            record(&args.common, &options.kafka, name, &report).await?;
        }
    }
    Ok(())
}

async fn record<T: serde::Serialize>(
    common: &Common,
    kafka: &KafkaSettings,
    scenario: &str,
    results: &T,
) -> anyhow::Result<()> {
    if common.no_results {
        return Ok(());
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&common.database_url)
        .await?;
    let machine = Machine::inspect(&pool, &common.broker_version, kafka.bootstrap_servers()).await;
    pool.close().await;
    let file = ResultFile {
        scenario,
        date: report::utc_now(),
        command: std::env::var("BENCH_COMMAND").unwrap_or_else(|_| command_line()),
        machine: &machine,
        results,
    };
    let path = report::write(&common.results_dir, &file)?;
    println!("results: {}", path.display());
    Ok(())
}
