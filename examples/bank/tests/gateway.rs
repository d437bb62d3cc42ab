//! The command gateway against the real broker, with the test playing the processor: it reads
//! the commands topic, checks what the gateway wrote, and replies exactly as the processor
//! does (to `partition_for_key(reply-to)` of the replies topic, keyed by and with a `reply-to`
//! header naming the gateway instance). What is pinned down: the answers for accepted,
//! refused, malformed, oversized, unanswered and unsendable commands; that refused requests
//! write nothing; that a reply addressed to another instance is ignored; and that a gateway
//! that cannot reach the broker does not start and answers 503.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use tributary_bank::records::account::Deposit;
use tributary_producer::gateway::{self, Gateway, GatewayError, GatewayOptions};
use tributary_producer::responses::{
    CommandAccepted, CommandRejected, ErrorBody, EventCoordinates,
};
use tributary_runtime::kafka::KafkaSettings;
use tributary_runtime::{Shutdown, Topology, partition_for_key};
use tributary_schemas::headers::{CommandHeaders, REPLY_TO};
use tributary_schemas::protocol::{self, CommandEnvelope, CommandOutcome, CommandReply};
use tributary_tests::http::{self, HttpClient, HttpResponse};
use tributary_tests::pipeline::TestPipeline;
use tributary_tests::{BROKER_TIMEOUT, consumer, kafka, producer, unique_name};
use uuid::Uuid;

const PARTITIONS: i32 = 4;

// ---- The gateway under test, served on a local port ----------------------------------------

struct Served {
    gateway: Gateway,
    addr: SocketAddr,
    shutdown: Shutdown,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

fn options(reply_timeout: Duration) -> GatewayOptions {
    GatewayOptions {
        reply_timeout,
        ..GatewayOptions::new(
            unique_name("gateway"),
            std::sync::Arc::new(tributary_bank::gateway::catalog()),
        )
    }
}

/// Starts `gateway`'s listener (which must succeed) and serves its router.
async fn serve_started(gateway: Gateway) -> Served {
    let shutdown = Shutdown::new();
    gateway.start(shutdown.clone()).await.unwrap();
    serve(gateway, shutdown).await
}

async fn serve(gateway: Gateway, shutdown: Shutdown) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = gateway.router();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.requested().await })
            .await
            .unwrap();
    });
    Served {
        gateway,
        addr,
        shutdown,
    }
}

/// A gateway of `pipeline` on the broker under test.
async fn gateway_of(pipeline: &TestPipeline, options: GatewayOptions) -> Served {
    let producer = gateway::producer(&kafka(), options.broker_timeout).unwrap();
    let gateway = Gateway::new(kafka(), pipeline.topology.clone(), options, producer);
    serve_started(gateway).await
}

// ---- Requests to the gateway under test -------------------------------------------------------

async fn post(served: &Served, body: impl Into<Vec<u8>>, headers: &[(&str, &str)]) -> HttpResponse {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    HttpClient::new(served.addr)
        .with_timeout(BROKER_TIMEOUT)
        .request("POST", "/v1/commands", &all, body.into().into())
        .await
        .unwrap()
}

async fn get(served: &Served, path: &str) -> HttpResponse {
    http::get(served.addr, path).await.unwrap()
}

// ---- The test plays the processor -------------------------------------------------------------

/// A command record as the fake processor read it.
#[derive(Debug, Clone)]
struct Seen {
    partition: i32,
    key: String,
    headers: CommandHeaders,
    envelope: CommandEnvelope,
}

/// A reply to send: the `reply-to` header it carries, and the reply. It goes to the partition
/// of the envelope's `reply_to`, as the processor sends it.
type Replies = Vec<(String, CommandReply)>;

