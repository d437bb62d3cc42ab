//! `tributary-admin` knows no domain: run without aggregate types it refuses, naming the
//! setting, before it talks to any broker.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn without_aggregate_types_it_refuses_and_names_the_setting() {
    let output = Command::new(env!("CARGO_BIN_EXE_tributary-admin"))
        .arg("check")
        .env_remove("TRIBUTARY_AGGREGATES")
        // Nothing listens here: a refusal that tried the broker first would time out instead.
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no aggregate types given: set TRIBUTARY_AGGREGATES"),
        "{stderr}"
    );
}
