//! Support for the command side's failure tests: `producer` processes in their roles, command
//! envelopes produced straight to the commands topic (as the gateway or the saga runner
//! would), the processor's replies read from the partition a test's own `reply-to` routes them
//! to, and the events topics read back in full and judged by the version rule exactly as
//! every reader judges them — with the accounts' fold computed here, independently of the
//! domain crate and the projector.
//!
//! Going around the gateway keeps these tests about the processor: a command sits on the
//! commands topic until some owner answers it, however often processors are killed, and
//! nothing times out on the client's side.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tributary_domain::DomainRecord;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tributary_bank::BankCommand;
use tributary_bank::records::account::AccountEvent;
use tributary_bank::records::transfer::TransferEvent;
use tributary_runtime::kafka::enqueue;
use tributary_runtime::{Topology, partition_for_key};
use tributary_schemas::headers::{CommandHeaders, EventHeaders, REPLY_TO};
use tributary_schemas::protocol::{CommandEnvelope, CommandReply};
use tributary_schemas::{Codec, RecordSet};

use crate::bank_events::{AccountRow, LedgerRow};
use crate::pipeline::TestPipeline;
use crate::process::ServiceProcess;
use crate::{BROKER_TIMEOUT, consumer, enqueue_deadline, producer, unique_name};

/// The projector binary next to `producer_binary` (`env!("CARGO_BIN_EXE_producer")`): both are
/// the bank's binaries, built with the package whose tests call this.
pub fn projector_binary(producer_binary: &str) -> String {
    let projector = Path::new(producer_binary).with_file_name("projector");
    assert!(
        projector.exists(),
        "{} does not exist: build it first with `cargo build -p tributary-bank`",
        projector.display()
    );
    projector.to_string_lossy().into_owned()
}

/// Settings every process of a failure test gets, so that a killed or frozen member leaves its
/// consumer group within seconds (librdkafka's default session lasts 45 s). A replacement can
/// start right after a kill: the rebalance its join starts waits for the dead member only
/// until that member's session ends, then assigns every partition. A frozen member is removed
/// when its session ends, and the group rebalances without it.
pub const SHORT_SESSION: [(&str, &str); 2] = [
    ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
    ("KAFKA_HEARTBEAT_INTERVAL_MS", "1000"),
];

/// Starts `producer <role>` (`processor`, `saga`, `gateway`, `all`) of `pipeline` as
/// `instance`, with `extra` environment variables on top of the pipeline's.
pub fn start_producer(
    pipeline: &TestPipeline,
    binary: &str,
    role: &str,
    instance: &str,
    extra: &[(&str, &str)],
) -> ServiceProcess {
    // KAFKA_CLIENT_ID names the process's Kafka clients, so that its group members can be
    // told apart in the broker's group state and logs.
    let mut env = vec![
        ("PRODUCER_INSTANCE_ID", instance),
        ("KAFKA_CLIENT_ID", instance),
    ];
    env.extend_from_slice(extra);
    pipeline.start_service(instance, binary, &[role], "PRODUCER_HTTP_ADDR", &env)
}

/// Waits until `process` reports a sample of metric `series` (summed over its labels, as
/// [`ServiceProcess::metric`] does) of at least 1 — e.g. a processor that has decided commands
/// — so that a kill or a freeze lands mid-work rather than during start-up. A process that is
/// not serving yet counts as 0.
pub async fn wait_until_counted(process: &ServiceProcess, series: &str, timeout: Duration) {
    wait_until_counted_to(process, series, 1, timeout).await;
}

/// Waits until `process` reports metric `series` (summed over its labels) of at least
/// `count`, as [`wait_until_counted`] does for 1.
pub async fn wait_until_counted_to(
    process: &ServiceProcess,
    series: &str,
    count: u32,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(total) = process.metric(series).await
            && total >= f64::from(count)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} stayed below {count} for {timeout:?}:\n{}",
            process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How far consumer group `group` has committed each partition of `topic`, against the
/// partition's end, for failure messages.
pub fn group_progress(pipeline: &TestPipeline, group: &str, topic: &str) -> String {
    let probe = consumer(group, &[]);
    let ends = pipeline.end_offsets(topic);
    let mut wanted = TopicPartitionList::new();
    for partition in ends.keys() {
        wanted.add_partition(topic, *partition);
    }
    match probe.committed_offsets(wanted, BROKER_TIMEOUT) {
        Ok(committed) => committed
            .elements()
            .iter()
            .map(|element| {
                format!(
                    "{group} on {topic}/{}: committed {:?} of {}\n",
                    element.partition(),
                    element.offset(),
                    ends[&element.partition()]
                )
            })
            .collect(),
        Err(error) => format!("committed offsets of {group} unavailable: {error}\n"),
    }
}

