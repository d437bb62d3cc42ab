//! Bad records on an events topic, against the real broker and PostgreSQL with the projector
//! as a separate process: each kind of bad record (garbage bytes, an unknown fingerprint, a
//! record of another aggregate's type, an event the read tables' constraints refuse) goes to
//! the dead-letter topic with its reason and parks its aggregate, whose later events follow it
//! there as `parked`; a duplicate version is skipped and counted, not dead-lettered; every
//! other aggregate is applied exactly as an independent fold says; the metrics count what was
//! injected; and a restarted projector keeps the parked aggregates parked.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tributary_bank::records::account::{AccountEvent, AccountOpened, Deposited, Withdrawn};
use tributary_bank::records::user::UserRegistered;
use tributary_schemas::Record;
use tributary_tests::bank_events::{
    AccountWorkload, GeneratedEvent, RawRecord, assert_tables_match, produce,
};
use tributary_tests::failures::parked_rows;
use tributary_tests::metrics;
use tributary_tests::pipeline::{TestPipeline, committed, wait_for_catch_up};
use tributary_tests::process::ServiceProcess;
use tributary_tests::{BROKER_TIMEOUT, consumer, producer, unique_name};

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");
const CATCH_UP: Duration = Duration::from_secs(60);

/// What the projector must do with one produced record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Applied to the read tables (and already pushed onto the expected fold).
    Applied,
    /// Skipped as a stale version.
    Stale,
    /// Dead-lettered with this reason; parks its aggregate.
    Refused(&'static str),
    /// Dead-lettered as parked behind its aggregate's first refused record.
    Parked,
}

/// One aggregate's records, built alongside the expected fold.
struct Script<'w> {
    id: String,
    expected: &'w mut AccountWorkload,
    sequence: &'w mut usize,
    /// The version the next event of the aggregate would carry, as its writer counts.
    next_version: u64,
    steps: Vec<(RawRecord, Fate)>,
}

impl<'w> Script<'w> {
    fn new(id: String, expected: &'w mut AccountWorkload, sequence: &'w mut usize) -> Self {
        Self {
            id,
            expected,
            sequence,
            next_version: 1,
            steps: Vec::new(),
        }
    }

    fn next_sequence(&mut self) -> usize {
        *self.sequence += 1;
        *self.sequence
    }

    /// A valid event that must be applied.
    fn applied(mut self, event: AccountEvent) -> Self {
        let sequence = self.next_sequence();
        self.expected.push(self.id.clone(), event, sequence);
        let generated = self.expected.events.last().expect("just pushed");
        assert_eq!(generated.version, self.next_version);
        self.steps.push((RawRecord::of(generated), Fate::Applied));
        self.next_version += 1;
        self
    }

    /// A record of `event` at `version` that is not applied, reshaped by `shape`.
    fn not_applied(
        mut self,
        event: AccountEvent,
        version: u64,
        fate: Fate,
        shape: impl FnOnce(&mut RawRecord),
    ) -> Self {
        let sequence = self.next_sequence();
        let generated = GeneratedEvent {
            aggregate_id: self.id.clone(),
            version,
            event,
            command_id: format!("cmd-{sequence}"),
            occurred_at: 1_790_000_000_000 + sequence as i64,
        };
        let mut record = RawRecord::of(&generated);
        shape(&mut record);
        self.steps.push((record, fate));
        self
    }

    /// The record of `event` as the aggregate's next, reshaped by `shape`, that must be
    /// dead-lettered for `reason`.
    fn refused(
        self,
        event: AccountEvent,
        reason: &'static str,
        shape: impl FnOnce(&mut RawRecord),
    ) -> Self {
        let version = self.next_version;
        self.not_applied(event, version, Fate::Refused(reason), shape)
            .advance()
    }

    /// A repeat of an earlier version, which must be skipped.
    fn stale(self, event: AccountEvent, version: u64) -> Self {
        assert!(version < self.next_version);
        self.not_applied(event, version, Fate::Stale, |_| {})
    }

    /// Continues an aggregate whose events so far were produced earlier.
    fn at_version(mut self, version: u64) -> Self {
        self.next_version = version;
        self
    }

