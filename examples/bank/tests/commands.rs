//! The command side as it is deployed: `producer all` and `projector run` as separate
//! processes against the real broker and PostgreSQL, driven over HTTP as a client drives them.
//!
//! What is proven:
//! - concurrent commands on one aggregate keep its invariant: of 200 concurrent withdrawals of
//!   10 from 1000, exactly 100 are accepted, the read model ends at 0, and the balance folded
//!   over the valid events of the log (the version rule) never goes below zero;
//! - of 50 concurrent registrations of one address by 50 users, written in different cases
//!   and with surrounding spaces, every request is accepted and its consistency token reads
//!   the request on the users route; then exactly one user is registered with the address and
//!   the other 49 are not, each saying that the address is taken;
//! - a repeated command ID gets the first answer, byte for byte, and the log holds one event
//!   for it — also after the producer was killed with SIGKILL and started again;
//! - the consistency token of an accepted command makes the read API answer with a state that
//!   includes it, on the first read;
//! - the gateway answers the documented status codes against the real processor, and `504`
//!   with the command ID and the advice to retry when no processor answers.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tributary_bank::records::account::AccountEvent;
use tributary_producer::responses::{CommandAccepted, CommandRejected, ErrorBody};
use tributary_runtime::kafka::SourceRecord;
use tributary_runtime::partition_for_key;
use tributary_schemas::RecordSet;
use tributary_schemas::headers::EventHeaders;
use tributary_tests::http::{self, HttpClient, HttpResponse};
use tributary_tests::pipeline::TestPipeline;
use tributary_tests::process::ServiceProcess;
use tributary_tests::{BROKER_TIMEOUT, consumer, unique_name, wait_until};
use uuid::Uuid;

const PARTITIONS: i32 = 4;
const PRODUCER: &str = env!("CARGO_BIN_EXE_producer");
const COMMANDS: &str = "/v1/commands";
/// How long a process may take to answer `/readyz`.
const STARTUP: Duration = Duration::from_secs(60);
/// The gateway's reply timeout for single commands: generous, because the first command of a
/// pipeline waits for the processor to be assigned its partitions.
const COMMAND_TIMEOUT_MS: &str = "60000";
/// The gateway's reply timeout in the tests that send many commands to one aggregate at once:
/// they all wait in one partition, behind each other, and on a shared, busy broker a command
/// can take a second to decide.
const BURST_TIMEOUT_MS: &str = "240000";
/// How long a client of those tests waits for an answer: longer than the gateway does.
const BURST_CLIENT_TIMEOUT: Duration = Duration::from_secs(270);

