//! Capabilities some Kafka-protocol brokers lack, tested by name so that the suite says what
//! the broker under test does not do instead of silently passing.
//!
//! Nothing in the pipeline uses Kafka transactions (the design brief explains why), so the
//! only assertion is that what the broker does matches what the README claims about it:
//! `TRIBUTARY_BROKER_KIND=tansu` (set by `scripts/test.sh` when it started Tansu) expects
//! transactions to fail; any other broker is expected to support them.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tributary_tests::*;

fn try_a_transaction(topic: &str) -> Result<(), String> {
    let mut config = kafka().producer().map_err(|e| e.to_string())?;
    config
        .set("transactional.id", unique_name("txn"))
        .set("transaction.timeout.ms", "10000");
    let producer: ThreadedProducer<DefaultProducerContext> =
        config.create().map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(15);
    producer
        .init_transactions(timeout)
        .map_err(|e| format!("init: {e}"))?;
    producer
        .begin_transaction()
        .map_err(|e| format!("begin: {e}"))?;
    producer
        .send(BaseRecord::<str, str>::to(topic).key("k").payload("v"))
        .map_err(|(e, _)| format!("send: {e}"))?;
    producer
        .commit_transaction(timeout)
        .map_err(|e| format!("commit: {e}"))
}

#[tokio::test]
async fn transactions_are_reported_as_the_broker_supports_them_tansu_does_not() {
    let topic = unique_name("transactions");
    create_topic(&topic, 1).await;
    let kind = std::env::var("TRIBUTARY_BROKER_KIND").unwrap_or_default();
    let outcome = tokio::task::spawn_blocking(move || try_a_transaction(&topic))
        .await
        .unwrap();
    if kind == "tansu" {
        let error = outcome.expect_err(
            "Tansu committed a transaction: it now supports them; update the broker caveats in README.md and docs/ARCHITECTURE.md",
        );
        eprintln!("as documented, this broker (Tansu) has no transactions: {error}");
    } else {
        outcome.unwrap_or_else(|error| panic!("broker {kind:?} failed a transaction: {error}"));
    }
}
