//! A consumer outside Rust reads our topics: the JVM consumer of `tests/jvm` (the Apache Kafka
//! Java client and Apache Avro, nothing of ours) reads an events topic holding a realistic mix
//! of account events — both versions of `Deposited`, transfer steps, a closing, refused
//! commands, a zombie's duplicate versions, a version gap, and values that cannot be decoded —
//! decodes every value from the `.avsc` files alone, applies the README's version rule, and
//! prints each account's state. That state must equal, row for row, the `accounts` table the
//! real projector (the `projector` binary, a separate process) wrote, and both must equal an
//! independent fold (plain arithmetic here); the aggregates it parks must be the ones the
//! projector parked; and it must name every void record by its coordinates, so a consumer
//! that skipped the version rule (or voided valid records) fails here.
//!
//! The consumer is built by `scripts/jvm-consumer.sh`, whose launcher `scripts/test.sh` exports
//! as `TRIBUTARY_JVM_CONSUMER`. The test lives in the bank's crate because only there does
//! Cargo build the bank's `projector` binary for it.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use sqlx::postgres::PgPool;
use tributary_bank::records::account::{
    AccountClosed, AccountEvent, AccountOpened, CreditedForTransfer, DebitedForTransfer, Deposited,
    RefundedForTransfer, TransferDebitRejected, Withdrawn,
};
use tributary_bank::records::user::UserRegistered;
use tributary_schemas::Record;
use tributary_schemas::protocol::CommandRefused;
use tributary_tests::bank_events::{AccountWorkload, GeneratedEvent, RawRecord, produce};
use tributary_tests::failures::parked_rows;
use tributary_tests::pipeline::{TestPipeline, wait_for_catch_up};
use tributary_tests::{kafka, producer, repo_root};

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");
const CATCH_UP: Duration = Duration::from_secs(90);
/// Base of event times: the workload's are this plus their sequence number, the stories' too,
/// their sequences starting far above the workload's.
const EPOCH_MS: i64 = 1_790_000_000_000;

/// The JVM consumer's launcher, from `scripts/jvm-consumer.sh` via `scripts/test.sh`.
fn jvm_consumer() -> String {
    std::env::var("TRIBUTARY_JVM_CONSUMER").unwrap_or_else(|_| {
        panic!(
            "TRIBUTARY_JVM_CONSUMER is not set: run the suite with scripts/test.sh, which builds the JVM consumer, or set it to the launcher that scripts/jvm-consumer.sh prints (TRIBUTARY_JVM_CONSUMER=\"$(scripts/jvm-consumer.sh)\")"
        )
    })
}

/// What a scripted record is, by the version rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// The valid event at its version, applied.
    Applied,
    /// A valid `CommandRefused`: takes its version, changes nothing.
    Refused,
    /// Not one more than the last valid version: skipped.
    Void,
    /// The valid record at its version, but its value cannot be understood: parks the account.
    Undecodable,
    /// After the account was parked: not applied.
    BehindParked,
}

/// One account's records in log order, with what each must be.
struct Story {
    id: String,
    sequence: usize,
    next_version: u64,
    steps: Vec<(RawRecord, Fate)>,
    /// `occurred-at` of the last record that took a version and was applied.
    updated_at: Option<i64>,
}

impl Story {
    fn new(id: &str, first_sequence: usize) -> Self {
        Self {
            id: id.to_owned(),
            sequence: first_sequence,
            next_version: 1,
            steps: Vec::new(),
            updated_at: None,
        }
    }

    /// A record of `event` at `version`, reshaped by `shape`.
    fn record(
        &mut self,
        event: AccountEvent,
        version: u64,
        fate: Fate,
        shape: impl FnOnce(&mut RawRecord),
    ) {
        self.sequence += 1;
        let generated = GeneratedEvent {
            aggregate_id: self.id.clone(),
            version,
            event,
            command_id: format!("cmd-{}", self.sequence),
            occurred_at: EPOCH_MS + self.sequence as i64,
        };
        if matches!(fate, Fate::Applied | Fate::Refused) {
            self.updated_at = Some(generated.occurred_at);
        }
        let mut record = RawRecord::of(&generated);
        shape(&mut record);
        self.steps.push((record, fate));
    }