/// The offsets consumer group `group` has committed on the partitions of `topic` (a
/// partition without a committed offset is left out).
pub fn committed_offsets(pipeline: &TestPipeline, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let probe = consumer(group, &[]);
    let mut wanted = TopicPartitionList::new();
    for partition in pipeline.end_offsets(topic).keys() {
        wanted.add_partition(topic, *partition);
    }
    let committed = probe
        .committed_offsets(wanted, BROKER_TIMEOUT)
        .expect("the committed offsets of a group");
    committed
        .elements()
        .iter()
        .filter_map(|element| match element.offset() {
            Offset::Offset(offset) => Some((element.partition(), offset)),
            _ => None,
        })
        .collect()
}

/// Deletes consumer group `group`, and its committed offsets with it, as the broker does with
/// an empty group once its offsets' retention ends. Waits (up to `timeout`) until the group has
/// no members: a killed member stays until its session ends.
pub async fn delete_group(group: &str, timeout: Duration) {
    let admin: AdminClient<DefaultClientContext> = crate::kafka()
        .admin()
        .expect("an admin configuration")
        .create()
        .expect("an admin client");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let results = admin
            .delete_groups(&[group], &AdminOptions::new())
            .await
            .expect("the delete request is answered");
        match results.first() {
            Some(Ok(_)) => return,
            Some(Err((_, RDKafkaErrorCode::NonEmptyGroup))) => {}
            other => panic!("cannot delete group {group}: {other:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group {group} still had members after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `progress` (done, total) reports everything done, failing after `timeout`
/// with `what`, how far it got and when it last moved, and `explain()` (e.g. the consumer
/// group's committed offsets from [`group_progress`]).
pub async fn wait_for_progress<P, PF>(
    what: &str,
    timeout: Duration,
    mut progress: P,
    explain: impl Fn() -> String,
) where
    P: FnMut() -> PF,
    PF: Future<Output = (usize, usize)>,
{
    let started = tokio::time::Instant::now();
    let mut last = (0, started);
    loop {
        let (done, total) = progress().await;
        if done >= total {
            return;
        }
        let now = tokio::time::Instant::now();
        if done != last.0 {
            last = (done, now);
        }
        assert!(
            now - started < timeout,
            "{what}: only {done} of {total} within {timeout:?} (the last of them after {:?})\n{}",
            last.1 - started,
            explain()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until consumer group `group` is stable without a member whose client ID is
/// `client_id` (the instance name [`start_producer`] gives a process's Kafka clients): the
/// coordinator has removed it — a frozen member, once its session expired — and the
/// rebalance that followed has handed its partitions to the remaining members. Fails after
/// `timeout` with the group's last described state.
pub async fn wait_until_expelled(group: &str, client_id: &str, timeout: Duration) {
    let probe = consumer(&unique_name("describe"), &[]);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let described = match probe.fetch_group_list(Some(group), BROKER_TIMEOUT) {
            Ok(list) => match list.groups().iter().find(|info| info.name() == group) {
                Some(info) => {
                    let members: Vec<&str> = info.members().iter().map(|m| m.client_id()).collect();
                    if info.state() == "Stable" && !members.contains(&client_id) {
                        return;
                    }
                    format!("{} with members {members:?}", info.state())
                }
                None => "not described".to_owned(),
            },
            Err(error) => format!("cannot be described: {error}"),
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "{client_id} was not expelled from group {group} within {timeout:?}; last seen: {described}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A command as a test sends it.
#[derive(Debug, Clone)]
pub struct SentCommand {
    /// Its ID (the idempotency key).
    pub command_id: String,
    /// The aggregate it is for (the record key).
    pub aggregate_id: String,
    /// The command.
    pub command: BankCommand,
}

impl SentCommand {
    /// `command` for `aggregate_id` under a fresh command ID.
    pub fn new(aggregate_id: &str, command: impl Into<BankCommand>) -> Self {
        Self {
            command_id: uuid::Uuid::new_v4().to_string(),
            aggregate_id: aggregate_id.to_owned(),
            command: command.into(),
        }
    }
}

/// Produces command envelopes to the commands topic, each on its aggregate's partition, with
/// `reply-to` naming the test (or no `reply-to`, like the saga runner's commands).
pub struct CommandSender {
    producer: FutureProducer,
    topology: Topology,
    codec: Codec,
    reply_to: Option<String>,
}

impl CommandSender {
    /// A sender for `topology` whose commands ask for replies to `reply_to`.
    pub fn new(topology: &Topology, reply_to: Option<&str>) -> Self {
        Self {
            producer: producer(&[]),
            topology: topology.clone(),
            codec: tributary_bank::codec(),
            reply_to: reply_to.map(str::to_owned),
        }
    }

    /// Sends `commands` in order (enqueuing all before awaiting any; the idempotent producer
    /// keeps each partition's order), failing the test if the broker does not take one.
    pub async fn send(&self, commands: &[SentCommand]) {
        let topic = self.topology.commands();
        let mut pending = Vec::with_capacity(commands.len());
        for sent in commands {
            let envelope = CommandEnvelope {
                command_id: sent.command_id.clone(),
                correlation_id: sent.command_id.clone(),
                aggregate_type: sent.command.aggregate_type().to_owned(),
                aggregate_id: sent.aggregate_id.clone(),
                issued_at: tributary_runtime::clock::unix_millis(),
                reply_to: self.reply_to.clone(),
                deadline: None,
                command: sent.command.encode(&self.codec).expect("commands encode"),
            };
            let value = self.codec.encode(&envelope).expect("envelopes encode");
            let pairs = CommandHeaders {
                command_id: sent.command_id.clone(),
                reply_to: self.reply_to.clone(),
                deadline: None,
                cause: None,
            }
            .to_pairs();
            let headers = pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
                h.insert(Header {
                    key: k,
                    value: Some(v),
                })
            });
            let partition =
                partition_for_key(sent.aggregate_id.as_bytes(), self.topology.partitions());
            let record = FutureRecord::to(&topic)
                .partition(partition)
                .key(sent.aggregate_id.as_str())
                .payload(value.as_slice())
                .headers(headers);
            let delivery = enqueue(&self.producer, record, enqueue_deadline())
                .await
                .unwrap_or_else(|error| panic!("cannot produce a command to {topic}: {error}"));
            pending.push(delivery);
        }
        for delivery in pending {
            delivery
                .await
                .expect("the producer outlives its deliveries")
                .unwrap_or_else(|(error, _)| panic!("producing a command failed: {error}"));
        }
    }
}

/// Every reply addressed to one `reply-to`, read from its partition of the replies topic by a
/// background thread, by command ID in the order they arrived.
pub struct ReplyCollector {
    replies: Arc<Mutex<HashMap<String, Vec<CommandReply>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReplyCollector {
    /// Starts reading the replies to `reply_to` of `topology` from the partition's start.
    pub fn start(topology: &Topology, reply_to: &str) -> Self {
        let reader = consumer(&unique_name("replies"), &[]);
        let partition = partition_for_key(reply_to.as_bytes(), topology.partitions());
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topology.command_replies(), partition, Offset::Beginning)
            .expect("a valid assignment");
        reader.assign(&assignment).expect("assign the replies");
        let replies = Arc::new(Mutex::new(HashMap::<String, Vec<CommandReply>>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, stopped, me) = (
            Arc::clone(&replies),
            Arc::clone(&stop),
            reply_to.as_bytes().to_vec(),
        );
        let thread = std::thread::spawn(move || {
            let codec = tributary_bank::codec();
            while !stopped.load(Ordering::SeqCst) {
                let Some(message) = reader.poll(Duration::from_millis(100)) else {
                    continue;
                };
                let Ok(message) = message else {
                    continue;
                };
                let ours = message.headers().is_some_and(|headers| {
                    headers
                        .iter()
                        .any(|h| h.key == REPLY_TO && h.value == Some(me.as_slice()))
                });
                if !ours {
                    continue;
                }
                let reply: CommandReply = codec
                    .decode_record(message.payload().expect("a reply has a value"))
                    .expect("replies decode");
                sink.lock()
                    .expect("the collector's lock")
                    .entry(reply.command_id.clone())
                    .or_default()
                    .push(reply);
            }
        });
        Self {
            replies,
            stop,
            thread: Some(thread),
        }
    }

    /// How many of `command_ids` have at least one reply.
    pub fn answered<'a>(&self, command_ids: impl IntoIterator<Item = &'a String>) -> usize {
        let replies = self.replies.lock().expect("the collector's lock");
        command_ids
            .into_iter()
            .filter(|id| replies.contains_key(*id))
            .count()
    }

    /// Every reply so far, by command ID.
    pub fn replies(&self) -> HashMap<String, Vec<CommandReply>> {
        self.replies.lock().expect("the collector's lock").clone()
    }
}

impl Drop for ReplyCollector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One record of an events topic.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The aggregate (record key).
    pub aggregate_id: String,
    /// Its headers.
    pub headers: EventHeaders,
    /// The framed event.
    pub value: Vec<u8>,
}

/// An events topic judged by the version rule.
#[derive(Debug, Clone, Default)]
pub struct JudgedLog {
    /// The valid records (the first record of each aggregate's next version), in offset
    /// order per partition.
    pub valid: Vec<EventRecord>,
    /// Records whose version the aggregate already had: lost races, void.
    pub void: Vec<EventRecord>,
    /// Records whose version skips one: no correct writer ever writes one.
    pub gaps: Vec<EventRecord>,
    /// Records on another partition than their key's.
    pub misplaced: Vec<EventRecord>,
    /// Each aggregate's version after its valid records.
    pub versions: BTreeMap<String, u64>,
}

impl JudgedLog {
    /// The valid record at `partition`/`offset`.
    pub fn valid_at(&self, partition: i32, offset: i64) -> Option<&EventRecord> {
        self.valid
            .iter()
            .find(|r| r.partition == partition && r.offset == offset)
    }
}

/// Reads every record of the events topic of `aggregate_type` up to the partitions' current
/// ends and judges them by the version rule.
pub fn read_events(pipeline: &TestPipeline, aggregate_type: &str) -> JudgedLog {
    let topic = pipeline.topology.events(aggregate_type);
    let partitions = pipeline.topology.partitions();
    let ends = pipeline.end_offsets(&topic);
    let reader = consumer(&unique_name("audit"), &[]);
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(&topic, partition, Offset::Beginning)
            .expect("a valid assignment");
    }
    reader.assign(&assignment).expect("assign the events");
    let mut by_partition: BTreeMap<i32, Vec<EventRecord>> = BTreeMap::new();
    let read = |by_partition: &BTreeMap<i32, Vec<EventRecord>>, partition: &i32| {
        by_partition
            .get(partition)
            .and_then(|records| records.last())
            .map_or(0, |record| record.offset + 1)
    };
    crate::wait_until(
        BROKER_TIMEOUT * 4,
        &format!("every record of {topic}"),
        || {
            while let Some(message) = reader.poll(Duration::from_millis(100)) {
                let message = message.expect("reading the events");
                let pairs = message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|h| (h.key, h.value))
                            .collect::<Vec<(&str, Option<&[u8]>)>>()
                    })
                    .unwrap_or_default();
                let record = EventRecord {
                    partition: message.partition(),
                    offset: message.offset(),
                    aggregate_id: String::from_utf8(
                        message.key().expect("events have keys").to_vec(),
                    )
                    .expect("keys are UTF-8"),
                    headers: EventHeaders::parse(pairs)
                        .expect("the command side writes its headers"),
                    value: message.payload().expect("events have values").to_vec(),
                };
                by_partition
                    .entry(record.partition)
                    .or_default()
                    .push(record);
            }
            ends.iter()
                .all(|(partition, end)| read(&by_partition, partition) >= *end)
        },
    );
    let mut judged = JudgedLog::default();
    for (partition, records) in by_partition {
        for record in records {
            if partition_for_key(record.aggregate_id.as_bytes(), partitions) != partition {
                judged.misplaced.push(record.clone());
            }
            let version = judged
                .versions
                .entry(record.aggregate_id.clone())
                .or_default();
            let written = record.headers.aggregate_version;
            if written == *version + 1 {
                *version = written;
                judged.valid.push(record);
            } else if written <= *version {
                judged.void.push(record);
            } else {
                judged.gaps.push(record);
            }
        }
    }
    judged
}

/// The end of each transfer as its valid events say: (status, compensated).
pub fn transfer_ends(log: &JudgedLog) -> BTreeMap<String, (&'static str, bool)> {
    let codec = tributary_bank::codec();
    let mut ends = BTreeMap::new();
    for record in &log.valid {
        let event = TransferEvent::decode(&codec, &record.value).unwrap();
        let end = match event {
            TransferEvent::Requested(_) => ("requested", false),
            TransferEvent::SourceDebited(_) => ("source_debited", false),
            TransferEvent::Completed(_) => ("completed", false),
            TransferEvent::Failed(failed) => ("failed", failed.compensated),
            // A refused step (a redelivery out of order) leaves the transfer where it was.
            TransferEvent::CommandRefused(_) => continue,
        };
        ends.insert(record.aggregate_id.clone(), end);
    }
    ends
}

/// Money movements per transfer on the valid account events: (debits, credits, refunds),
/// each as (account, amount).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Movements {
    /// Debits.
    pub debits: Vec<(String, i64)>,
    /// Credits.
    pub credits: Vec<(String, i64)>,
    /// Refunds.
    pub refunds: Vec<(String, i64)>,
}