/// The projector binary, built next to the producer by `cargo test --workspace`.
fn projector_binary() -> PathBuf {
    let path = Path::new(PRODUCER).with_file_name("projector");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p tributary-bank` (or `cargo test --workspace`, which builds it) before these tests",
        path.display()
    );
    path
}

/// Environment of a producer process of `pipeline`.
fn producer_env(pipeline: &TestPipeline, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = pipeline.projector_env();
    env.push(("PRODUCER_INSTANCE_ID".into(), unique_name("producer")));
    env.push(("COMMAND_TIMEOUT_MS".into(), COMMAND_TIMEOUT_MS.into()));
    env.extend_from_slice(extra);
    env
}

/// `producer <mode>` for `pipeline`, ready.
async fn start_producer(
    pipeline: &TestPipeline,
    mode: &str,
    extra: &[(String, String)],
) -> ServiceProcess {
    let mut producer = ServiceProcess::start(
        &format!("producer-{mode}"),
        PRODUCER,
        &[mode],
        &producer_env(pipeline, extra),
        "PRODUCER_HTTP_ADDR",
    )
    .unwrap();
    producer.wait_ready(STARTUP).await.unwrap();
    producer
}

/// Environment pairs as owned strings.
fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// A pipeline of its own with its producer (`all`) and projector processes.
struct Services {
    pipeline: TestPipeline,
    producer: ServiceProcess,
    projector: ServiceProcess,
    producer_extra: Vec<(String, String)>,
}

impl Services {
    async fn start(name: &str, producer_extra: &[(&str, &str)]) -> Self {
        let producer_extra = owned(producer_extra);
        let pipeline = TestPipeline::create(name, PARTITIONS).await;
        // Both processes create the schema if it is missing; two `CREATE SCHEMA IF NOT EXISTS`
        // at the same moment can collide in PostgreSQL, so the test creates it first.
        let pool = pipeline.pool().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            pipeline.schema
        )))
        .execute(&pool)
        .await
        .unwrap();
        let mut projector_env = pipeline.projector_env();
        projector_env.push(("READ_CONSISTENCY_TIMEOUT_MS".into(), "20000".into()));
        let mut projector = ServiceProcess::start(
            "projector",
            projector_binary().to_str().unwrap(),
            &["run"],
            &projector_env,
            "PROJECTOR_HTTP_ADDR",
        )
        .unwrap();
        let producer = start_producer(&pipeline, "all", &producer_extra).await;
        projector.wait_ready(STARTUP).await.unwrap();
        Self {
            pipeline,
            producer,
            projector,
            producer_extra,
        }
    }

    /// `POST /v1/commands` on the gateway.
    async fn command(&self, body: &Value) -> HttpResponse {
        http::post_json(self.producer.http, COMMANDS, body)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "POST {COMMANDS} {body}: {error}\n{}",
                    self.producer.log_tail()
                )
            })
    }

    /// Sends a command that must be accepted, and returns the answer.
    async fn accepted(&self, body: &Value) -> CommandAccepted {
        let response = self.command(body).await;
        assert_eq!(response.status, 200, "{body} → {}", response.body);
        serde_json::from_str(&response.body).unwrap()
    }

    /// `GET path` on the projector's read API.
    async fn read(&self, path: &str) -> HttpResponse {
        http::get(self.projector.http, path)
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"))
    }

    /// Kills the processes and drops the test's schema.
    async fn finish(self) {
        let Self {
            pipeline,
            mut producer,
            mut projector,
            ..
        } = self;
        producer.kill();
        projector.kill();
        pipeline.drop_schema(&pipeline.pool().await).await;
    }
}

fn open_account(account: &str) -> Value {
    json!({"aggregate": "account", "id": account,
           "command": {"type": "OpenAccount", "owner_id": "owner-1", "currency": "EUR"}})
}

fn deposit(command_id: Uuid, account: &str, amount: i64) -> Value {
    json!({"command_id": command_id, "aggregate": "account", "id": account,
           "command": {"type": "Deposit", "amount": amount}})
}

fn withdraw(command_id: Uuid, account: &str, amount: i64) -> Value {
    json!({"command_id": command_id, "aggregate": "account", "id": account,
           "command": {"type": "Withdraw", "amount": amount}})
}

/// A record of an account's events partition.
#[derive(Debug)]
struct EventRecord {
    offset: i64,
    headers: EventHeaders,
    event: AccountEvent,
}

/// Every record of `account` in its events partition, from the start to the end the broker
/// reports now.
fn account_records(pipeline: &TestPipeline, account: &str) -> Vec<EventRecord> {
    let topic = pipeline.topology.events("account");
    let partition = partition_for_key(account.as_bytes(), PARTITIONS);
    let end = pipeline.end_offsets(&topic)[&partition];
    let reader = consumer(&unique_name("events"), &[]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, partition, Offset::Beginning)
        .unwrap();
    reader.assign(&assignment).unwrap();
    let codec = tributary_bank::codec();
    let mut records = Vec::new();
    let mut next = 0;
    wait_until(
        BROKER_TIMEOUT,
        "the events partition read to its end",
        || {
            while next < end {
                let Some(message) = reader.poll(Duration::from_millis(200)) else {
                    break;
                };
                let record = SourceRecord::from_message(&message.unwrap());
                next = record.offset + 1;
                if record.aggregate_id() == Some(account) {
                    records.push(EventRecord {
                        offset: record.offset,
                        headers: EventHeaders::parse(record.header_pairs()).unwrap(),
                        event: AccountEvent::decode(&codec, record.value.as_deref().unwrap())
                            .unwrap(),
                    });
                }
            }
            next >= end
        },
    );
    records
}

/// The valid records under the version rule: for each next version, the first record with it.
fn valid(records: &[EventRecord]) -> Vec<&EventRecord> {
    let mut version = 0;
    records
        .iter()
        .filter(|record| {
            let next = record.headers.aggregate_version == version + 1;
            if next {
                version += 1;
            }
            next
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_withdrawals_of_ten_from_a_thousand_accept_exactly_one_hundred() {
    let services =
        Services::start("withdrawals", &[("COMMAND_TIMEOUT_MS", BURST_TIMEOUT_MS)]).await;
    let account = "acc-1";
    services.accepted(&open_account(account)).await;
    services
        .accepted(&deposit(Uuid::new_v4(), account, 1000))
        .await;

    let mut requests = JoinSet::new();
    for _ in 0..200 {
        let gateway = HttpClient::new(services.producer.http).with_timeout(BURST_CLIENT_TIMEOUT);
        requests.spawn(async move {
            let command_id = Uuid::new_v4();
            let body = withdraw(command_id, account, 10);
            let response = gateway.post_json(COMMANDS, &body).await;
            (command_id, response)
        });
    }
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    let mut others = Vec::new();
    while let Some(joined) = requests.join_next().await {
        let (command_id, response) = joined.unwrap();
        let response = response.unwrap();
        match response.status {
            200 => {
                let answer: CommandAccepted = serde_json::from_str(&response.body).unwrap();
                assert_eq!(answer.command_id, command_id);
                accepted.push(answer);
            }
            409 => {
                let answer: CommandRejected = serde_json::from_str(&response.body).unwrap();
                assert_eq!(answer.command_id, command_id);
                rejected.push(answer);
            }
            _ => others.push(response),
        }
    }
    if !others.is_empty() {
        let decided = services
            .producer
            .metric(tributary_producer::metrics::names::COMMANDS_TOTAL)
            .await
            .unwrap();
        panic!("unexpected answers (the processor decided {decided} commands): {others:?}");
    }
    assert_eq!((accepted.len(), rejected.len()), (100, 100));
    for refusal in &rejected {
        assert_eq!(
            refusal.reason, "insufficient funds: balance 0, withdrawal 10",
            "a withdrawal is refused only once the balance is used up"
        );
    }
    let versions: BTreeSet<u64> = accepted.iter().map(|answer| answer.version).collect();
    assert_eq!(versions, (3..=102).collect(), "one version per acceptance");

    // The read model, read at the last accepted command.
    let last = accepted.iter().max_by_key(|answer| answer.version).unwrap();
    let token = last.consistency_token.as_deref().unwrap();
    let read = services
        .read(&format!("/v1/accounts/{account}?consistency={token}"))
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    let state = read.json::<Value>();
    assert_eq!(state["balance"], json!(0));
    // The refusals (recorded after the last acceptance) may already be in as well.
    let version = state["version"].as_u64().unwrap();
    assert!((102..=202).contains(&version), "version {version}");

    // The log: the balance over the valid events never goes negative and ends at 0, the
    // valid withdrawals are exactly the accepted commands and the recorded refusals exactly
    // the refused ones.
    let records = account_records(&services.pipeline, account);
    let mut balance = 0;
    let mut withdrawals = BTreeSet::new();
    let mut refusals = BTreeSet::new();
    for record in valid(&records) {
        match &record.event {
            AccountEvent::Opened(_) => {}
            AccountEvent::Deposited(deposited) => balance += deposited.amount,
            AccountEvent::Withdrawn(withdrawn) => {
                balance -= withdrawn.amount;
                withdrawals.insert(record.headers.command_id.clone());
            }
            AccountEvent::CommandRefused(_) => {
                refusals.insert(record.headers.command_id.clone());
            }
            other => panic!("unexpected event {other:?}"),
        }
        assert!(balance >= 0, "negative balance at offset {}", record.offset);
    }
    assert_eq!(
        balance,
        0,
        "balance over the valid events; the records (offset, version, command):\n{:?}",
        records
            .iter()
            .map(|r| (r.offset, r.headers.aggregate_version, &r.headers.command_id))
            .collect::<Vec<_>>()
    );
    let accepted_ids: BTreeSet<String> = accepted
        .iter()
        .map(|answer| answer.command_id.to_string())
        .collect();
    assert_eq!(withdrawals, accepted_ids);
    let rejected_ids: BTreeSet<String> = rejected
        .iter()
        .map(|answer| answer.command_id.to_string())
        .collect();
    assert_eq!(refusals, rejected_ids);
    services.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_registrations_of_one_address_register_exactly_one() {
    let services =
        Services::start("registrations", &[("COMMAND_TIMEOUT_MS", BURST_TIMEOUT_MS)]).await;
    let address = "ann@example.org";
    let spellings = [
        "ann@example.org",
        "Ann@Example.org",
        "  ann@example.org ",
        "ANN@EXAMPLE.ORG",
        "\tAnn@example.ORG\n",
    ];
    let mut requests = JoinSet::new();
    for i in 0..50 {
        let gateway = HttpClient::new(services.producer.http).with_timeout(BURST_CLIENT_TIMEOUT);
        let user_id = format!("user-{i}");
        let body = json!({"aggregate": "user", "id": user_id,
                          "command": {"type": "RequestUserRegistration", "email": spellings[i % spellings.len()],
                                      "display_name": format!("User {i}")}});
        requests.spawn(async move {
            let response = gateway.post_json(COMMANDS, &body).await;
            (user_id, response)
        });
    }
    // Every request is accepted by its own user; the address is decided afterwards.
    let mut tokens = BTreeMap::new();
    while let Some(joined) = requests.join_next().await {
        let (user_id, response) = joined.unwrap();
        let response = response.unwrap();
        assert_eq!(response.status, 200, "{user_id}: {response:?}");
        let answer: CommandAccepted = serde_json::from_str(&response.body).unwrap();
        let event = answer.event.expect("the request's event");
        assert_eq!(
            event.event_type,
            "tributary.bank.user.UserRegistrationRequested"
        );
        tokens.insert(user_id, answer.consistency_token.expect("a token"));
    }

    // Each request's token reads that user on the users route, on the first read: the request
    // is there, with the normalized address, whether or not its claim was decided yet.
    for (user_id, token) in &tokens {
        let read = services
            .read(&format!("/v1/users/{user_id}?consistency={token}"))
            .await;
        assert_eq!(read.status, 200, "{user_id} with {token}: {}", read.body);
        let user = read.json::<Value>();
        let status = user["status"].as_str().unwrap_or_default().to_owned();
        match status.as_str() {
            "registering" => assert_eq!(user["pending_email"], json!(address), "{user}"),
            "registered" => assert_eq!(user["email"], json!(address), "{user}"),
            "not_registered" => assert!(
                user["refusal"]
                    .as_str()
                    .is_some_and(|refusal| refusal.contains("already taken")),
                "{user}"
            ),
            _ => panic!("unexpected status: {user}"),
        }
    }

    // The saga decides every request: one user is registered, every other one is told why not.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pool = services.pipeline.pool().await;
    let users: Vec<(String, String, Option<String>, Option<String>)> = loop {
        let users = sqlx::query_as(
            "SELECT user_id, status, email, refusal FROM users WHERE status <> 'registering' ORDER BY user_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        if users.len() == 50 {
            break users;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 50 registrations were decided within 30 s:\n{}",
            users.len(),
            services.producer.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let registered: Vec<&String> = users
        .iter()
        .filter(|(_, status, email, _)| status == "registered" && email.as_deref() == Some(address))
        .map(|(id, ..)| id)
        .collect();
    assert_eq!(registered.len(), 1, "{users:?}");
    let taken = format!("e-mail address {address} is already taken");
    for (id, status, email, refusal) in &users {
        if id != registered[0] {
            assert_eq!(
                (status.as_str(), email, refusal.as_deref()),
                ("not_registered", &None, Some(taken.as_str())),
                "{id}"
            );
        }
    }
    let holder = services.read("/v1/users/by-email/ANN@Example.org").await;
    assert_eq!(holder.status, 200, "{}", holder.body);
    assert_eq!(holder.json::<Value>()["user_id"], json!(registered[0]));
    services.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_command_id_gets_one_event_and_the_first_answer_also_after_a_processor_kill() {
    // Both outcomes are pinned: an accepted deposit, and a withdrawal refused for lack of funds
    // that would succeed if it were decided again after the restart (funds arrive meanwhile).
    // The restarted process takes the killed one's place in the consumer groups as the same
    // static member (group.instance.id), as a restarted pod would, and gets its assignment
    // back at once; as a new member its join would start a rebalance that waits for the
    // dead member's session (librdkafka's default, 45 s) to end. The test is about the state
    // the new process rebuilds, not about how fast a group notices a dead member.
    let member = unique_name("producer-member");
    let mut services = Services::start("repeat", &[("KAFKA_GROUP_INSTANCE_ID", &member)]).await;
    let account = "acc-r";
    services.accepted(&open_account(account)).await;
    let command_id = Uuid::new_v4();
    let body = deposit(command_id, account, 250);
    let first = services.command(&body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    for _ in 0..4 {
        let again = services.command(&body).await;
        assert_eq!(
            (again.status, again.body.as_str()),
            (200, first.body.as_str())
        );
        assert_eq!(
            again.header("x-command-id"),
            Some(command_id.to_string().as_str())
        );
    }
    let events_of = |records: &[EventRecord]| {
        records
            .iter()
            .filter(|record| record.headers.command_id == command_id.to_string())
            .count()
    };
    assert_eq!(events_of(&account_records(&services.pipeline, account)), 1);
    let refused_id = Uuid::new_v4();
    let refused_body = withdraw(refused_id, account, 1_000);
    let refused = services.command(&refused_body).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let again = services.command(&refused_body).await;
    assert_eq!(
        (again.status, again.body.as_str()),
        (409, refused.body.as_str())
    );

    services.producer.kill();
    services.producer = start_producer(&services.pipeline, "all", &services.producer_extra).await;
    // Until the restarted processor owns the partition the gateway may time out; retrying
    // with the same command ID is the documented answer to that, and safe.
    let deadline = Instant::now() + Duration::from_secs(90);
    let after = loop {
        let response = services.command(&body).await;
        if response.status != 504 || Instant::now() >= deadline {
            break response;
        }
    };
    assert_eq!(
        (after.status, after.body.as_str()),
        (200, first.body.as_str()),
        "the first answer after the restart"
    );
    assert_eq!(events_of(&account_records(&services.pipeline, account)), 1);
    services
        .accepted(&deposit(Uuid::new_v4(), account, 5_000))
        .await;
    let refused_after = services.command(&refused_body).await;
    assert_eq!(
        (refused_after.status, refused_after.body.as_str()),
        (409, refused.body.as_str()),
        "the refusal, repeated after the restart and a deposit that would cover it"
    );
    let refusals = account_records(&services.pipeline, account)
        .into_iter()
        .filter(|record| record.headers.command_id == refused_id.to_string())
        .count();
    assert_eq!(refusals, 1, "one recorded refusal");
    services.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_token_reads_the_state_including_the_command() {
    let services = Services::start("token", &[]).await;
    let account = "acc-t";
    services.accepted(&open_account(account)).await;
    let topic = services.pipeline.topology.events("account");
    let partition = partition_for_key(account.as_bytes(), PARTITIONS);
    let mut balance = 0;
    for (i, amount) in [120, 5, 1000, 33, 7].into_iter().enumerate() {
        let answer = services
            .accepted(&deposit(Uuid::new_v4(), account, amount))
            .await;
        balance += amount;
        let event = answer.event.unwrap();
        let token = answer.consistency_token.unwrap();
        assert_eq!(token, format!("{topic}:{partition}:{}", event.offset));
        let read = services
            .read(&format!("/v1/accounts/{account}?consistency={token}"))
            .await;
        assert_eq!(read.status, 200, "{}", read.body);
        let state = read.json::<Value>();
        assert_eq!(state["balance"], json!(balance), "after deposit {i}");
        assert_eq!(state["version"], json!(answer.version));
    }
    services.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_the_documented_status_codes_against_the_real_processor() {
    let services = Services::start("statuses", &[("COMMAND_BODY_LIMIT_BYTES", "1024")]).await;
    let account = "acc-s";
    let command_id_of =
        |response: &HttpResponse| response.header("x-command-id").map(str::to_owned);

    // 200: accepted, with where the event is.
    let open_id = Uuid::new_v4();
    let mut open = open_account(account);
    open["command_id"] = json!(open_id);
    let response = services.command(&open).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(command_id_of(&response), Some(open_id.to_string()));
    let accepted: CommandAccepted = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        (
            accepted.aggregate.as_str(),
            accepted.id.as_str(),
            accepted.version
        ),
        ("account", account, 1)
    );
    let event = accepted.event.as_ref().unwrap();
    assert_eq!(event.event_type, "tributary.bank.account.AccountOpened");
    assert_eq!(accepted.consistency_token, Some(event.consistency_token()));

    // 409: refused by the domain, with the reason.
    let withdraw_id = Uuid::new_v4();
    let response = services.command(&withdraw(withdraw_id, account, 5)).await;
    assert_eq!(response.status, 409, "{}", response.body);
    assert_eq!(command_id_of(&response), Some(withdraw_id.to_string()));
    let rejected: CommandRejected = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        rejected,
        CommandRejected {
            command_id: withdraw_id,
            aggregate: "account".into(),
            id: account.into(),
            reason: "insufficient funds: balance 0, withdrawal 5".into(),
        }
    );

    // 422: a member of the wrong shape, named.
    let response = services
        .command(&deposit(Uuid::new_v4(), account, -5))
        .await;
    assert_eq!(response.status, 422, "{}", response.body);
    let error: ErrorBody = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        error,
        ErrorBody {
            error: "command.amount: expected a positive whole number, got -5".into(),
            field: Some("command.amount".into()),
        }
    );

    // 400: not JSON.
    let response = http::post(
        services.producer.http,
        COMMANDS,
        "application/json",
        br#"{"aggregate": "account", "id": "#,
    )
    .await
    .unwrap();
    assert_eq!(response.status, 400, "{}", response.body);
    let error: ErrorBody = serde_json::from_str(&response.body).unwrap();
    assert!(
        error.error.starts_with("request body is not valid JSON: "),
        "{error:?}"
    );
    assert_eq!(error.field, None);

    // 413: over COMMAND_BODY_LIMIT_BYTES.
    let mut large = deposit(Uuid::new_v4(), account, 5);
    large["command"]["reference"] = json!("x".repeat(2000));
    let response = services.command(&large).await;
    assert_eq!(response.status, 413, "{}", response.body);
    let error: ErrorBody = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        error.error,
        "request body exceeds the limit of 1024 bytes; a command request is a small JSON object: send one command per request"
    );

    // The refused requests wrote nothing: the commands topic holds the two decided commands.
    let commands = services.pipeline.topology.commands();
    let written: i64 = services.pipeline.end_offsets(&commands).values().sum();
    assert_eq!(written, 2, "records in {commands}");
    services.finish().await;

    // 504: a gateway whose commands no processor reads.
    let idle = TestPipeline::create("no-processor", PARTITIONS).await;
    let gateway = start_producer(&idle, "gateway", &owned(&[("COMMAND_TIMEOUT_MS", "500")])).await;
    let command_id = Uuid::new_v4();
    let response = http::post_json(gateway.http, COMMANDS, &deposit(command_id, account, 5))
        .await
        .unwrap();
    assert_eq!(response.status, 504, "{}", response.body);
    assert_eq!(command_id_of(&response), Some(command_id.to_string()));
    let error: ErrorBody = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        error,
        ErrorBody::new(format!(
            "no reply to command {command_id} within 500 ms; the command may still be applied: retrying with the same command_id {command_id} is safe (a repeated command ID gets the first outcome and writes nothing new)"
        ))
    );
    let written: i64 = idle.end_offsets(&idle.topology.commands()).values().sum();
    assert_eq!(written, 1, "the command was sent, only never answered");
}
