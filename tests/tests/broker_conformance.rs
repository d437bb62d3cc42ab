//! Evidence that the broker the suite runs against behaves as the pipeline assumes: placement
//! by key, consumer-group hand-over, durable committed offsets, true end offsets under batched
//! produce, and byte-exact headers. Each test uses its own topics and groups.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use tributary_runtime::kafka::admin;
use tributary_runtime::kafka::offsets::end_offsets;
use tributary_runtime::partition_for_key;
use tributary_runtime::topology::TopicSpec;
use tributary_tests::*;

const PARTITIONS: i32 = 8;

/// Produces `count` keyed records, all enqueued before any delivery is awaited (so the
/// producer batches them), and returns, per record, (key, partition, offset).
async fn produce_keyed(
    topic: &str,
    count: usize,
    extra: &[(&str, &str)],
) -> Vec<(String, i32, i64)> {
    let producer = producer(extra);
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let key = format!("aggregate-{i}");
        let payload = format!("value-{i}");
        let delivery = producer
            .send_result(FutureRecord::to(topic).key(&key).payload(&payload))
            .map_err(|(error, _)| error)
            .unwrap_or_else(|error| panic!("enqueue {key}: {error}"));
        pending.push((key, delivery));
    }
    let mut results = Vec::with_capacity(count);
    for (key, delivery) in pending {
        let delivered = delivery
            .await
            .expect("the producer outlives its deliveries")
            .unwrap_or_else(|(error, _)| panic!("produce {key}: {error}"));
        results.push((key, delivered.partition, delivered.offset));
    }
    results
}

#[tokio::test]
async fn keyed_record_lands_on_the_partition_our_function_computes() {
    let topic = unique_name("placement");
    create_topic(&topic, PARTITIONS).await;
    let delivered = produce_keyed(&topic, 200, &[]).await;
    let mut used = BTreeSet::new();
    for (key, partition, _) in &delivered {
        assert_eq!(
            *partition,
            partition_for_key(key.as_bytes(), PARTITIONS),
            "key {key}"
        );
        used.insert(*partition);
    }
    assert_eq!(
        used.len(),
        PARTITIONS as usize,
        "200 keys should reach every partition"
    );
}

fn assigned(consumer: &BaseConsumer) -> BTreeSet<i32> {
    consumer
        .assignment()
        .map(|list| list.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

fn poll_all(consumers: &[&BaseConsumer]) {
    for consumer in consumers {
        if let Some(Err(error)) = consumer.poll(Duration::from_millis(100)) {
            panic!("consumer error: {error}");
        }
    }
}

#[tokio::test]
async fn group_of_two_splits_the_partitions_and_the_survivor_takes_all_when_one_leaves() {
    let topic = unique_name("group");
    create_topic(&topic, PARTITIONS).await;
    let group = unique_name("group");
    let settings = [
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "500"),
    ];
    let first = consumer(&group, &settings);
    let second = consumer(&group, &settings);
    first.subscribe(&[&topic]).unwrap();
    second.subscribe(&[&topic]).unwrap();

    let all: BTreeSet<i32> = (0..PARTITIONS).collect();
    wait_until(
        Duration::from_secs(60),
        "both members to hold a share",
        || {
            poll_all(&[&first, &second]);
            let (a, b) = (assigned(&first), assigned(&second));
            !a.is_empty()
                && !b.is_empty()
                && a.is_disjoint(&b)
                && a.union(&b).copied().collect::<BTreeSet<_>>() == all
        },
    );

    drop(second); // closes the consumer, which leaves the group
    wait_until(
        Duration::from_secs(60),
        "the survivor to own every partition",
        || {
            poll_all(&[&first]);
            assigned(&first) == all
        },
    );
}

#[tokio::test]
async fn committed_offsets_survive_a_member_restart() {
    let topic = unique_name("commits");
    create_topic(&topic, PARTITIONS).await;
    let group = unique_name("commits");
    let mut committed = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        committed
            .add_partition_offset(
                &topic,
                partition,
                Offset::Offset(i64::from(partition) * 3 + 1),
            )
            .unwrap();
    }
    {
        let member = consumer(&group, &[]);
        member.assign(&committed).unwrap();
        member.commit(&committed, CommitMode::Sync).unwrap();
    } // dropped: the member is gone

    let restarted = consumer(&group, &[]);
    let mut wanted = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        wanted.add_partition(&topic, partition);
    }
    let read = restarted.committed_offsets(wanted, BROKER_TIMEOUT).unwrap();
    let offsets: BTreeMap<i32, Offset> = read
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    for partition in 0..PARTITIONS {
        assert_eq!(
            offsets.get(&partition),
            Some(&Offset::Offset(i64::from(partition) * 3 + 1)),
            "partition {partition}"
        );
    }
}

