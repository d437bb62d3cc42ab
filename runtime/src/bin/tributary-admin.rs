//! `tributary-admin`: creates and checks a pipeline's topics on any Kafka-protocol broker.
//!
//! The scripts call it to lay out the local broker; operators can call it against a real
//! cluster before the first deployment (or use the Strimzi resources in `deploy/`).

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use tributary_runtime::Topology;
use tributary_runtime::kafka::KafkaSettings;
use tributary_runtime::kafka::admin::{self, Preparation};

/// Creates and checks the topics of a Tributary pipeline.
///
/// Kafka client properties come from KAFKA_* environment variables
/// (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, …).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Prefix of every topic name.
    #[arg(long, env = "TRIBUTARY_TOPIC_PREFIX", default_value = "tributary")]
    topic_prefix: String,
    /// Aggregate types of the domain, comma-separated, each with an events topic and a
    /// dead-letter topic (the domain's `Domain::aggregate_types`).
    #[arg(long, env = "TRIBUTARY_AGGREGATES", value_delimiter = ',')]
    aggregates: Vec<String>,
    /// Partition count of the commands, events and dead-letter topics.
    #[arg(long, env = "TRIBUTARY_PARTITIONS", default_value_t = 8)]
    partitions: i32,
    /// Replication factor of topics it creates.
    #[arg(long, env = "TRIBUTARY_REPLICATION_FACTOR", default_value_t = 1)]
    replication_factor: i32,
    /// How long to wait for the broker, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the topics that are missing, then check every partition count.
    Ensure,
    /// Check that every topic exists with the partition count the pipeline needs.
    Check,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.aggregates.iter().all(|a| a.trim().is_empty()) {
        bail!(
            "no aggregate types given: set TRIBUTARY_AGGREGATES (or --aggregates) to the domain's aggregate types, comma-separated (the bank example's: account,email-claim,user,transfer)"
        );
    }
    if let Some(blank) = cli.aggregates.iter().position(|a| a.trim().is_empty()) {
        bail!(
            "TRIBUTARY_AGGREGATES {:?}: entry {} is empty; list the aggregate types separated by single commas",
            cli.aggregates.join(","),
            blank + 1
        );
    }
    let topology = Topology::new(&cli.topic_prefix, &cli.aggregates, cli.partitions);
    let config = KafkaSettings::from_env("127.0.0.1:9092").admin()?;
    let timeout = Duration::from_secs(cli.timeout_secs);
    let preparation = match cli.command {
        Command::Ensure => Preparation::CreateMissing {
            replication_factor: cli.replication_factor,
        },
        Command::Check => Preparation::Check,
    };
    let created = admin::prepare_topics(&config, &topology, |_| true, preparation, timeout)
        .await
        .context("the topics do not match the pipeline")?;
    for topic in &created {
        println!("created {topic}");
    }
    println!(
        "{} topics of prefix {:?} present; commands and events have {} partitions",
        topology.topics().len(),
        cli.topic_prefix,
        cli.partitions
    );
    Ok(())
}
