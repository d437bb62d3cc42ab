//! Everything the benchmarks do with the broker directly: lay out a fresh pipeline's topics,
//! preload the event stream (and feed other topics the same way), find where the partitions
//! end, and read them back — counting only (the raw-consume limit) or keeping every record
//! (for the in-memory variants).
//!
//! Every run uses a topic prefix of its own, so runs never see each other's records.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders, ToBytes};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tributary_runtime::Topology;
use tributary_runtime::kafka::SourceRecord;
use tributary_runtime::kafka::admin::{self, Preparation};
use tributary_runtime::kafka::offsets::end_offsets;
use tributary_runtime::kafka::{KafkaSettings, enqueue};
use tributary_runtime::topology::TopicSpec;

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

/// Produces `records` to their events topics on their partitions; returns the time it took.
pub async fn preload(
    settings: &KafkaSettings,
    topology: &Topology,
    records: &[EventRecord],
) -> anyhow::Result<Duration> {
    let mut feeder = Feeder::new(settings, &[("linger.ms", "20")])?;
    let topics: BTreeMap<&str, String> = topology
        .aggregate_types()
        .iter()
        .map(|t| (t.as_str(), topology.events(t)))
        .collect();
    let started = Instant::now();
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
        feeder.send(out).await?;
    }
    feeder.finish().await?;
    Ok(started.elapsed())
}

/// A producer that fills topics before a measurement: it keeps at most [`FEED_WINDOW`]
/// deliveries in flight and fails on the first record the broker did not take.
pub struct Feeder {
    producer: FutureProducer,
    pending: VecDeque<DeliveryFuture>,
}

/// Deliveries a [`Feeder`] keeps in flight.
const FEED_WINDOW: usize = 20_000;

impl Feeder {
    /// A producer with the pipeline's settings, a queue deep enough for the window, and
    /// `extra` properties (linger, compression, batch size).
    pub fn new(settings: &KafkaSettings, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut config = settings.producer()?;
        config
            .set("queue.buffering.max.messages", "500000")
            // The window is drained at the broker's ingest rate, which a loaded two-core
            // machine can push far below the services' expectations: a record may wait in
            // the queue longer than their 30 s, so give it ten minutes before counting it
            // lost.
            .set("message.timeout.ms", "600000");
        for (key, value) in extra {
            config.set(*key, *value);
        }
        let producer = config.create().context("creating a feeding producer")?;
        Ok(Self {
            producer,
            pending: VecDeque::with_capacity(FEED_WINDOW),
        })
    }

    /// Enqueues `record`, first waiting for the oldest delivery when the window is full.
    pub async fn send<K, P>(&mut self, record: FutureRecord<'_, K, P>) -> anyhow::Result<()>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let topic = record.topic;
        let deadline = tokio::time::Instant::now() + ENQUEUE_TIMEOUT;
        let delivery = enqueue(&self.producer, record, deadline)
            .await
            .with_context(|| format!("producing to {topic}"))?;
        self.pending.push_back(delivery);
        if self.pending.len() >= FEED_WINDOW {
            settle(self.pending.pop_front()).await?;
        }
        Ok(())
    }

    /// Waits for every delivery still in flight.
    pub async fn finish(self) -> anyhow::Result<()> {
        for delivery in self.pending {
            settle(Some(delivery)).await?;
        }
        Ok(())
    }
}

async fn settle(delivery: Option<DeliveryFuture>) -> anyhow::Result<()> {
    let Some(delivery) = delivery else {
        return Ok(());
    };
    delivery
        .await
        .map_err(|_| anyhow!("the producer was dropped before a delivery report"))?
        .map_err(|(error, _)| anyhow!("a record was not delivered: {error}"))?;
    Ok(())
}

/// Creates plain topics `names` of `partitions` each (broker defaults otherwise) and waits
/// until the broker's metadata shows them.
pub async fn create_plain_topics(
    settings: &KafkaSettings,
    names: &[String],
    partitions: i32,
) -> anyhow::Result<()> {
    let config = settings.admin()?;
    let specs: Vec<TopicSpec> = names
        .iter()
        .map(|name| TopicSpec {
            name: name.clone(),
            partitions,
            configs: Vec::new(),
            co_partitioned: false,
        })
        .collect();
    admin::create_missing_topics(&config, &specs, 1, BROKER_TIMEOUT)
        .await
        .with_context(|| format!("creating the topics {names:?}"))?;
    let deadline = Instant::now() + BROKER_TIMEOUT;
    loop {
        let counts = admin::partition_counts(&config, BROKER_TIMEOUT)?;
        if names
            .iter()
            .all(|name| counts.get(name) == Some(&partitions))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the topics {names:?} did not show {partitions} partitions each within {BROKER_TIMEOUT:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The end offset of every partition of every events topic of `topology`.
pub fn ends(settings: &KafkaSettings, topology: &Topology) -> anyhow::Result<Ends> {
    let topics: Vec<String> = topology
        .aggregate_types()
        .iter()
        .map(|t| topology.events(t))
        .collect();
    ends_of(settings, &topics, topology.partitions())
}

/// The end offset of every partition of `topics`, each of `partitions` partitions.
pub fn ends_of(
    settings: &KafkaSettings,
    topics: &[String],
    partitions: i32,
) -> anyhow::Result<Ends> {
    let probe: BaseConsumer = settings
        .consumer(&format!("bench.probe.{}", uuid::Uuid::new_v4().simple()))?
        .create()?;
    let mut ends = Ends::new();
    for topic in topics {
        let offsets = end_offsets(&probe, topic, 0..partitions, BROKER_TIMEOUT)
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