    /// A valid event that must be dead-lettered as parked.
    fn parked(self, event: AccountEvent) -> Self {
        let version = self.next_version;
        self.not_applied(event, version, Fate::Parked, |_| {})
            .advance()
    }

    fn advance(mut self) -> Self {
        self.next_version += 1;
        self
    }
}

fn opened(id: &str) -> AccountEvent {
    AccountOpened {
        owner_id: format!("owner-of-{id}"),
        currency: "EUR".to_owned(),
    }
    .into()
}

fn deposit(amount: i64) -> AccountEvent {
    Deposited {
        amount,
        reference: None,
    }
    .into()
}

fn withdrawal(amount: i64) -> AccountEvent {
    Withdrawn { amount }.into()
}

fn set_header(record: &mut RawRecord, name: &str, value: &str) {
    for (key, old) in &mut record.headers {
        if key == name {
            *old = value.as_bytes().to_vec();
        }
    }
}

/// A produced record with where it landed and what must become of it.
#[derive(Debug, Clone)]
struct Produced {
    aggregate: String,
    record: RawRecord,
    fate: Fate,
    partition: i32,
    offset: i64,
}

/// Interleaves the scripts' steps into `healthy`: step `s` of every script goes after the
/// `s`-th of `slots` equal segments of the healthy records.
fn interleave(
    healthy: &[RawRecord],
    scripts: &[(String, Vec<(RawRecord, Fate)>)],
) -> Vec<(String, RawRecord, Fate)> {
    let slots = scripts.iter().map(|(_, s)| s.len()).max().unwrap_or(0) + 1;
    let key_of = |r: &RawRecord| String::from_utf8(r.key.clone().unwrap()).unwrap();
    let mut out = Vec::new();
    for slot in 0..slots {
        let (from, to) = (
            slot * healthy.len() / slots,
            (slot + 1) * healthy.len() / slots,
        );
        for record in &healthy[from..to] {
            out.push((key_of(record), record.clone(), Fate::Applied));
        }
        for (id, steps) in scripts {
            if let Some((record, fate)) = steps.get(slot) {
                out.push((id.clone(), record.clone(), *fate));
            }
        }
    }
    out
}

