//! The standard Kafka tools work against the pipeline's topics and groups with their default
//! settings: Debian's `kcat` prints our records with their keys and headers, and Apache
//! Kafka's `kafka-consumer-groups --describe` shows the projector's group with every
//! partition of its topic and no lag once it has caught up.
//!
//! The projector commits its offsets to its consumer group after PostgreSQL has stored them
//! (the store is what it resumes from; the group's offsets are for these tools and for lag
//! based autoscaling), so the group shows the same progress as the offset store.
//!
//! `kcat` comes from Debian's packages and the Kafka tools from the broker's installed jars;
//! `scripts/test.sh` installs both and names the tools' directory in `TRIBUTARY_KAFKA_TOOLS`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tributary_schemas::headers::{AGGREGATE_VERSION, EVENT_ID, EVENT_TYPE};
use tributary_tests::bank_events::{AccountWorkload, RawRecord, produce};
use tributary_tests::pipeline::{TestPipeline, wait_for_catch_up};
use tributary_tests::{kafka, producer};

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");

/// Runs `program` with `args`, failing with its stderr unless it exits 0.
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The `kafka-consumer-groups` of the installed Kafka tools.
fn consumer_groups_tool() -> String {
    let dir = std::env::var("TRIBUTARY_KAFKA_TOOLS").unwrap_or_else(|_| {
        panic!(
            "TRIBUTARY_KAFKA_TOOLS is not set: run this test through scripts/test.sh, or set it \
             to the bin directory scripts/kafka.sh install writes (~/.cache/tributary/kafka-<version>/bin)"
        )
    });
    let tool = PathBuf::from(dir).join("kafka-consumer-groups");
    assert!(
        tool.exists(),
        "{} does not exist: run scripts/kafka.sh install",
        tool.display()
    );
    tool.to_string_lossy().into_owned()
}

/// Partition → (current offset, log end, lag) from `kafka-consumer-groups --describe`.
fn describe_group(
    tool: &str,
    bootstrap: &str,
    group: &str,
    topic: &str,
) -> BTreeMap<i32, Vec<String>> {
    let table = run(
        tool,
        &[
            "--bootstrap-server",
            bootstrap,
            "--describe",
            "--group",
            group,
        ],
    );
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|columns| columns.len() >= 6 && columns[0] == group && columns[1] == topic)
        .map(|columns| {
            let values = columns[3..6].iter().map(|c| (*c).to_owned()).collect();
            (columns[2].parse().unwrap(), values)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_and_kafka_consumer_groups_read_the_pipeline() {
    let tool = consumer_groups_tool();
    let pipeline = TestPipeline::create("tools", 4).await;
    let topic = pipeline.topology.events("account");
    let workload = AccountWorkload::generate(&pipeline.prefix, 20, 400, 7);
    let records: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();
    produce(&producer(&[]), &topic, &records).await;
    let bootstrap = kafka().bootstrap_servers().to_owned();

    // kcat: every record with its key and our headers, in the default configuration.
    let printed = run(
        "kcat",
        &[
            "-b",
            &bootstrap,
            "-C",
            "-t",
            &topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%k|%h\\n",
        ],
    );
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), records.len(), "kcat printed:\n{printed}");
    for line in &lines {
        let (key, headers) = line.split_once('|').unwrap();
        assert!(key.starts_with(&pipeline.prefix), "key {key:?}");
        for name in [EVENT_ID, EVENT_TYPE, AGGREGATE_VERSION] {
            assert!(
                headers.contains(&format!("{name}=")),
                "no {name} in {headers:?}"
            );
        }
    }

    // kafka-consumer-groups: the projector's group, every partition, no lag once caught up.
    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    let pool = pipeline.pool().await;
    let ends = pipeline.end_offsets(&topic);
    wait_for_catch_up(&pool, "bank", &topic, &ends, Duration::from_secs(120)).await;
    let group = format!("{}.projector.bank", pipeline.prefix);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let described = describe_group(&tool, &bootstrap, &group, &topic);
        // A partition the workload left empty has nothing to commit: no current offset, no lag.
        let caught_up = ends.iter().all(|(partition, end)| {
            let expected = if *end == 0 {
                ["-".to_owned(), "0".to_owned(), "-".to_owned()]
            } else {
                [end.to_string(), end.to_string(), "0".to_owned()]
            };
            described.get(partition).map(Vec::as_slice) == Some(&expected[..])
        });
        if caught_up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kafka-consumer-groups shows {described:?} for {group}, expected ends {ends:?} and lag 0"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pool).await;
}