/// The money movements of each transfer on the valid account events of `log`.
pub fn movements(log: &JudgedLog) -> HashMap<String, Movements> {
    let codec = tributary_bank::codec();
    let mut by_transfer: HashMap<String, Movements> = HashMap::new();
    for record in &log.valid {
        let account = record.aggregate_id.clone();
        match AccountEvent::decode(&codec, &record.value).unwrap() {
            AccountEvent::DebitedForTransfer(e) => by_transfer
                .entry(e.transfer_id)
                .or_default()
                .debits
                .push((account, e.amount)),
            AccountEvent::CreditedForTransfer(e) => by_transfer
                .entry(e.transfer_id)
                .or_default()
                .credits
                .push((account, e.amount)),
            AccountEvent::RefundedForTransfer(e) => by_transfer
                .entry(e.transfer_id)
                .or_default()
                .refunds
                .push((account, e.amount)),
            _ => {}
        }
    }
    by_transfer
}

/// The accounts' tables as the valid account events say they must be, by plain arithmetic;
/// panics if a balance would go negative, which no valid event may cause.
pub fn fold_accounts(valid: &[EventRecord]) -> (BTreeMap<String, AccountRow>, Vec<LedgerRow>) {
    let codec = tributary_bank::codec();
    let mut accounts: BTreeMap<String, AccountRow> = BTreeMap::new();
    let mut ledger = Vec::new();
    for record in valid {
        let event = AccountEvent::decode(&codec, &record.value).expect("account events decode");
        let row = accounts
            .entry(record.aggregate_id.clone())
            .or_insert_with(|| AccountRow {
                account_id: record.aggregate_id.clone(),
                owner_id: String::new(),
                currency: String::new(),
                balance: 0,
                status: "not_opened".to_owned(),
                version: 0,
            });
        row.version = record.headers.aggregate_version as i64;
        let movement = match &event {
            AccountEvent::Opened(opened) => {
                row.owner_id.clone_from(&opened.owner_id);
                row.currency.clone_from(&opened.currency);
                row.status = "open".to_owned();
                None
            }
            AccountEvent::Closed(_) => {
                row.status = "closed".to_owned();
                None
            }
            AccountEvent::Deposited(e) => Some(("deposit", e.amount)),
            AccountEvent::Withdrawn(e) => Some(("withdrawal", -e.amount)),
            AccountEvent::DebitedForTransfer(e) => Some(("transfer_debit", -e.amount)),
            AccountEvent::CreditedForTransfer(e) => Some(("transfer_credit", e.amount)),
            AccountEvent::RefundedForTransfer(e) => Some(("transfer_refund", e.amount)),
            AccountEvent::TransferDebitRejected(_)
            | AccountEvent::TransferCreditRejected(_)
            | AccountEvent::CommandRefused(_) => None,
        };
        if let Some((kind, amount)) = movement {
            row.balance += amount;
            assert!(
                row.balance >= 0,
                "valid event {}@{}/{} (version {}) drives account {} to {}",
                event.full_name(),
                record.partition,
                record.offset,
                record.headers.aggregate_version,
                record.aggregate_id,
                row.balance
            );
            ledger.push(LedgerRow {
                account_id: record.aggregate_id.clone(),
                version: row.version,
                kind: kind.to_owned(),
                amount,
                balance_after: row.balance,
            });
        }
    }
    accounts.retain(|_, row| row.status != "not_opened");
    ledger.sort();
    (accounts, ledger)
}