    /// The next event, valid.
    fn event(self, event: impl Into<AccountEvent>) -> Self {
        self.reshaped(event, |_| {})
    }

    /// The next event, valid, its record reshaped (another schema version of the same value).
    fn reshaped(
        mut self,
        event: impl Into<AccountEvent>,
        shape: impl FnOnce(&mut RawRecord),
    ) -> Self {
        let event = event.into();
        let fate = if matches!(event, AccountEvent::CommandRefused(_)) {
            Fate::Refused
        } else {
            Fate::Applied
        };
        let version = self.next_version;
        self.record(event, version, fate, shape);
        self.next_version += 1;
        self
    }

    /// A record at `version` that is not the next one.
    fn void(mut self, event: impl Into<AccountEvent>, version: u64) -> Self {
        assert_ne!(version, self.next_version);
        self.record(event.into(), version, Fate::Void, |_| {});
        self
    }

    /// The next version, with a value that cannot be understood.
    fn undecodable(mut self, shape: impl FnOnce(&mut RawRecord)) -> Self {
        let version = self.next_version;
        self.record(deposit(1), version, Fate::Undecodable, shape);
        self.next_version += 1;
        self
    }

    /// The next version, valid, behind a parked account.
    fn behind(mut self, event: impl Into<AccountEvent>) -> Self {
        let version = self.next_version;
        self.record(event.into(), version, Fate::BehindParked, |_| {});
        self.next_version += 1;
        self
    }
}

fn opened(id: &str) -> AccountOpened {
    AccountOpened {
        owner_id: format!("owner-of-{id}"),
        currency: "EUR".to_owned(),
    }
}

fn deposit(amount: i64) -> AccountEvent {
    Deposited {
        amount,
        reference: Some(format!("ref-{amount}")),
    }
    .into()
}

fn withdrawal(amount: i64) -> Withdrawn {
    Withdrawn { amount }
}

fn refused(command: &str, reason: &str) -> CommandRefused {
    CommandRefused {
        command_type: format!("tributary.bank.account.{command}"),
        reason: reason.to_owned(),
    }
}

/// `Deposited` as version 1 of its schema wrote it (no `reference`): `C3 01`, v1's
/// fingerprint, and its one field, the amount, as a zig-zag varint.
fn deposited_v1(amount: i64) -> Vec<u8> {
    let v1 = tributary_bank::schemas()
        .versions()
        .iter()
        .find(|v| v.path == "account/events/Deposited/v1.avsc")
        .expect("Deposited v1 is published");
    let mut value = vec![0xC3, 0x01];
    value.extend_from_slice(&v1.fingerprint);
    let mut zigzag = ((amount << 1) ^ (amount >> 63)) as u64;
    loop {
        let byte = (zigzag & 0x7f) as u8;
        zigzag >>= 7;
        if zigzag == 0 {
            value.push(byte);
            return value;
        }
        value.push(byte | 0x80);
    }
}

fn set_header(record: &mut RawRecord, name: &str, value: &str) {
    for (key, old) in &mut record.headers {
        if key == name {
            *old = value.as_bytes().to_vec();
        }
    }
}

/// An `accounts` row, as the table, the JVM consumer and the independent fold give it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    owner_id: String,
    currency: String,
    balance: i64,
    status: String,
    version: i64,
    updated_at_ms: i64,
}

/// The expected row of a story's account: opened by [`opened`], then as given.
fn row(story: &Story, balance: i64, status: &str, version: i64) -> Row {
    Row {
        owner_id: format!("owner-of-{}", story.id),
        currency: "EUR".to_owned(),
        balance,
        status: status.to_owned(),
        version,
        updated_at_ms: story.updated_at.expect("the story applied something"),
    }
}

