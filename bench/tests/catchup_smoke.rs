//! A tiny catch-up run (10k events) in the test suite: every variant — bulk limit, the
//! projector's own path, the naive projector over every event, `projector run` with one and
//! two processes, and the Kafka Connect JDBC sink fed the row changes — must leave identical
//! read tables. Nothing here asserts a time.
//!
//! The sink runs through `scripts/connect.sh`, which resolves its jars from Maven Central
//! into `~/.cache/tributary` the first time (`scripts/test.sh` does that in a step of its own
//! and sets `BENCH_CONNECT_SCRIPT`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tributary_bench::catchup::{self, CatchupOptions};
use tributary_bench::variants::connect::ConnectSettings;
use tributary_bench::workload::WorkloadShape;
use tributary_runtime::kafka::KafkaSettings;

/// The projector binary, built next to this package's binary by `cargo test --workspace`.
fn projector_binary() -> String {
    let path = Path::new(env!("CARGO_BIN_EXE_bench")).with_file_name("projector");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p tributary-bank` (or `cargo test --workspace`, which builds it) first",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

/// `scripts/connect.sh`: `BENCH_CONNECT_SCRIPT`, or the repository's own.
fn connect_script() -> PathBuf {
    std::env::var_os("BENCH_CONNECT_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| tributary_tests::repo_root().join("scripts/connect.sh"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catch_up_variant_writes_identical_tables() {
    let options = CatchupOptions {
        shape: WorkloadShape {
            events: 10_000,
            accounts: 1_000,
            partitions: 4,
            seed: 11,
        },
        naive_events: usize::MAX,
        workers: vec![1, 2],
        projector_binary: projector_binary(),
        database_url: std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/tributary_test".to_owned()),
        kafka: KafkaSettings::from_env("127.0.0.1:9092"),
        batch_max_events: 500,
        recent_commands: 32,
        keep_schemas: false,
        variant_timeout: Duration::from_secs(300),
        connect: Some(ConnectSettings {
            script: connect_script(),
            tasks: 2,
        }),
    };
    let report = catchup::run(&options).await.expect("the catch-up run");
    println!("{}", catchup::render(&report));
    let digests: Vec<(&str, _)> = report
        .variants
        .iter()
        .filter_map(|v| v.digest.as_ref().map(|d| (v.name.as_str(), d)))
        .collect();
    let names: Vec<&str> = digests.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "bulk-limit",
            "projector-own-path",
            "naive",
            "projector-1-worker",
            "projector-2-workers",
            "kafka-connect"
        ]
    );
    let (_, reference) = digests[0];
    assert!(
        reference
            .iter()
            .any(|t| t.table == "account_ledger" && t.rows > 0)
            && reference
                .iter()
                .any(|t| t.table == "transfers" && t.rows > 0),
        "the stream must move money: {reference:?}"
    );
    for (name, digest) in &digests {
        for table in digest.iter() {
            assert!(
                reference.contains(table),
                "{name} wrote a different {table:?} than {reference:?}"
            );
        }
    }
    let (_, connect) = digests[5];
    assert_eq!(
        connect.iter().map(|t| t.table).collect::<Vec<_>>(),
        ["accounts", "account_ledger", "users", "transfers"],
        "the sink is compared on the read tables"
    );
    assert!(report.identical_tables);
    assert_eq!(report.connect_tables_match, Some(true));
}
