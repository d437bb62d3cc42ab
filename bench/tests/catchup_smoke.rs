//! A tiny catch-up run (10k events) in the test suite: every variant — bulk limit, the
//! projector's own path, the naive projector over every event, and `projector run` with one
//! and two processes — must leave identical read tables. Nothing here asserts a time.

use std::path::Path;
use std::time::Duration;

use tributary_bench::catchup::{self, CatchupOptions};
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
            "projector-2-workers"
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
        assert_eq!(digest, &reference, "{name} wrote different tables");
    }
    assert!(report.identical_tables);
}