#[tokio::test]
async fn end_offset_equals_records_written_in_batches() {
    let topic = unique_name("end-offsets");
    create_topic(&topic, PARTITIONS).await;
    // A long linger and large batches make the producer send many records per request.
    let delivered = produce_keyed(
        &topic,
        2000,
        &[("linger.ms", "100"), ("batch.num.messages", "500")],
    )
    .await;
    let mut per_partition = BTreeMap::<i32, i64>::new();
    for (_, partition, offset) in &delivered {
        let count = per_partition.entry(*partition).or_default();
        *count += 1;
        assert!(*offset >= 0);
    }
    let probe = consumer(&unique_name("probe"), &[]);
    let ends = end_offsets(&probe, &topic, 0..PARTITIONS, BROKER_TIMEOUT).unwrap();
    for partition in 0..PARTITIONS {
        let written = per_partition.get(&partition).copied().unwrap_or(0);
        assert_eq!(
            ends[partition as usize], written,
            "partition {partition}: end offset vs records written"
        );
    }
    assert_eq!(ends.iter().sum::<i64>(), 2000);
}

#[tokio::test]
async fn record_headers_round_trip_byte_for_byte() {
    let topic = unique_name("headers");
    create_topic(&topic, 1).await;
    let binary: Vec<u8> = (0..=255u8).collect();
    let sent: Vec<(&str, Option<Vec<u8>>)> = vec![
        (
            "event-id",
            Some(b"0190f0d2-7c1e-7a4b-9b7e-1c2d3e4f5a6b".to_vec()),
        ),
        ("binary", Some(binary)),
        ("empty", Some(Vec::new())),
        ("null", None),
        ("dup", Some(b"first".to_vec())),
        ("dup", Some(b"second".to_vec())),
        (
            "utf8-\u{e9}",
            Some("caf\u{e9} \u{2603}".as_bytes().to_vec()),
        ),
    ];
    let headers = sent
        .iter()
        .fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: value.as_deref(),
            })
        });
    let producer = producer(&[]);
    producer
        .send(
            FutureRecord::to(&topic)
                .key("k")
                .payload("v")
                .headers(headers),
            BROKER_TIMEOUT,
        )
        .await
        .map_err(|(error, _)| error)
        .unwrap();

    let reader = consumer(&unique_name("headers"), &[]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    reader.assign(&assignment).unwrap();
    let mut received = None;
    wait_until(BROKER_TIMEOUT, "the record with headers", || {
        if let Some(message) = reader.poll(Duration::from_millis(200)) {
            let message = message.unwrap();
            let headers = message.headers().expect("the record has headers");
            received = Some(
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect::<Vec<_>>(),
            );
        }
        received.is_some()
    });
    let expected: Vec<(String, Option<Vec<u8>>)> =
        sent.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(received.unwrap(), expected);
}

/// A service asks where a partition ends as soon as it starts, which can be the moment after
/// `tributary-admin ensure` created its topic, while the partition's leader is still being
/// elected: the answer must be the end (0), not a start-up failure.
#[tokio::test]
async fn a_just_created_partition_has_an_end_offset() {
    let config = kafka().admin().unwrap();
    let specs: Vec<TopicSpec> = (0..10)
        .map(|_| TopicSpec {
            name: unique_name("fresh"),
            partitions: PARTITIONS,
            configs: Vec::new(),
            co_partitioned: false,
        })
        .collect();
    admin::create_missing_topics(&config, &specs, 1, BROKER_TIMEOUT)
        .await
        .unwrap();
    let probe = consumer(&unique_name("probe"), &[]);
    for spec in &specs {
        let ends = end_offsets(&probe, &spec.name, 0..PARTITIONS, Duration::from_secs(10))
            .unwrap_or_else(|error| panic!("end offsets of the new topic {}: {error}", spec.name));
        assert_eq!(ends, vec![0; PARTITIONS as usize], "{}", spec.name);
    }
}
