//! The broker under test is a full Apache Kafka, not a subset of one: it answers ApiVersions
//! with the APIs of Apache Kafka 4 (transactions, DescribeCluster, the KIP-848 group
//! heartbeat), and a transaction commits.
//!
//! Nothing in the pipeline uses Kafka transactions (docs/ARCHITECTURE.md says why), but other
//! consumers of our topics may, and the README says the guarantees were tested on Apache
//! Kafka: these tests fail if the suite is pointed at a broker that only speaks part of the
//! protocol.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tributary_tests::*;

/// Kafka API keys the broker must offer, by name (from the protocol's message definitions).
const REQUIRED_APIS: [(i16, &str); 8] = [
    (0, "Produce"),
    (1, "Fetch"),
    (22, "InitProducerId"),
    (24, "AddPartitionsToTxn"),
    (26, "EndTxn"),
    (32, "DescribeConfigs"),
    (60, "DescribeCluster"),
    (68, "ConsumerGroupHeartbeat"),
];

/// Sends ApiVersions v0 to the first bootstrap server and returns api key → (min, max).
async fn api_versions() -> BTreeMap<i16, (i16, i16)> {
    let settings = kafka();
    let first = settings.bootstrap_servers().split(',').next().unwrap();
    let mut stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(first))
        .await
        .unwrap_or_else(|_| panic!("connecting to {first} timed out"))
        .unwrap_or_else(|error| panic!("cannot connect to {first}: {error}"));
    // size | api_key 18 | api_version 0 | correlation_id 7 | client_id "tb"
    let request: [u8; 16] = [0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 7, 0, 2, b't', b'b'];
    stream.write_all(&request).await.unwrap();
    let size = stream.read_i32().await.unwrap();
    let mut body = vec![0; usize::try_from(size).unwrap()];
    stream.read_exact(&mut body).await.unwrap();
    parse_api_versions(&body)
}

/// Parses an ApiVersions v0 response body: correlation id, error code, then the array of
/// (api key, min version, max version).
fn parse_api_versions(body: &[u8]) -> BTreeMap<i16, (i16, i16)> {
    let i16_at = |at: usize| i16::from_be_bytes([body[at], body[at + 1]]);
    assert_eq!(&body[..4], &[0, 0, 0, 7], "correlation id");
    assert_eq!(i16_at(4), 0, "ApiVersions error code");
    let count = i32::from_be_bytes(body[6..10].try_into().unwrap());
    (0..usize::try_from(count).unwrap())
        .map(|n| {
            let at = 10 + n * 6;
            (i16_at(at), (i16_at(at + 2), i16_at(at + 4)))
        })
        .collect()
}

#[tokio::test]
async fn the_broker_offers_the_apis_of_a_full_apache_kafka() {
    let offered = api_versions().await;
    let missing: Vec<&str> = REQUIRED_APIS
        .iter()
        .filter(|(key, _)| !offered.contains_key(key))
        .map(|(_, name)| *name)
        .collect();
    assert!(
        missing.is_empty(),
        "the broker at {} does not offer {missing:?} (it offers {} APIs): the suite must run \
         against Apache Kafka 4.x (scripts/kafka.sh starts one)",
        kafka().bootstrap_servers(),
        offered.len()
    );
    // Apache Kafka 4 dropped the old fetch versions (KIP-896): Fetch starts at version 4.
    let (fetch_min, _) = offered[&1];
    assert!(fetch_min >= 4, "Fetch from v{fetch_min}: not a 4.x broker");
}

fn try_a_transaction(topic: &str) -> Result<(), String> {
    let mut config = kafka().producer().map_err(|e| e.to_string())?;
    config
        .set("transactional.id", unique_name("txn"))
        .set("transaction.timeout.ms", "60000");
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
async fn a_transaction_commits() {
    let topic = unique_name("transactions");
    create_topic(&topic, 1).await;
    tokio::task::spawn_blocking(move || try_a_transaction(&topic))
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("the broker failed a transaction: {error}"));
}