/// Reads the commands topic from the beginning and answers each command as `script` says.
struct FakeProcessor {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeProcessor {
    fn start(
        topology: &Topology,
        script: impl Fn(&CommandEnvelope, usize) -> Replies + Send + 'static,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Handle::current();
        let topology = topology.clone();
        let thread = {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            std::thread::spawn(move || {
                let commands = consumer(&unique_name("fake-processor"), &[]);
                let mut assignment = TopicPartitionList::new();
                for partition in 0..topology.partitions() {
                    assignment
                        .add_partition_offset(&topology.commands(), partition, Offset::Beginning)
                        .unwrap();
                }
                commands.assign(&assignment).unwrap();
                let replies = producer(&[]);
                let codec = tributary_bank::codec();
                while !stop.load(Ordering::SeqCst) {
                    let Some(message) = commands.poll(Duration::from_millis(100)) else {
                        continue;
                    };
                    let message = message.unwrap();
                    let envelope: CommandEnvelope =
                        codec.decode_record(message.payload().unwrap()).unwrap();
                    let pairs: Vec<(&str, Option<&[u8]>)> = message
                        .headers()
                        .map(|headers| headers.iter().map(|h| (h.key, h.value)).collect())
                        .unwrap_or_default();
                    let record = Seen {
                        partition: message.partition(),
                        key: String::from_utf8(message.key().unwrap().to_vec()).unwrap(),
                        headers: CommandHeaders::parse(pairs).unwrap(),
                        envelope: envelope.clone(),
                    };
                    let sightings = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(record);
                        seen.iter()
                            .filter(|s| s.envelope.command_id == envelope.command_id)
                            .count()
                    };
                    let Some(reply_to) = envelope.reply_to.clone() else {
                        continue;
                    };
                    for (header, reply) in script(&envelope, sightings) {
                        let value = codec.encode(&reply).unwrap();
                        let topic = topology.command_replies();
                        let headers = OwnedHeaders::new().insert(Header {
                            key: REPLY_TO,
                            value: Some(header.as_bytes()),
                        });
                        let record = FutureRecord::to(&topic)
                            .partition(partition_for_key(
                                reply_to.as_bytes(),
                                topology.partitions(),
                            ))
                            .key(&header)
                            .payload(&value)
                            .headers(headers);
                        runtime
                            .block_on(replies.send(record, BROKER_TIMEOUT))
                            .map_err(|(error, _)| error)
                            .unwrap();
                    }
                }
            })
        };
        Self {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `count` command records have been read.
    async fn wait_for(&self, count: usize) -> Vec<Seen> {
        let deadline = Instant::now() + BROKER_TIMEOUT;
        loop {
            let seen = self.seen();
            if seen.len() >= count {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "the fake processor read {} of {count} commands",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FakeProcessor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn reply(envelope: &CommandEnvelope, outcome: CommandOutcome) -> CommandReply {
    CommandReply {
        command_id: envelope.command_id.clone(),
        aggregate_type: envelope.aggregate_type.clone(),
        aggregate_id: envelope.aggregate_id.clone(),
        outcome,
        reason: None,
        reused_for: None,
        event: None,
        version: 0,
        replied_at: 1,
    }
}

/// The reply of an accepted deposit whose event is at offset 41, version 2.
fn deposited(topology: &Topology, envelope: &CommandEnvelope) -> CommandReply {
    CommandReply {
        event: Some(protocol::EventCoordinates {
            topic: topology.events(&envelope.aggregate_type),
            partition: partition_for_key(envelope.aggregate_id.as_bytes(), topology.partitions()),
            offset: 41,
            version: 2,
            event_type: "tributary.bank.account.Deposited".to_owned(),
        }),
        version: 2,
        ..reply(envelope, CommandOutcome::Accepted)
    }
}

fn refused(envelope: &CommandEnvelope, reason: &str) -> CommandReply {
    CommandReply {
        reason: Some(reason.to_owned()),
        version: 1,
        ..reply(envelope, CommandOutcome::Rejected)
    }
}

// ---- Metrics ---------------------------------------------------------------------------------

/// The value of counter `name` with exactly `labels`, 0 when it was never touched.
fn counter(gateway: &Gateway, name: &str, labels: &[(&str, &str)]) -> u64 {
    let families = gateway.metrics().registry().gather();
    let Some(family) = families.iter().find(|family| family.name() == name) else {
        return 0;
    };
    family
        .get_metric()
        .iter()
        .find(|metric| {
            let pairs: Vec<(&str, &str)> = metric
                .get_label()
                .iter()
                .map(|pair| (pair.name(), pair.value()))
                .collect();
            labels.iter().all(|label| pairs.contains(label)) && pairs.len() == labels.len()
        })
        .map_or(0, |metric| metric.get_counter().get_value() as u64)
}

async fn wait_for_counter(gateway: &Gateway, name: &str, labels: &[(&str, &str)], at_least: u64) {
    let deadline = Instant::now() + BROKER_TIMEOUT;
    while counter(gateway, name, labels) < at_least {
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?} stayed at {} (expected at least {at_least})",
            counter(gateway, name, labels)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn deposit_body(command_id: Option<Uuid>, account: &str, amount: i64) -> Vec<u8> {
    let mut body = json!({
        "aggregate": "account",
        "id": account,
        "command": {"type": "Deposit", "amount": amount},
    });
    if let Some(command_id) = command_id {
        body["command_id"] = json!(command_id);
    }
    serde_json::to_vec(&body).unwrap()
}

// ---- Tests -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_command_is_answered_200_with_its_event_and_a_consistency_token() {
    let pipeline = TestPipeline::create("gateway-accepted", PARTITIONS).await;
    let topology = pipeline.topology.clone();
    // Each command is answered twice, as a processor redoing it after a crash would.
    let fake = FakeProcessor::start(&pipeline.topology, move |envelope, _| {
        let reply_to = envelope.reply_to.clone().unwrap();
        let reply = deposited(&topology, envelope);
        vec![(reply_to.clone(), reply.clone()), (reply_to, reply)]
    });
    let served = gateway_of(&pipeline, options(Duration::from_secs(20))).await;
    let instance = served.gateway.instance_id().to_owned();

    let command_id = Uuid::new_v4();
    let answer = post(
        &served,
        deposit_body(Some(command_id), "acc-1", 500),
        &[("X-Correlation-Id", "req-7")],
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let accepted: CommandAccepted = answer.json();
    let topic = pipeline.topology.events("account");
    let partition = partition_for_key(b"acc-1", PARTITIONS);
    assert_eq!(
        accepted,
        CommandAccepted {
            command_id,
            aggregate: "account".to_owned(),
            id: "acc-1".to_owned(),
            version: 2,
            event: Some(EventCoordinates {
                topic: topic.clone(),
                partition,
                offset: 41,
                event_type: "tributary.bank.account.Deposited".to_owned(),
            }),
            consistency_token: Some(format!("{topic}:{partition}:41")),
        }
    );
    assert_eq!(
        answer.header("x-command-id"),
        Some(command_id.to_string().as_str())
    );
    assert_eq!(answer.header("x-correlation-id"), Some("req-7"));

    // What the gateway wrote: the aggregate's partition, keyed by its ID, headers mirroring
    // an envelope that carries the command and names this instance for the reply.
    let seen = fake.wait_for(1).await.remove(0);
    assert_eq!(seen.partition, partition);
    assert_eq!(seen.key, "acc-1");
    let envelope = &seen.envelope;
    assert_eq!(envelope.command_id, command_id.to_string());
    assert_eq!(envelope.correlation_id, "req-7");
    assert_eq!(envelope.aggregate_type, "account");
    assert_eq!(envelope.aggregate_id, "acc-1");
    assert_eq!(envelope.reply_to.as_deref(), Some(instance.as_str()));
    assert_eq!(envelope.deadline, Some(envelope.issued_at + 20_000));
    assert_eq!(
        seen.headers,
        CommandHeaders {
            command_id: command_id.to_string(),
            reply_to: Some(instance.clone()),
            deadline: envelope.deadline,
            cause: None,
        }
    );
    let command: Deposit = tributary_bank::codec()
        .decode_record(&envelope.command)
        .unwrap();
    assert_eq!(
        command,
        Deposit {
            amount: 500,
            reference: None
        }
    );

    // Without a command ID or a correlation ID, the gateway makes up the first and uses it
    // for the second.
    let answer = post(&served, deposit_body(None, "acc-1", 5), &[]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let accepted: CommandAccepted = answer.json();
    assert_eq!(accepted.command_id.get_version_num(), 4);
    assert_eq!(
        answer.header("x-command-id"),
        Some(accepted.command_id.to_string().as_str())
    );
    let seen = fake.wait_for(2).await.remove(1);
    assert_eq!(seen.envelope.command_id, accepted.command_id.to_string());
    assert_eq!(
        seen.envelope.correlation_id,
        accepted.command_id.to_string()
    );

    let replies = tributary_producer::gateway::metrics::names::REPLIES_TOTAL;
    wait_for_counter(&served.gateway, replies, &[("result", "duplicate")], 2).await;
    assert_eq!(
        counter(&served.gateway, replies, &[("result", "delivered")]),
        2
    );
    let accepted_label = [
        ("aggregate", "account"),
        ("command", "Deposit"),
        ("outcome", "accepted"),
    ];
    assert_eq!(
        counter(
            &served.gateway,
            tributary_producer::gateway::metrics::names::COMMANDS_TOTAL,
            &accepted_label
        ),
        2
    );

    let document = get(&served, "/openapi.json").await;
    assert_eq!(document.status, 200);
    let document: Value = document.json();
    assert!(document["paths"]["/v1/commands"]["post"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_the_domain_refuses_is_answered_409_with_the_reason() {
    let pipeline = TestPipeline::create("gateway-refused", PARTITIONS).await;
    let reason = "account acc-2 holds 0, so 700 cannot be withdrawn";
    let _fake = FakeProcessor::start(&pipeline.topology, move |envelope, _| {
        vec![(
            envelope.reply_to.clone().unwrap(),
            refused(envelope, reason),
        )]
    });
    let served = gateway_of(&pipeline, options(Duration::from_secs(20))).await;
    let command_id = Uuid::new_v4();
    let body = json!({"command_id": command_id, "aggregate": "account", "id": "acc-2",
                      "command": {"type": "Withdraw", "amount": 700}});
    let answer = post(&served, body.to_string(), &[]).await;
    assert_eq!(answer.status, 409, "{answer:?}");
    assert_eq!(
        answer.json::<CommandRejected>(),
        CommandRejected {
            command_id,
            aggregate: "account".to_owned(),
            id: "acc-2".to_owned(),
            reason: reason.to_owned(),
        }
    );
    assert_eq!(
        answer.header("x-command-id"),
        Some(command_id.to_string().as_str())
    );
    let labels = [
        ("aggregate", "account"),
        ("command", "Withdraw"),
        ("outcome", "rejected"),
    ];
    assert_eq!(
        counter(
            &served.gateway,
            tributary_producer::gateway::metrics::names::COMMANDS_TOTAL,
            &labels
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_id_the_processor_finds_used_for_another_aggregate_is_answered_422() {
    let pipeline = TestPipeline::create("gateway-reused-id", PARTITIONS).await;
    let reason =
        "command ID … was already used for account acc-1; send this command with a new command ID";
    let _fake = FakeProcessor::start(&pipeline.topology, move |envelope, _| {
        let reply = CommandReply {
            reused_for: Some("account acc-1".to_owned()),
            ..refused(envelope, reason)
        };
        vec![(envelope.reply_to.clone().unwrap(), reply)]
    });
    let served = gateway_of(&pipeline, options(Duration::from_secs(20))).await;
    let body = json!({"command_id": Uuid::new_v4(), "aggregate": "account", "id": "acc-2",
                      "command": {"type": "Deposit", "amount": 5}});
    let answer = post(&served, body.to_string(), &[]).await;
    assert_eq!(answer.status, 422, "{answer:?}");
    let error: Value = answer.json();
    assert_eq!(error["field"], "command_id");
    assert_eq!(error["error"], reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_id_used_for_two_aggregates_gets_each_its_own_answer() {
    let pipeline = TestPipeline::create("gateway-shared-id", PARTITIONS).await;
    let topology = pipeline.topology.clone();
    // The fake processor answers only once both commands wait, so that both requests are
    // registered when the first reply comes: acc-a's deposit is accepted, acc-b's refused.
    let held: Arc<Mutex<Vec<CommandEnvelope>>> = Arc::default();
    let _fake = FakeProcessor::start(&pipeline.topology, move |envelope, _| {
        let mut held = held.lock().unwrap();
        held.push(envelope.clone());
        if held.len() < 2 {
            return Vec::new();
        }
        held.drain(..)
            .map(|envelope| {
                let reply = if envelope.aggregate_id == "acc-a" {
                    deposited(&topology, &envelope)
                } else {
                    refused(&envelope, "acc-b is closed")
                };
                (envelope.reply_to.clone().unwrap(), reply)
            })
            .collect()
    });
    let served = gateway_of(&pipeline, options(Duration::from_secs(20))).await;
    let command_id = Uuid::new_v4();
    let (a, b) = tokio::join!(
        post(&served, deposit_body(Some(command_id), "acc-a", 5), &[]),
        post(&served, deposit_body(Some(command_id), "acc-b", 5), &[]),
    );
    assert_eq!(a.status, 200, "acc-a: {a:?}");
    let accepted = a.json::<CommandAccepted>();
    assert_eq!((accepted.id.as_str(), accepted.version), ("acc-a", 2));
    assert_eq!(b.status, 409, "acc-b got another aggregate's answer: {b:?}");
    assert_eq!(b.json::<CommandRejected>().reason, "acc-b is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_addressed_to_another_instance_is_ignored() {
    let pipeline = TestPipeline::create("gateway-foreign", PARTITIONS).await;
    // First an acceptance addressed to another instance whose replies share this partition,
    // then the real answer: a refusal. Only the refusal may reach the client.
    let _fake = FakeProcessor::start(&pipeline.topology, move |envelope, _| {
        let foreign = CommandReply {
            version: 9,
            ..reply(envelope, CommandOutcome::Accepted)
        };
        vec![
            ("another-gateway".to_owned(), foreign),
            (
                envelope.reply_to.clone().unwrap(),
                refused(envelope, "not for you"),
            ),
        ]
    });
    let served = gateway_of(&pipeline, options(Duration::from_secs(20))).await;
    let answer = post(&served, deposit_body(None, "acc-3", 5), &[]).await;
    assert_eq!(answer.status, 409, "{answer:?}");
    assert_eq!(answer.json::<CommandRejected>().reason, "not for you");
    let replies = tributary_producer::gateway::metrics::names::REPLIES_TOTAL;
    assert_eq!(
        counter(&served.gateway, replies, &[("result", "other_instance")]),
        1
    );
    assert_eq!(
        counter(&served.gateway, replies, &[("result", "delivered")]),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_answered_400_413_422_and_write_nothing() {
    let pipeline = TestPipeline::create("gateway-invalid", PARTITIONS).await;
    let topology = pipeline.topology.clone();
    let fake = FakeProcessor::start(&pipeline.topology, move |envelope, _| {
        vec![(
            envelope.reply_to.clone().unwrap(),
            deposited(&topology, envelope),
        )]
    });
    let served = gateway_of(
        &pipeline,
        GatewayOptions {
            body_limit: 1024,
            ..options(Duration::from_secs(20))
        },
    )
    .await;
    let commands = pipeline.topology.commands();
    let before = pipeline.end_offsets(&commands);

    let not_json = post(&served, r#"{"aggregate": "#, &[]).await;
    assert_eq!(not_json.status, 400, "{not_json:?}");
    assert_eq!(
        not_json.json::<ErrorBody>(),
        ErrorBody::new(
            "request body is not valid JSON: EOF while parsing a value at line 1 column 14"
        )
    );
    assert_eq!(not_json.header("x-command-id"), None);

    let cases = [
        (
            json!({"aggregate": "account", "id": "acc-1", "command": {"type": "Deposit", "amount": -5}}),
            "command.amount",
            "command.amount: expected a positive whole number, got -5",
        ),
        (
            json!({"command_id": "xyz", "aggregate": "account", "id": "acc-1", "command": {"type": "Deposit", "amount": 5}}),
            "command_id",
            "command_id: \"xyz\" is not a UUID",
        ),
        (
            json!({"aggregate": "account", "command": {"type": "Deposit", "amount": 5}}),
            "id",
            "id: missing",
        ),
        (
            json!({"aggregate": "account", "id": "acc-1", "command": {"type": "Deposit", "amout": 5}}),
            "command.amout",
            "command.amout: unknown field; Deposit has amount, reference",
        ),
        (
            json!({"aggregate": "account", "id": "acc-1", "command": {
                "type": "DebitForTransfer", "transfer_id": "t-1", "amount": 5, "currency": "EUR"}}),
            "command.type",
            "command.type: \"DebitForTransfer\" is a step of the transfer saga and cannot be sent by clients",
        ),
    ];
    for (body, field, message) in &cases {
        let answer = post(&served, body.to_string(), &[]).await;
        assert_eq!(answer.status, 422, "{body}: {answer:?}");
        assert_eq!(
            answer.json::<ErrorBody>(),
            ErrorBody {
                error: (*message).to_owned(),
                field: Some((*field).to_owned()),
            },
            "{body}"
        );
    }

    let oversized = json!({"aggregate": "account", "id": "acc-1",
                           "command": {"type": "Deposit", "amount": 5, "reference": "x".repeat(2000)}});
    let answer = post(&served, oversized.to_string(), &[]).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(
        answer.json::<ErrorBody>(),
        ErrorBody::new(
            "request body exceeds the limit of 1024 bytes; a command request is a small JSON object: send one command per request"
        )
    );

    let answer = post(
        &served,
        deposit_body(None, "acc-1", 5),
        &[("X-Correlation-Id", &"c".repeat(201))],
    )
    .await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(
        answer
            .json::<ErrorBody>()
            .error
            .starts_with("header X-Correlation-Id must be 1 to 200 printable ASCII characters"),
        "{answer:?}"
    );

    assert_eq!(
        pipeline.end_offsets(&commands),
        before,
        "a refused request wrote a command"
    );
    let invalid = [
        ("aggregate", "unknown"),
        ("command", "unknown"),
        ("outcome", "invalid"),
    ];
    assert_eq!(
        counter(
            &served.gateway,
            tributary_producer::gateway::metrics::names::COMMANDS_TOTAL,
            &invalid
        ),
        8
    );

    // The measurement sees a command that is written: exactly one more record.
    let answer = post(&served, deposit_body(None, "acc-1", 5), &[]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let after = pipeline.end_offsets(&commands);
    let written: i64 = after.values().sum::<i64>() - before.values().sum::<i64>();
    assert_eq!(written, 1);
    assert_eq!(
        fake.seen().len(),
        1,
        "only the valid command reached the topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reply_in_time_is_answered_504_and_a_retry_with_the_same_command_id_gets_the_outcome() {
    let pipeline = TestPipeline::create("gateway-timeout", PARTITIONS).await;
    let topology = pipeline.topology.clone();
    // The first record of a command is answered only after the gateway gave up on it (a
    // slow processor); its retry is answered at once.
    let fake = FakeProcessor::start(&pipeline.topology, move |envelope, sightings| {
        if sightings == 1 {
            std::thread::sleep(Duration::from_millis(600));
        }
        vec![(
            envelope.reply_to.clone().unwrap(),
            deposited(&topology, envelope),
        )]
    });
    let timeout = Duration::from_millis(500);
    let served = gateway_of(&pipeline, options(timeout)).await;
    let command_id = Uuid::new_v4();

    let started = Instant::now();
    let answer = post(&served, deposit_body(Some(command_id), "acc-4", 5), &[]).await;
    let waited = started.elapsed();
    assert_eq!(answer.status, 504, "{answer:?}");
    assert!(
        waited >= timeout && waited < timeout + Duration::from_secs(5),
        "answered after {waited:?}"
    );
    assert_eq!(
        answer.json::<ErrorBody>(),
        ErrorBody::new(format!(
            "no reply to command {command_id} within 500 ms; the command may still be applied: retrying with the same command_id {command_id} is safe (a repeated command ID gets the first outcome and writes nothing new)"
        ))
    );
    assert_eq!(
        answer.header("x-command-id"),
        Some(command_id.to_string().as_str())
    );
    assert_eq!(
        counter(
            &served.gateway,
            tributary_producer::gateway::metrics::names::REPLIES_TIMED_OUT_TOTAL,
            &[]
        ),
        1
    );
    let seen = fake.wait_for(1).await.remove(0);
    assert_eq!(seen.envelope.deadline, Some(seen.envelope.issued_at + 500));
    let replies = tributary_producer::gateway::metrics::names::REPLIES_TOTAL;
    wait_for_counter(&served.gateway, replies, &[("result", "late")], 1).await;
    assert_eq!(
        counter(&served.gateway, replies, &[("result", "delivered")]),
        0
    );

    // The client retries through another instance, with the generous timeout the other
    // tests use.
    let other = gateway_of(&pipeline, options(Duration::from_secs(20))).await;
    let answer = post(&other, deposit_body(Some(command_id), "acc-4", 5), &[]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json::<CommandAccepted>().command_id, command_id);
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_takes_no_command_is_answered_503_with_retry_after() {
    let pipeline = TestPipeline::create("gateway-unavailable", PARTITIONS).await;
    // Replies are heard (the listener is on the real broker), but commands go to a closed port.
    let nowhere = KafkaSettings::from_vars(
        [(
            "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
            "127.0.0.1:1".to_owned(),
        )],
        "127.0.0.1:1",
    );
    let options = GatewayOptions {
        broker_timeout: Duration::from_millis(1500),
        ..options(Duration::from_secs(20))
    };
    let producer = gateway::producer(&nowhere, options.broker_timeout).unwrap();
    let gateway = Gateway::new(kafka(), pipeline.topology.clone(), options, producer);
    let served = serve_started(gateway).await;
    let command_id = Uuid::new_v4();

    let started = Instant::now();
    let answer = post(&served, deposit_body(Some(command_id), "acc-5", 5), &[]).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert_eq!(
        answer.header("x-command-id"),
        Some(command_id.to_string().as_str())
    );
    let error = answer.json::<ErrorBody>().error;
    let expected = format!(
        "command {command_id} could not be written to Kafka topic {} (brokers {})",
        pipeline.topology.commands(),
        kafka().bootstrap_servers()
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(
        error.ends_with(&format!(
            "retry in 5 s with the same command_id {command_id}, which is safe"
        )),
        "{error}"
    );
    let labels = [
        ("aggregate", "account"),
        ("command", "Deposit"),
        ("outcome", "unavailable"),
    ];
    assert_eq!(
        counter(
            &served.gateway,
            tributary_producer::gateway::metrics::names::COMMANDS_TOTAL,
            &labels
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_cannot_reach_the_broker_does_not_start_and_answers_503() {
    let nowhere = KafkaSettings::from_vars(
        [(
            "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
            "127.0.0.1:1".to_owned(),
        )],
        "127.0.0.1:1",
    );
    let options = GatewayOptions {
        broker_timeout: Duration::from_millis(1500),
        ..options(Duration::from_secs(20))
    };
    let producer = gateway::producer(&nowhere, options.broker_timeout).unwrap();
    let topology = Topology::new(
        unique_name("gateway-nowhere"),
        tributary_bank::AGGREGATE_TYPES,
        PARTITIONS,
    );
    let gateway = Gateway::new(nowhere, topology.clone(), options, producer);
    let started = Instant::now();
    let error = gateway.start(Shutdown::new()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed after {:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, GatewayError::RepliesEnd { .. }),
        "{error:?}"
    );
    let (replies, partition) = gateway.replies_partition();
    assert!(
        error.to_string().starts_with(&format!(
            "cannot find the end of replies partition {replies}/{partition} at 127.0.0.1:1 within 1500 ms: "
        )),
        "{error}"
    );
    assert!(!gateway.is_listening());

    let served = serve(gateway, Shutdown::new()).await;
    let answer = post(&served, deposit_body(None, "acc-6", 5), &[]).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert!(
        answer
            .json::<ErrorBody>()
            .error
            .starts_with("the gateway is not listening for command replies"),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reads_every_reply_written_after_start_and_none_before() {
    let pipeline = TestPipeline::create("gateway-position", PARTITIONS).await;
    let options = options(Duration::from_secs(20));
    let instance = options.instance_id.clone();
    let replies_topic = pipeline.topology.command_replies();
    let partition = partition_for_key(instance.as_bytes(), PARTITIONS);
    let writer = producer(&[]);
    let write = |value: Vec<u8>| {
        let writer = writer.clone();
        let (topic, instance) = (replies_topic.clone(), instance.clone());
        async move {
            let headers = OwnedHeaders::new().insert(Header {
                key: REPLY_TO,
                value: Some(instance.as_bytes()),
            });
            let record = FutureRecord::to(&topic)
                .partition(partition)
                .key(&instance)
                .payload(&value)
                .headers(headers);
            writer
                .send(record, BROKER_TIMEOUT)
                .await
                .map_err(|(error, _)| error)
                .unwrap();
        }
    };
    // Before start: a record that would count as undecodable if it were read.
    write(b"written before start".to_vec()).await;

    let producer = gateway::producer(&kafka(), options.broker_timeout).unwrap();
    let gateway = Gateway::new(kafka(), pipeline.topology.clone(), options, producer);
    let shutdown = Shutdown::new();
    let listener = gateway.start(shutdown.clone()).await.unwrap();
    assert!(gateway.is_listening());
    // Right after start, with no fetch given time to happen: a reply nobody waits for.
    let envelope = CommandEnvelope {
        command_id: Uuid::new_v4().to_string(),
        correlation_id: "c".to_owned(),
        aggregate_type: "account".to_owned(),
        aggregate_id: "acc-7".to_owned(),
        issued_at: 1,
        reply_to: Some(instance.clone()),
        deadline: None,
        command: Vec::new(),
    };
    let value = tributary_bank::codec()
        .encode(&reply(&envelope, CommandOutcome::Accepted))
        .unwrap();
    write(value).await;

    let replies = tributary_producer::gateway::metrics::names::REPLIES_TOTAL;
    wait_for_counter(&gateway, replies, &[("result", "unknown")], 1).await;
    // The partition is read in order, so the earlier record would have been counted first.
    assert_eq!(counter(&gateway, replies, &[("result", "undecodable")]), 0);

    shutdown.trigger();
    tokio::time::timeout(BROKER_TIMEOUT, listener)
        .await
        .expect("the listener stops on shutdown")
        .unwrap();
    assert!(!gateway.is_listening());
}