async fn read_accounts(pool: &PgPool) -> BTreeMap<String, Row> {
    sqlx::query_as::<_, (String, String, String, i64, String, i64, i64)>(
        "SELECT account_id, owner_id, currency, balance, status, version,
                (EXTRACT(EPOCH FROM updated_at) * 1000)::bigint
         FROM accounts",
    )
    .fetch_all(pool)
    .await
    .expect("read accounts")
    .into_iter()
    .map(
        |(id, owner_id, currency, balance, status, version, updated_at_ms)| {
            (
                id,
                Row {
                    owner_id,
                    currency,
                    balance,
                    status,
                    version,
                    updated_at_ms,
                },
            )
        },
    )
    .collect()
}

/// What the JVM consumer printed.
struct JvmOutput {
    /// Its stdout lines, by aggregate ID.
    accounts: BTreeMap<String, serde_json::Value>,
    /// Its stderr.
    stderr: String,
    /// The summary line's object.
    summary: serde_json::Value,
}

fn run_jvm_consumer(prefix: &str) -> JvmOutput {
    let launcher = jvm_consumer();
    let protocol = repo_root().join("schemas/avro");
    let bank = repo_root().join("examples/bank/avro");
    let output = Command::new(&launcher)
        .args(["--schemas", protocol.to_str().unwrap()])
        .args(["--schemas", bank.to_str().unwrap()])
        .args(["--prefix", prefix])
        .args(["--bootstrap-servers", kafka().bootstrap_servers()])
        .args(["--timeout-seconds", "120"])
        .output()
        .unwrap_or_else(|error| panic!("cannot run the JVM consumer {launcher}: {error}"));
    let stdout = String::from_utf8(output.stdout).expect("the JVM consumer writes UTF-8");
    let stderr = String::from_utf8(output.stderr).expect("the JVM consumer writes UTF-8");
    assert!(
        output.status.success(),
        "the JVM consumer failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let mut accounts = BTreeMap::new();
    for line in stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
        assert_eq!(
            value["aggregate"], "account",
            "only accounts have events: {line}"
        );
        let id = value["id"].as_str().unwrap().to_owned();
        assert!(
            accounts.insert(id.clone(), value).is_none(),
            "account {id} printed twice"
        );
    }
    let summary = stderr
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("jvm-consumer: summary "))
        .unwrap_or_else(|| panic!("no summary line on stderr:\n{stderr}"));
    let summary = serde_json::from_str(summary).unwrap();
    JvmOutput {
        accounts,
        stderr,
        summary,
    }
}

