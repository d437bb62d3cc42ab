//! Valid event streams of the bank's account aggregate, produced as the command side would
//! produce them, and the read tables they must lead to, computed here independently of the
//! domain crate and the projector (plain arithmetic over the generated amounts).

use std::collections::BTreeMap;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::postgres::PgPool;
use tributary_bank::records::account::{AccountEvent, AccountOpened, Deposited, Withdrawn};
use tributary_runtime::kafka::enqueue;
use tributary_schemas::RecordSet;
use tributary_schemas::headers::EventHeaders;

use crate::enqueue_deadline;

/// A small deterministic random source (splitmix64), so workloads are reproducible from a
/// seed without another dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// One event with the metadata its record carries.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedEvent {
    /// The aggregate (record key).
    pub aggregate_id: String,
    /// Its aggregate version.
    pub version: u64,
    /// The event.
    pub event: AccountEvent,
    /// Causing command.
    pub command_id: String,
    /// Event time, milliseconds since the Unix epoch.
    pub occurred_at: i64,
}

/// A row of `account_ledger` as expected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LedgerRow {
    /// Account.
    pub account_id: String,
    /// Version of the movement's event.
    pub version: i64,
    /// `deposit` or `withdrawal`.
    pub kind: String,
    /// Signed amount.
    pub amount: i64,
    /// Balance after it.
    pub balance_after: i64,
}

/// A row of `accounts` as expected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountRow {
    /// Account.
    pub account_id: String,
    /// Owner.
    pub owner_id: String,
    /// Currency.
    pub currency: String,
    /// Balance.
    pub balance: i64,
    /// Status label.
    pub status: String,
    /// Version.
    pub version: i64,
}

/// Events of many accounts, interleaved, and the tables they lead to.
#[derive(Debug, Clone, Default)]
pub struct AccountWorkload {
    /// The events in production order.
    pub events: Vec<GeneratedEvent>,
    /// Expected `accounts`, by account ID.
    pub accounts: BTreeMap<String, AccountRow>,
    /// Expected `account_ledger`, sorted.
    pub ledger: Vec<LedgerRow>,
}

/// Base of generated event times.
const EPOCH_MS: i64 = 1_790_000_000_000;

impl AccountWorkload {
    /// `events` events over `accounts` accounts: each account opens first, then deposits and
    /// withdrawals (never below zero) follow in random interleaving.
    pub fn generate(prefix: &str, accounts: usize, events: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut workload = Self::default();
        for i in 0..events {
            let index = rng.below(accounts as u64) as usize;
            let id = format!("{prefix}-acc-{index}");
            let event = workload.next_event(&id, &mut rng);
            workload.push(id, event, i);
        }
        workload.ledger.sort();
        workload
    }

    fn next_event(&self, id: &str, rng: &mut Rng) -> AccountEvent {
        let Some(account) = self.accounts.get(id) else {
            return AccountOpened {
                owner_id: format!("owner-of-{id}"),
                currency: "EUR".to_owned(),
            }
            .into();
        };
        if account.balance > 0 && rng.below(3) == 0 {
            let amount = 1 + rng.below(account.balance as u64) as i64;
            Withdrawn { amount }.into()
        } else {
            let reference = (rng.below(2) == 0).then(|| format!("ref-{}", rng.below(1_000_000)));
            Deposited {
                amount: 1 + rng.below(1000) as i64,
                reference,
            }
            .into()
        }
    }

    /// Appends `event` for `id` and updates the expected tables.
    pub fn push(&mut self, id: String, event: AccountEvent, sequence: usize) {
        let row = self
            .accounts
            .entry(id.clone())
            .or_insert_with(|| AccountRow {
                account_id: id.clone(),
                owner_id: String::new(),
                currency: String::new(),
                balance: 0,
                status: "not_opened".to_owned(),
                version: 0,
            });
        row.version += 1;
        let movement = match &event {
            AccountEvent::Opened(opened) => {
                row.owner_id.clone_from(&opened.owner_id);
                row.currency.clone_from(&opened.currency);
                row.status = "open".to_owned();
                None
            }
            AccountEvent::Deposited(d) => Some(("deposit", d.amount)),
            AccountEvent::Withdrawn(w) => Some(("withdrawal", -w.amount)),
            other => panic!("the workload does not generate {other:?}"),
        };
        if let Some((kind, amount)) = movement {
            row.balance += amount;
            self.ledger.push(LedgerRow {
                account_id: id.clone(),
                version: row.version,
                kind: kind.to_owned(),
                amount,
                balance_after: row.balance,
            });
        }
        self.events.push(GeneratedEvent {
            aggregate_id: id,
            version: row.version as u64,
            event,
            command_id: format!("cmd-{sequence}"),
            occurred_at: EPOCH_MS + sequence as i64,
        });
    }
}

/// The record headers of `event`.
pub fn headers_of(event: &GeneratedEvent) -> EventHeaders {
    EventHeaders {
        event_id: uuid::Uuid::new_v4().to_string(),
        event_type: event.event.full_name().to_owned(),
        aggregate_version: event.version,
        command_id: event.command_id.clone(),
        correlation_id: event.command_id.clone(),
        occurred_at: event.occurred_at,
        cause: None,
    }
}

