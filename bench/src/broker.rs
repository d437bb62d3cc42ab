//! Everything the benchmarks do with the broker directly: lay out a fresh pipeline's topics,
//! preload the event stream, find where the partitions end, and read them back — counting
//! only (the raw-consume limit) or keeping every record (for the in-memory variants).
//!
//! Every run uses a topic prefix of its own, so runs never see each other's records.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tributary_runtime::Topology;
use tributary_runtime::kafka::SourceRecord;
use tributary_runtime::kafka::admin::{self, Preparation};
use tributary_runtime::kafka::offsets::end_offsets;
use tributary_runtime::kafka::{KafkaSettings, enqueue};

use crate::workload::EventRecord;

/// How long feeding may wait for room in the producer's queue before it gives up.
const ENQUEUE_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest any single broker request may take.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(30);

/// The end offset of every events partition: (topic, partition) → end.
pub type Ends = BTreeMap<(String, i32), i64>;

/// A pipeline layout for one run: a fresh run ID (also used in schema names) and the bank's
/// topics under the prefix `bench.<run ID>`.
pub fn fresh_topology(partitions: i32) -> (String, Topology) {
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let topology = Topology::new(
        format!("bench.{run_id}"),
        tributary_bank::AGGREGATE_TYPES,
        partitions,
    );
    (run_id, topology)
}

/// Creates every topic of `topology` and waits until the broker's metadata shows them.
pub async fn create_topics(settings: &KafkaSettings, topology: &Topology) -> anyhow::Result<()> {
    let create = Preparation::CreateMissing {
        replication_factor: 1,
    };
    admin::prepare_topics(
        &settings.admin()?,
        topology,
        |_| true,
        create,
        BROKER_TIMEOUT,
    )
    .await
    .with_context(|| format!("creating the topics of {topology:?}"))?;
    Ok(())
}

/// Produces `records` to their events topics on their partitions, keeping at most `window`
/// deliveries in flight; returns the time it took.
pub async fn preload(
    settings: &KafkaSettings,
    topology: &Topology,
    records: &[EventRecord],
) -> anyhow::Result<Duration> {
    let producer: FutureProducer = settings
        .producer()?
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "500000")
        // The window below is drained at the broker's ingest rate, which a loaded two-core
        // machine can push far below the services' expectations: a record may wait in the
        // queue longer than their 30 s, so give it ten minutes before counting it lost.
        .set("message.timeout.ms", "600000")
        .create()
        .context("creating the preload producer")?;
    let topics: BTreeMap<&str, String> = topology
        .aggregate_types()
        .iter()
        .map(|t| (t.as_str(), topology.events(t)))
        .collect();
    let window = 20_000;
    let started = Instant::now();
    let mut pending = VecDeque::with_capacity(window);
    for record in records {
        let topic = topics
            .get(record.aggregate_type)
            .ok_or_else(|| anyhow!("no events topic for {}", record.aggregate_type))?;
        let pairs = record.headers.to_pairs();
        let headers = pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v),
            })
        });
        let out = FutureRecord::to(topic)
            .partition(record.partition)
            .key(record.key.as_bytes())
            .payload(record.value.as_slice())
            .headers(headers);
        let deadline = tokio::time::Instant::now() + ENQUEUE_TIMEOUT;
        let delivery = enqueue(&producer, out, deadline)
            .await
            .with_context(|| format!("producing to {topic}"))?;
        pending.push_back(delivery);
        if pending.len() >= window {
            settle(pending.pop_front()).await?;
        }
    }
    for delivery in pending {
        settle(Some(delivery)).await?;
    }
    Ok(started.elapsed())
}

async fn settle(delivery: Option<rdkafka::producer::DeliveryFuture>) -> anyhow::Result<()> {
    let Some(delivery) = delivery else {
        return Ok(());
    };
    delivery
        .await
        .map_err(|_| anyhow!("the producer was dropped before a delivery report"))?
        .map_err(|(error, _)| anyhow!("a preloaded record was not delivered: {error}"))?;
    Ok(())
}

/// The end offset of every partition of every events topic of `topology`.
pub fn ends(settings: &KafkaSettings, topology: &Topology) -> anyhow::Result<Ends> {
    let probe: BaseConsumer = settings
        .consumer(&format!("bench.probe.{}", uuid::Uuid::new_v4().simple()))?
        .create()?;
    let mut ends = Ends::new();
    for aggregate_type in topology.aggregate_types() {
        let topic = topology.events(aggregate_type);
        let offsets = end_offsets(&probe, &topic, 0..topology.partitions(), BROKER_TIMEOUT)
            .with_context(|| format!("end offsets of {topic}"))?;
        for (partition, end) in offsets.into_iter().enumerate() {
            ends.insert((topic.clone(), partition as i32), end);
        }
    }
    Ok(ends)
}

/// What reading every record back cost.
#[derive(Debug, Clone, Copy)]
pub struct ConsumeStats {
    /// Records read.
    pub records: u64,
    /// Key, value and header bytes read.
    pub bytes: u64,
    /// From assignment to the last record.
    pub elapsed: Duration,
}

/// Reads every record below `ends` with one plain librdkafka consumer (no group offsets, no
/// decoding), handing each to `visit`; blocks, so call it from a blocking thread.
pub fn consume_all(
    settings: &KafkaSettings,
    ends: &Ends,
    timeout: Duration,
    mut visit: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> anyhow::Result<ConsumeStats> {
    let consumer: BaseConsumer = settings
        .consumer(&format!("bench.reader.{}", uuid::Uuid::new_v4().simple()))?
        .create()?;
    let mut assignment = TopicPartitionList::new();
    let mut remaining: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for ((topic, partition), end) in ends {
        if *end > 0 {
            assignment.add_partition_offset(topic, *partition, Offset::Beginning)?;
            remaining.insert((topic.clone(), *partition), *end);
        }
    }
    consumer.assign(&assignment)?;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut stats = ConsumeStats {
        records: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
    };
    while !remaining.is_empty() {
        if Instant::now() > deadline {
            bail!(
                "reading the preloaded records took longer than {timeout:?}; still missing: {remaining:?}"
            );
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.context("consuming the preloaded records")?;
        let key = (message.topic().to_owned(), message.partition());
        let Some(end) = remaining.get(&key).copied() else {
            continue;
        };
        if message.offset() >= end {
            continue;
        }
        stats.records += 1;
        stats.bytes += (message.key_len() + message.payload_len()) as u64;
        visit(&message);
        if message.offset() + 1 >= end {
            remaining.remove(&key);
        }
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// Every record below `ends`, by partition, in offset order.
pub type Fetched = BTreeMap<(String, i32), Vec<SourceRecord>>;

/// Reads every record below `ends` into memory.
pub fn fetch_all(
    settings: &KafkaSettings,
    ends: &Ends,
    timeout: Duration,
) -> anyhow::Result<Fetched> {
    let mut fetched = Fetched::new();
    consume_all(settings, ends, timeout, |message| {
        fetched
            .entry((message.topic().to_owned(), message.partition()))
            .or_default()
            .push(SourceRecord::from_message(message));
    })?;
    for ((topic, partition), records) in &fetched {
        let contiguous = records
            .iter()
            .enumerate()
            .all(|(i, r)| r.offset == i as i64);
        if !contiguous {
            bail!("{topic}/{partition} was not read back as offsets 0, 1, 2, …");
        }
    }
    Ok(fetched)
}