fn jvm_row(value: &serde_json::Value) -> Row {
    let text = |k: &str| {
        value[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in {value}"))
            .to_owned()
    };
    let number = |k: &str| {
        value[k]
            .as_i64()
            .unwrap_or_else(|| panic!("{k} in {value}"))
    };
    Row {
        owner_id: text("owner_id"),
        currency: text("currency"),
        balance: number("balance"),
        status: text("status"),
        version: number("version"),
        updated_at_ms: number("updated_at_ms"),
    }
}

/// Step `s` of every story goes after the `s`-th of equal segments of `healthy`.
fn interleave(
    healthy: &[RawRecord],
    stories: &[Story],
) -> Vec<(RawRecord, Option<(usize, usize)>)> {
    let slots = stories.iter().map(|s| s.steps.len()).max().unwrap_or(0) + 1;
    let mut out = Vec::new();
    for slot in 0..slots {
        let (from, to) = (
            slot * healthy.len() / slots,
            (slot + 1) * healthy.len() / slots,
        );
        out.extend(healthy[from..to].iter().map(|r| (r.clone(), None)));
        for (index, story) in stories.iter().enumerate() {
            if let Some((record, _)) = story.steps.get(slot) {
                out.push((record.clone(), Some((index, slot))));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jvm_consumer_reading_the_avsc_files_alone_sees_what_the_read_tables_hold() {
    // Fail at once, before any set-up, when the consumer is not there.
    let _ = jvm_consumer();
    let pipeline = TestPipeline::create("jvm", 4).await;
    let topic = pipeline.topology.events("account");
    let prefix = pipeline.prefix.clone();

    let workload = AccountWorkload::generate(&prefix, 25, 500, 41);
    let healthy: Vec<RawRecord> = workload.events.iter().map(RawRecord::of).collect();

    let zombie_id = format!("{prefix}-zombie");
    let zombie = Story::new(&zombie_id, 1_000_000)
        .event(opened(&zombie_id))
        .event(deposit(50))
        // A processor that lost its partition writes its own version 2 after the valid one...
        .void(deposit(7_777), 2)
        .event(withdrawal(20))
        // ...and a refusal at version 3.
        .void(refused("Withdraw", "insufficient funds"), 3);
    let refusals_id = format!("{prefix}-refusals");
    let refusals = Story::new(&refusals_id, 2_000_000)
        .event(refused("Deposit", "the account has not been opened"))
        .event(opened(&refusals_id))
        .reshaped(deposit(100), |r| r.value = Some(deposited_v1(100)))
        .event(refused(
            "Withdraw",
            "insufficient funds: balance 100, asked 500",
        ))
        .event(withdrawal(60));
    let transfers_id = format!("{prefix}-transfers");
    let transfers = Story::new(&transfers_id, 3_000_000)
        .event(opened(&transfers_id))
        .event(deposit(500))
        .event(DebitedForTransfer {
            transfer_id: "t-1".to_owned(),
            amount: 200,
        })
        .event(TransferDebitRejected {
            transfer_id: "t-2".to_owned(),
            amount: 1_000,
            reason: "insufficient funds".to_owned(),
        })
        .event(RefundedForTransfer {
            transfer_id: "t-1".to_owned(),
            amount: 200,
            reason: "the target account is closed".to_owned(),
        })
        .event(CreditedForTransfer {
            transfer_id: "t-3".to_owned(),
            amount: 70,
        });
    let closing_id = format!("{prefix}-closing");
    let closing = Story::new(&closing_id, 4_000_000)
        .event(opened(&closing_id))
        .event(deposit(10))
        .event(withdrawal(10))
        .event(AccountClosed {})
        // Skips version 5: no correct writer writes it.
        .void(deposit(5), 6);
    let garbage_id = format!("{prefix}-garbage");
    let garbage = Story::new(&garbage_id, 5_000_000)
        .event(opened(&garbage_id))
        .event(deposit(40))
        .undecodable(|r| r.value = Some(b"this is not an Avro record".to_vec()))
        .behind(deposit(5))
        .behind(withdrawal(10));
    let stranger_id = format!("{prefix}-stranger");
    let stranger = Story::new(&stranger_id, 6_000_000)
        .event(opened(&stranger_id))
        .undecodable(|r| {
            let mut value = vec![0xC3, 0x01];
            value.extend_from_slice(&0x0123_4567_89AB_CDEF_u64.to_le_bytes());
            value.extend_from_slice(&[0x02, 0x00]);
            r.value = Some(value);
        })
        .behind(deposit(7));
    let misfiled_id = format!("{prefix}-misfiled");
    let misfiled = Story::new(&misfiled_id, 7_000_000)
        .event(opened(&misfiled_id))
        .undecodable(|r| {
            let user = UserRegistered {
                email: "someone@example.com".to_owned(),
                display_name: "Someone".to_owned(),
            };
            r.value = Some(tributary_bank::codec().encode(&user).unwrap());
            set_header(r, "event-type", UserRegistered::FULL_NAME);
        })
        .behind(deposit(9));
    let unopened_id = format!("{prefix}-unopened");
    let unopened = Story::new(&unopened_id, 8_000_000)
        .event(refused("CloseAccount", "the account has not been opened"));

    // The independent fold: the workload's arithmetic, and each story's by hand.
    let mut expected: BTreeMap<String, Row> = BTreeMap::new();
    for (id, account) in &workload.accounts {
        let last = workload
            .events
            .iter()
            .rev()
            .find(|e| &e.aggregate_id == id)
            .unwrap();
        expected.insert(
            id.clone(),
            Row {
                owner_id: account.owner_id.clone(),
                currency: account.currency.clone(),
                balance: account.balance,
                status: account.status.clone(),
                version: account.version,
                updated_at_ms: last.occurred_at,
            },
        );
    }
    for (story, balance, status, version) in [
        (&zombie, 30, "open", 3),
        (&refusals, 40, "open", 5),
        (&transfers, 570, "open", 6),
        (&closing, 0, "closed", 4),
        (&garbage, 40, "open", 2),
        (&stranger, 0, "open", 1),
        (&misfiled, 0, "open", 1),
    ] {
        expected.insert(story.id.clone(), row(story, balance, status, version));
    }
    let expected_parked: BTreeMap<String, (u64, &str)> = [
        (garbage_id.clone(), (3, "bad_magic")),
        (stranger_id.clone(), (2, "unknown_fingerprint")),
        (misfiled_id.clone(), (2, "unexpected_record")),
    ]
    .into_iter()
    .collect();

    let stories = vec![
        zombie, refusals, transfers, closing, garbage, stranger, misfiled, unopened,
    ];
    let records = interleave(&healthy, &stories);
    let (first_half, second_half) = records.split_at(records.len() / 2);
    let raw = |part: &[(RawRecord, Option<(usize, usize)>)]| -> Vec<RawRecord> {
        part.iter().map(|(r, _)| r.clone()).collect()
    };

    // Half before the projector starts (a backlog), half while it runs.
    let producer = producer(&[]);
    let mut coordinates = produce(&producer, &topic, &raw(first_half)).await;
    let mut projector = pipeline.start_projector(PROJECTOR, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    coordinates.extend(produce(&producer, &topic, &raw(second_half)).await);
    let pool = pipeline.pool().await;
    let ends = pipeline.end_offsets(&topic);
    assert_eq!(ends.values().sum::<i64>(), records.len() as i64);
    wait_for_catch_up(&pool, "bank", &topic, &ends, CATCH_UP).await;

    // Where each story step landed.
    let mut landed: BTreeMap<(usize, usize), (i32, i64)> = BTreeMap::new();
    for ((_, step), at) in records.iter().zip(&coordinates) {
        if let Some(step) = step {
            landed.insert(*step, *at);
        }
    }
    let steps_with = |fate: Fate| -> BTreeSet<(i32, i64)> {
        stories
            .iter()
            .enumerate()
            .flat_map(|(s, story)| {
                story
                    .steps
                    .iter()
                    .enumerate()
                    .filter(move |(_, (_, f))| *f == fate)
                    .map(move |(i, _)| (s, i))
            })
            .map(|step| landed[&step])
            .collect()
    };

    // The projector's tables are what the independent fold says.
    let tables = read_accounts(&pool).await;
    let opened_expected: BTreeMap<String, Row> = expected
        .iter()
        .filter(|(_, r)| r.status != "not_opened")
        .map(|(id, r)| (id.clone(), r.clone()))
        .collect();
    assert_eq!(tables.len(), opened_expected.len(), "rows in accounts");
    assert_eq!(
        tables, opened_expected,
        "accounts against the independent fold"
    );
    let parked = parked_rows(&pool, "bank").await;
    assert_eq!(
        parked.keys().collect::<Vec<_>>(),
        expected_parked.keys().collect::<Vec<_>>(),
        "the projector's parked aggregates"
    );
    assert_eq!(
        parked
            .values()
            .map(|(p, o, _)| (*p, *o))
            .collect::<BTreeSet<_>>(),
        steps_with(Fate::Undecodable),
        "the projector parked each account at its undecodable record"
    );

    // The JVM consumer: the same rows, row for row, and the same count.
    let started = std::time::Instant::now();
    let jvm = tokio::task::spawn_blocking(move || run_jvm_consumer(&prefix))
        .await
        .unwrap();
    let took = started.elapsed();
    let jvm_rows: BTreeMap<String, Row> = jvm
        .accounts
        .iter()
        .filter(|(_, v)| v["status"] != "not_opened")
        .map(|(id, v)| (id.clone(), jvm_row(v)))
        .collect();
    assert_eq!(
        jvm_rows.len(),
        tables.len(),
        "accounts the JVM consumer reports"
    );
    for (id, table_row) in &tables {
        assert_eq!(
            jvm_rows.get(id),
            Some(table_row),
            "account {id}: JVM consumer vs table"
        );
    }
    assert_eq!(jvm_rows, tables, "JVM consumer vs accounts");
    // The account that only ever had a refusal: version 1, never opened, no row.
    let not_opened: Vec<(&String, i64)> = jvm
        .accounts
        .iter()
        .filter(|(_, v)| v["status"] == "not_opened")
        .map(|(id, v)| (id, v["version"].as_i64().unwrap()))
        .collect();
    assert_eq!(not_opened, vec![(&unopened_id, 1)], "accounts never opened");
    assert_eq!(
        jvm.accounts.len(),
        workload.accounts.len() + stories.len(),
        "every account seen"
    );

    // It parks what the projector parked, at the same record, for the same reason.
    for (id, value) in &jvm.accounts {
        let jvm_parked = &value["parked"];
        let Some((version, reason)) = expected_parked.get(id) else {
            assert!(jvm_parked.is_null(), "account {id} is parked: {value}");
            continue;
        };
        let (partition, offset, projector_reason) = &parked[id];
        assert_eq!(jvm_parked["topic"], topic.as_str(), "account {id}: {value}");
        assert_eq!(jvm_parked["partition"], *partition, "account {id}: {value}");
        assert_eq!(jvm_parked["offset"], *offset, "account {id}: {value}");
        assert_eq!(jvm_parked["reason"], *reason, "account {id}: {value}");
        assert_eq!(
            projector_reason, reason,
            "account {id}: the projector's reason"
        );
        // The undecodable record took its version: the account's next version would follow it.
        assert_eq!(jvm_parked["version"], *version, "account {id}: {value}");
    }

    // The version rule was applied, not merely survived: every void record, and only those,
    // is named as void at its coordinates; every undecodable and parked-behind one likewise.
    let named = |kind: &str| -> BTreeSet<(i32, i64)> {
        let head = format!("jvm-consumer: {kind} {topic}/");
        jvm.stderr
            .lines()
            .filter_map(|line| line.strip_prefix(&head))
            .map(|rest| {
                let (at, _) = rest.split_once(':').unwrap();
                let (partition, offset) = at.split_once('@').unwrap();
                (partition.parse().unwrap(), offset.parse().unwrap())
            })
            .collect()
    };
    assert_eq!(
        named("void"),
        steps_with(Fate::Void),
        "void records named by the JVM consumer"
    );
    assert_eq!(
        named("undecodable"),
        steps_with(Fate::Undecodable),
        "undecodable records"
    );
    assert_eq!(
        named("parked"),
        steps_with(Fate::BehindParked),
        "records behind parked accounts"
    );
    let summary = &jvm.summary;
    let refused_count = steps_with(Fate::Refused).len() as i64;
    assert_eq!(refused_count, 3);
    let applied_count = healthy.len() as i64 + steps_with(Fate::Applied).len() as i64;
    for (field, want) in [
        ("records", records.len() as i64),
        ("applied", applied_count),
        ("refused_commands", refused_count),
        ("void_stale", 2),
        ("void_gap", 1),
        ("undecodable", 3),
        ("behind_parked", 4),
        ("unattributable", 0),
        ("misplaced", 0),
        ("parked_aggregates", 3),
        (
            "aggregates",
            (workload.accounts.len() + stories.len()) as i64,
        ),
    ] {
        assert_eq!(summary[field], want, "summary {field}: {summary}");
    }
    assert_eq!(
        summary["topics"][&topic]["records"],
        records.len() as i64,
        "{summary}"
    );
    eprintln!(
        "the JVM consumer read {} records into {} accounts in {took:?}",
        records.len(),
        jvm.accounts.len()
    );

    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pool).await;
}