/// A dead letter as read back from the dead-letter topic.
#[derive(Debug, Clone)]
struct Letter {
    partition: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Letter {
    fn header(&self, name: &str) -> Option<String> {
        let mut found = self.headers.iter().filter(|(k, _)| k == name);
        let value = found
            .next()
            .map(|(_, v)| String::from_utf8(v.clone()).unwrap());
        assert!(found.next().is_none(), "header {name} appears twice");
        value
    }

    fn source(&self) -> (i32, i64) {
        (
            self.header("dlq-source-partition")
                .unwrap()
                .parse()
                .unwrap(),
            self.header("dlq-source-offset").unwrap().parse().unwrap(),
        )
    }
}

/// Reads the dead-letter topic from the beginning until `wanted` letters are in, and a little
/// longer to catch any extra; keyed by source (partition, offset).
fn read_dead_letters(
    pipeline: &TestPipeline,
    topic: &str,
    wanted: usize,
) -> BTreeMap<(i32, i64), Letter> {
    let reader = consumer(&unique_name("dlq"), &[]);
    let mut assignment = TopicPartitionList::new();
    for partition in 0..pipeline.topology.partitions() {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    reader.assign(&assignment).unwrap();
    let mut letters = BTreeMap::new();
    let mut read = 0;
    let deadline = std::time::Instant::now() + BROKER_TIMEOUT;
    let mut quiet_until = None;
    loop {
        if let Some(message) = reader.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            let letter = Letter {
                partition: message.partition(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers,
            };
            read += 1;
            let source = letter.source();
            assert!(
                letters.insert(source, letter).is_none(),
                "two dead letters of the record at {source:?}"
            );
            continue;
        }
        let now = std::time::Instant::now();
        if read >= wanted {
            // Everything expected is in: one more second of silence shows there is no more.
            let until = *quiet_until.get_or_insert(now + Duration::from_secs(1));
            if now >= until {
                break;
            }
        }
        assert!(
            now < deadline,
            "{read} of {wanted} dead letters on {topic} after {BROKER_TIMEOUT:?}"
        );
    }
    letters
}

/// Checks every dead letter against the record it stands for.
fn check_letters(
    topic: &str,
    letters: &BTreeMap<(i32, i64), Letter>,
    produced: &[Produced],
    first_failure: &BTreeMap<String, i64>,
) {
    let dead: Vec<&Produced> = produced
        .iter()
        .filter(|p| matches!(p.fate, Fate::Refused(_) | Fate::Parked))
        .collect();
    let wanted: BTreeSet<(i32, i64)> = dead.iter().map(|p| (p.partition, p.offset)).collect();
    let got: BTreeSet<(i32, i64)> = letters.keys().copied().collect();
    assert_eq!(got, wanted, "dead letters by source coordinates");
    for p in dead {
        let letter = &letters[&(p.partition, p.offset)];
        let at = format!(
            "dead letter of {} at {}:{}",
            p.aggregate, p.partition, p.offset
        );
        assert_eq!(letter.partition, p.partition, "{at}: partition");
        assert_eq!(letter.key, p.record.key, "{at}: key");
        assert_eq!(letter.value, p.record.value, "{at}: value");
        let original: Vec<&(String, Vec<u8>)> = letter
            .headers
            .iter()
            .filter(|(k, _)| !k.starts_with("dlq-"))
            .collect();
        assert_eq!(
            original,
            p.record.headers.iter().collect::<Vec<_>>(),
            "{at}: original headers"
        );
        let reason = match p.fate {
            Fate::Refused(reason) => reason,
            _ => "parked",
        };
        assert_eq!(letter.header("dlq-reason").as_deref(), Some(reason), "{at}");
        assert_eq!(
            letter.header("dlq-projection").as_deref(),
            Some("bank"),
            "{at}"
        );
        assert_eq!(
            letter.header("dlq-source-topic").as_deref(),
            Some(topic),
            "{at}"
        );
        assert!(
            letter.header("dlq-error").is_some_and(|e| !e.is_empty()),
            "{at}: dlq-error"
        );
        let behind = letter.header("dlq-parked-behind");
        match p.fate {
            Fate::Parked => assert_eq!(
                behind,
                Some(first_failure[&p.aggregate].to_string()),
                "{at}: dlq-parked-behind"
            ),
            _ => assert_eq!(behind, None, "{at}: dlq-parked-behind"),
        }
    }
}

/// Waits until the projector's metrics satisfy `done`; returns them.
async fn metrics_when(
    projector: &ServiceProcess,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = projector.get("/metrics").await.unwrap().body;
        if done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never showed {what}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn produce_all(topic: &str, records: Vec<(String, RawRecord, Fate)>) -> Vec<Produced> {
    let raw: Vec<RawRecord> = records.iter().map(|(_, r, _)| r.clone()).collect();
    let coordinates = produce(&producer(&[]), topic, &raw).await;
    records
        .into_iter()
        .zip(coordinates)
        .map(
            |((aggregate, record, fate), (partition, offset))| Produced {
                aggregate,
                record,
                fate,
                partition,
                offset,
            },
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_dead_lettered_or_skipped_by_rule_and_their_aggregates_parked() {
    let pipeline = TestPipeline::create("bad", 4).await;
    let topic = pipeline.topology.events("account");
    let dlq = pipeline.topology.dead_letters("account");
    assert_eq!(dlq, format!("{topic}.dlq"));
    let prefix = &pipeline.prefix;

    let mut expected = AccountWorkload::generate(prefix, 40, 1_200, 23);
    let healthy: Vec<RawRecord> = expected.events.iter().map(RawRecord::of).collect();
    let mut sequence = 1_000_000;
    let id = |name: &str| format!("{prefix}-{name}");

    let garbage = Script::new(id("garbage"), &mut expected, &mut sequence)
        .applied(opened(&id("garbage")))
        .applied(deposit(40))
        .refused(deposit(1), "bad_magic", |r| {
            r.value = Some(b"this is not an Avro record".to_vec())
        })
        .parked(deposit(5))
        .parked(withdrawal(10))
        .steps;
    let stranger = Script::new(id("stranger"), &mut expected, &mut sequence)
        .applied(opened(&id("stranger")))
        .refused(deposit(1), "unknown_fingerprint", |r| {
            let mut value = vec![0xC3, 0x01];
            value.extend_from_slice(&0x0123_4567_89AB_CDEF_u64.to_le_bytes());
            value.extend_from_slice(&[0x02, 0x00]);
            r.value = Some(value);
        })
        .parked(deposit(7))
        .parked(deposit(8))
        .steps;
    let misfiled = Script::new(id("misfiled"), &mut expected, &mut sequence)
        .refused(opened(&id("misfiled")), "unexpected_record", |r| {
            let user = UserRegistered {
                email: "someone@example.com".to_owned(),
                display_name: "Someone".to_owned(),
            };
            r.value = Some(tributary_bank::codec().encode(&user).unwrap());
            set_header(r, "event-type", UserRegistered::FULL_NAME);
        })
        .parked(opened(&id("misfiled")))
        .parked(deposit(9))
        .steps;
    // The domain's apply lets the balance go negative; the read tables' CHECK refuses it.
    let overdrawn = Script::new(id("overdrawn"), &mut expected, &mut sequence)
        .applied(opened(&id("overdrawn")))
        .applied(deposit(100))
        .refused(withdrawal(500), "constraint_violation", |_| {})
        .parked(deposit(1_000))
        .parked(deposit(1))
        .steps;
    let duplicated = Script::new(id("duplicated"), &mut expected, &mut sequence)
        .applied(opened(&id("duplicated")))
        .applied(deposit(50))
        .stale(deposit(7_777), 2)
        .applied(deposit(10))
        .steps;
    expected.ledger.sort();

    let scripts = vec![
        (id("garbage"), garbage),
        (id("stranger"), stranger),
        (id("misfiled"), misfiled),
        (id("overdrawn"), overdrawn),
        (id("duplicated"), duplicated),
    ];
    let produced = produce_all(&topic, interleave(&healthy, &scripts)).await;
    let first_failure: BTreeMap<String, i64> = produced
        .iter()
        .filter(|p| matches!(p.fate, Fate::Refused(_)))
        .map(|p| (p.aggregate.clone(), p.offset))
        .collect();
    assert_eq!(first_failure.len(), 4);

    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    let pool = pipeline.pool().await;
    let ends = pipeline.end_offsets(&topic);
    assert_eq!(ends.values().sum::<i64>(), produced.len() as i64);
    wait_for_catch_up(&pool, "bank", &topic, &ends, CATCH_UP).await;

    // Every good event is applied; the parked aggregates hold what came before their failure.
    assert_tables_match(&pool, &expected).await;
    let offsets = committed(&pool, "bank").await;
    for (partition, end) in &ends {
        assert_eq!(
            offsets
                .get(&(topic.clone(), *partition))
                .copied()
                .unwrap_or(0),
            *end,
            "partition {partition}"
        );
    }
    let parked = parked_rows(&pool, "bank").await;
    let expected_parked: BTreeMap<String, (i32, i64, String)> = produced
        .iter()
        .filter_map(|p| match p.fate {
            Fate::Refused(reason) => Some((
                p.aggregate.clone(),
                (p.partition, p.offset, reason.to_owned()),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(parked, expected_parked, "parked_aggregates");

    let letters = read_dead_letters(&pipeline, &dlq, 12);
    check_letters(&topic, &letters, &produced, &first_failure);

    // The metrics count exactly what was injected (they are updated just after the commit).
    let dead_letters = tributary_projector::metrics::names::DEAD_LETTERS_TOTAL;
    let metrics = metrics_when(&projector, "every dead letter, skip and parking", |m| {
        metrics::sum(m, dead_letters, &[]) >= 12.0
            && metrics::sum(
                m,
                tributary_projector::metrics::names::PARKED_AGGREGATES_TOTAL,
                &[],
            ) >= 4.0
            && metrics::sum(
                m,
                tributary_projector::metrics::names::EVENTS_SKIPPED_TOTAL,
                &[("reason", "stale_version")],
            ) >= 1.0
    })
    .await;
    for (reason, count) in [
        ("bad_magic", 1.0),
        ("unknown_fingerprint", 1.0),
        ("unexpected_record", 1.0),
        ("constraint_violation", 1.0),
        ("parked", 8.0),
    ] {
        assert_eq!(
            metrics::sum(&metrics, dead_letters, &[("reason", reason)]),
            count,
            "dead letters for {reason}"
        );
    }
    assert_eq!(metrics::sum(&metrics, dead_letters, &[]), 12.0);
    assert_eq!(
        metrics::sum(
            &metrics,
            tributary_projector::metrics::names::PARKED_AGGREGATES_TOTAL,
            &[]
        ),
        4.0
    );
    assert_eq!(
        metrics::sum(
            &metrics,
            tributary_projector::metrics::names::EVENTS_SKIPPED_TOTAL,
            &[("reason", "stale_version")]
        ),
        1.0
    );
    assert_eq!(
        metrics::sum(
            &metrics,
            tributary_projector::metrics::names::EVENTS_SKIPPED_TOTAL,
            &[("reason", "version_gap")]
        ),
        0.0
    );
    let applied = produced.iter().filter(|p| p.fate == Fate::Applied).count();
    assert_eq!(
        metrics::sum(
            &metrics,
            tributary_projector::metrics::names::EVENTS_APPLIED_TOTAL,
            &[]
        ),
        applied as f64
    );

    // A restart reads the parked aggregates back from the table.
    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();

    let overdrawn = id("overdrawn");
    let still_parked = Script::new(overdrawn.clone(), &mut expected, &mut sequence)
        .at_version(6)
        .parked(deposit(3))
        .steps;
    let healthy_id = expected
        .accounts
        .keys()
        .find(|k| k.starts_with(&format!("{prefix}-acc-")))
        .cloned()
        .unwrap();
    let healthy_version = expected.accounts[&healthy_id].version as u64 + 1;
    let still_healthy = Script::new(healthy_id.clone(), &mut expected, &mut sequence)
        .at_version(healthy_version)
        .applied(deposit(3))
        .steps;
    expected.ledger.sort();
    let more: Vec<(String, RawRecord, Fate)> =
        [(overdrawn, still_parked), (healthy_id, still_healthy)]
            .into_iter()
            .flat_map(|(id, steps)| steps.into_iter().map(move |(r, f)| (id.clone(), r, f)))
            .collect();
    let mut produced = produced;
    produced.extend(produce_all(&topic, more).await);
    let ends = pipeline.end_offsets(&topic);
    assert_eq!(ends.values().sum::<i64>(), produced.len() as i64);
    wait_for_catch_up(&pool, "bank", &topic, &ends, CATCH_UP).await;

    assert_tables_match(&pool, &expected).await;
    assert_eq!(
        parked_rows(&pool, "bank").await,
        expected_parked,
        "parked_aggregates"
    );
    let letters = read_dead_letters(&pipeline, &dlq, 13);
    check_letters(&topic, &letters, &produced, &first_failure);
    let metrics = metrics_when(&projector, "the parked event after the restart", |m| {
        metrics::sum(m, dead_letters, &[]) >= 1.0
            && metrics::sum(
                m,
                tributary_projector::metrics::names::EVENTS_APPLIED_TOTAL,
                &[],
            ) >= 1.0
    })
    .await;
    assert_eq!(
        metrics::sum(&metrics, dead_letters, &[("reason", "parked")]),
        1.0
    );
    assert_eq!(metrics::sum(&metrics, dead_letters, &[]), 1.0);
    assert_eq!(
        metrics::sum(
            &metrics,
            tributary_projector::metrics::names::PARKED_AGGREGATES_TOTAL,
            &[]
        ),
        0.0
    );
    assert_eq!(
        metrics::sum(
            &metrics,
            tributary_projector::metrics::names::EVENTS_APPLIED_TOTAL,
            &[]
        ),
        1.0
    );

    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pool).await;
}
