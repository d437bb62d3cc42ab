//! Support for the integration tests and the benchmarks: where the broker is, fresh topics per
//! test, Kafka clients, bounded waits, the independent Python tools used for interoperability
//! checks, and the service harness both share — [`process`] (a service binary as a child
//! process), [`http`] (the HTTP client) and [`metrics`] (reading `/metrics`).
//!
//! The tests run against whatever `KAFKA_BOOTSTRAP_SERVERS` names (the scripts start a local
//! Apache Kafka when nothing is given) and never share topics or consumer groups, so they can run in
//! parallel and against a broker that already holds data.

// Test support: a panic is how a failed set-up step reports itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bank_events;
pub mod command_side;
pub mod failures;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod process;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::FutureProducer;
use tributary_runtime::kafka::KafkaSettings;
use tributary_runtime::kafka::admin;
use tributary_runtime::topology::TopicSpec;

/// The default local broker address the scripts start.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// How long any single broker operation in a test may take before it counts as failed.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(30);

/// Until when a test's producer may wait for room in its queue: [`BROKER_TIMEOUT`] from now.
pub fn enqueue_deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + BROKER_TIMEOUT
}

/// Client settings for the broker under test.
pub fn kafka() -> KafkaSettings {
    KafkaSettings::from_env(DEFAULT_BOOTSTRAP)
}

/// A name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    format!("test.{prefix}.{}", uuid::Uuid::new_v4().simple())
}

/// Creates a fresh topic and waits until the broker's metadata shows all its partitions.
pub async fn create_topic(name: &str, partitions: i32) {
    let config = kafka().admin().unwrap();
    let spec = TopicSpec {
        name: name.to_owned(),
        partitions,
        configs: Vec::new(),
        co_partitioned: false,
    };
    admin::create_missing_topics(&config, &[spec], 1, BROKER_TIMEOUT)
        .await
        .unwrap_or_else(|error| panic!("creating topic {name}: {error}"));
    wait_until(BROKER_TIMEOUT, &format!("topic {name} in metadata"), || {
        admin::partition_counts(&config, BROKER_TIMEOUT)
            .ok()
            .and_then(|counts| counts.get(name).copied())
            == Some(partitions)
    });
}

/// An idempotent producer with the pipeline's settings plus `extra` properties.
pub fn producer(extra: &[(&str, &str)]) -> FutureProducer {
    with_extra(kafka().producer().unwrap(), extra)
        .create()
        .unwrap()
}

/// A manually committing consumer in `group` with `extra` properties.
pub fn consumer(group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    with_extra(kafka().consumer(group).unwrap(), extra)
        .create()
        .unwrap()
}

fn with_extra(mut config: ClientConfig, extra: &[(&str, &str)]) -> ClientConfig {
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
}

/// Polls `condition` until it holds, failing the test with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits inside the repository")
        .to_path_buf()
}

/// Runs a script from `tests/python` with the interpreter of the test environment
/// (`TRIBUTARY_PYTHON`, set by `scripts/test.sh`, which installs fastavro and confluent-kafka),
/// failing the test with the script's output if it fails.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let python = std::env::var("TRIBUTARY_PYTHON").unwrap_or_else(|_| {
        panic!(
            "TRIBUTARY_PYTHON is not set: run the suite with scripts/test.sh, which creates the Python environment with fastavro and confluent-kafka"
        )
    });
    let output = Command::new(&python)
        .arg(repo_root().join("tests/python").join(script))
        .args(args)
        .env("KAFKA_BOOTSTRAP_SERVERS", kafka().bootstrap_servers())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {python}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The database the tests use: `DATABASE_URL`, or the local test database the scripts create.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/tributary_test".to_owned())
}