/// A raw record to produce: key, value and headers as given.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl RawRecord {
    /// The record the command side writes for `event`.
    pub fn of(event: &GeneratedEvent) -> Self {
        Self::event(&event.aggregate_id, &event.event, headers_of(event))
    }

    /// The record the command side writes for `event`, of any aggregate type, with `headers`.
    pub fn event(aggregate_id: &str, event: &impl RecordSet, headers: EventHeaders) -> Self {
        Self {
            key: Some(aggregate_id.as_bytes().to_vec()),
            value: Some(
                event
                    .encode(&tributary_bank::codec())
                    .expect("generated events encode"),
            ),
            headers: headers
                .to_pairs()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        }
    }

    /// The record of `event` at `version` of `aggregate_id`, decided at `occurred_at`
    /// (milliseconds since the Unix epoch), as the command side writes it for a command of
    /// its own.
    pub fn at_version(
        aggregate_id: &str,
        version: u64,
        occurred_at: i64,
        event: &impl RecordSet,
    ) -> Self {
        let command_id = uuid::Uuid::new_v4().to_string();
        let headers = EventHeaders {
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: event.full_name().to_owned(),
            aggregate_version: version,
            command_id: command_id.clone(),
            correlation_id: command_id,
            occurred_at,
            cause: None,
        };
        Self::event(aggregate_id, event, headers)
    }
}

/// Produces `records` to `topic` (placed by key with the pipeline's partitioner), enqueuing
/// all before awaiting any, and returns each record's (partition, offset).
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    records: &[RawRecord],
) -> Vec<(i32, i64)> {
    let mut pending = Vec::with_capacity(records.len());
    for record in records {
        let headers = record
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |h, (k, v)| {
                h.insert(Header {
                    key: k,
                    value: Some(v),
                })
            });
        let mut out = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
        if let Some(key) = &record.key {
            out = out.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            out = out.payload(value.as_slice());
        }
        let delivery = enqueue(producer, out, enqueue_deadline())
            .await
            .unwrap_or_else(|error| panic!("cannot produce to {topic}: {error}"));
        pending.push(delivery);
    }
    let mut coordinates = Vec::with_capacity(pending.len());
    for delivery in pending {
        let delivered = delivery
            .await
            .expect("the producer outlives its deliveries")
            .unwrap_or_else(|(error, _)| panic!("produce to {topic} failed: {error}"));
        coordinates.push((delivered.partition, delivered.offset));
    }
    coordinates
}

/// The `accounts` table as it is.
pub async fn read_accounts(pool: &PgPool) -> BTreeMap<String, AccountRow> {
    let rows: Vec<(String, String, String, i64, String, i64)> = sqlx::query_as(
        "SELECT account_id, owner_id, currency, balance, status, version FROM accounts",
    )
    .fetch_all(pool)
    .await
    .expect("read accounts");
    rows.into_iter()
        .map(
            |(account_id, owner_id, currency, balance, status, version)| {
                (
                    account_id.clone(),
                    AccountRow {
                        account_id,
                        owner_id,
                        currency,
                        balance,
                        status,
                        version,
                    },
                )
            },
        )
        .collect()
}

/// The `account_ledger` table as it is, sorted.
pub async fn read_ledger(pool: &PgPool) -> Vec<LedgerRow> {
    let rows: Vec<(String, i64, String, i64, i64)> = sqlx::query_as(
        "SELECT account_id, version, kind, amount, balance_after FROM account_ledger
         ORDER BY account_id, version",
    )
    .fetch_all(pool)
    .await
    .expect("read the ledger");
    let mut ledger: Vec<LedgerRow> = rows
        .into_iter()
        .map(
            |(account_id, version, kind, amount, balance_after)| LedgerRow {
                account_id,
                version,
                kind,
                amount,
                balance_after,
            },
        )
        .collect();
    ledger.sort();
    ledger
}

/// Asserts that the read tables equal the workload's expected fold.
pub async fn assert_tables_match(pool: &PgPool, workload: &AccountWorkload) {
    let accounts = read_accounts(pool).await;
    let expected: BTreeMap<String, AccountRow> = workload
        .accounts
        .iter()
        .filter(|(_, row)| row.status != "not_opened")
        .map(|(id, row)| (id.clone(), row.clone()))
        .collect();
    assert_eq!(accounts.len(), expected.len(), "number of accounts");
    for (id, row) in &expected {
        assert_eq!(accounts.get(id), Some(row), "account {id}");
    }
    let ledger = read_ledger(pool).await;
    assert_eq!(ledger.len(), workload.ledger.len(), "number of ledger rows");
    assert!(
        ledger == workload.ledger,
        "ledger rows differ from the fold"
    );
}

/// The first ID of the form `{base}-{n}` whose key places it on `partition` of `partitions`.
pub fn id_on_partition(base: &str, partition: i32, partitions: i32) -> String {
    (0..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| tributary_runtime::partition_for_key(id.as_bytes(), partitions) == partition)
        .expect("some ID lands on every partition")
}

/// An Avro single-object frame whose schema fingerprint no build of this contract has: a
/// record of a newer build, as during a rolling upgrade or after a rollback.
pub fn unknown_fingerprint() -> Vec<u8> {
    let mut value = vec![0xC3, 0x01];
    value.extend_from_slice(&0x0123_4567_89AB_CDEF_u64.to_le_bytes());
    value.extend_from_slice(b"\x02\x04a newer event");
    value
}
