//! Read-your-writes through the projector's read API, with the projector as a separate
//! process against the real broker and PostgreSQL: a read carrying the consistency token of
//! an event produced a moment ago answers, in one request, with the state that includes the
//! event; a token the projection never reaches is answered with 503 after the configured
//! bound, saying how far the projection got; a token of an event the projection dead-lettered
//! is a 409 naming the aggregate and the reason, never a 200 without the write; a user's
//! registration request reads on the users route with its token, and so does its denial; a
//! malformed token is a 400.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::Value;
use tributary_bank::records::account::{AccountEvent, AccountOpened, Deposited};
use tributary_bank::records::user::{UserEmailDenied, UserEvent, UserRegistrationRequested};
use tributary_schemas::protocol::CommandRefused;
use tributary_tests::bank_events::{AccountWorkload, RawRecord, produce, unknown_fingerprint};
use tributary_tests::pipeline::TestPipeline;
use tributary_tests::process::ServiceProcess;
use tributary_tests::producer;

const PROJECTOR: &str = env!("CARGO_BIN_EXE_projector");

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
        reference: Some(format!("ref-{amount}")),
    }
    .into()
}

/// Produces an AccountOpened and a Deposited of `amount` for `id`; returns the consistency
/// token of the deposit.
async fn open_and_deposit(
    workload: &mut AccountWorkload,
    topic: &str,
    id: &str,
    amount: i64,
) -> String {
    let first = workload.events.len();
    workload.push(id.to_owned(), opened(id), first);
    workload.push(id.to_owned(), deposit(amount), first + 1);
    let records: Vec<RawRecord> = workload.events[first..].iter().map(RawRecord::of).collect();
    let coordinates = produce(&producer(&[]), topic, &records).await;
    let (partition, offset) = coordinates[1];
    format!("{topic}:{partition}:{offset}")
}

/// The pipeline's projector, whose reads with a token wait at most `bound`, once ready.
async fn ready_projector(pipeline: &TestPipeline, bound: Duration) -> ServiceProcess {
    let bound = bound.as_millis().to_string();
    let mut projector =
        pipeline.start_projector(PROJECTOR, &[("READ_CONSISTENCY_TIMEOUT_MS", &bound)]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    projector
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_a_just_produced_event_reads_the_state_that_includes_it() {
    let bound = Duration::from_secs(10);
    let pipeline = TestPipeline::create("ryw", 2).await;
    let topic = pipeline.topology.events("account");
    let mut projector = ready_projector(&pipeline, bound).await;

    let mut workload = AccountWorkload::default();
    for (round, amount) in [125_i64, 310, 47].into_iter().enumerate() {
        let id = format!("{}-acc-{round}", pipeline.prefix);
        let token = open_and_deposit(&mut workload, &topic, &id, amount).await;
        let started = Instant::now();
        let (status, body) = projector
            .get(&format!("/v1/accounts/{id}?consistency={token}"))
            .await
            .unwrap()
            .status_and_body();
        let waited = started.elapsed();
        assert_eq!(status, 200, "GET with token {token}: {body}");
        assert!(
            waited < bound,
            "answered after {waited:?}, beyond the bound"
        );
        let account = json(&body);
        assert_eq!(account["account_id"], id.as_str(), "{body}");
        assert_eq!(account["balance"], amount, "{body}");
        assert_eq!(account["version"], 2, "{body}");
        assert_eq!(account["status"], "open", "{body}");
    }

    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pipeline.pool().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_reached_answers_503_within_the_bound() {
    let bound = Duration::from_millis(1000);
    let pipeline = TestPipeline::create("ryw", 2).await;
    let topic = pipeline.topology.events("account");
    let mut projector = ready_projector(&pipeline, bound).await;

    let mut workload = AccountWorkload::default();
    let id = format!("{}-acc-0", pipeline.prefix);
    let token = open_and_deposit(&mut workload, &topic, &id, 80).await;
    let (partition, offset) = {
        let mut parts = token.rsplit(':');
        let offset: i64 = parts.next().unwrap().parse().unwrap();
        let partition: i32 = parts.next().unwrap().parse().unwrap();
        (partition, offset)
    };
    // The projection has applied the deposit once a read of its token answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = projector
            .get(&format!("/v1/accounts/{id}?consistency={token}"))
            .await
            .unwrap()
            .status_and_body();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            Instant::now() < deadline,
            "the deposit was never applied: {body}"
        );
    }

    let wanted = 1_000_000_000_i64;
    let far = format!("{topic}:{partition}:{wanted}");
    let started = Instant::now();
    let answer = projector
        .get(&format!("/v1/accounts/{id}?consistency={far}"))
        .await
        .unwrap();
    let (status, body) = (answer.status, answer.body);
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(
        waited >= bound - Duration::from_millis(50),
        "answered after {waited:?}, before the bound of {bound:?}"
    );
    assert!(
        waited < bound + Duration::from_secs(2),
        "answered after {waited:?}, long after the bound of {bound:?}"
    );
    let answer = json(&body);
    assert_eq!(answer["wanted_offset"], wanted, "{body}");
    assert_eq!(answer["committed_next_offset"], offset + 1, "{body}");
    assert_eq!(answer["topic"], topic.as_str(), "{body}");
    assert_eq!(answer["partition"], partition, "{body}");
    assert_eq!(answer["projection"], "bank", "{body}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("retry")),
        "{body}"
    );

    for malformed in ["not-a-token", "t:x:1", "t:0:-1"] {
        let started = Instant::now();
        let (status, body) = projector
            .get(&format!("/v1/accounts/{id}?consistency={malformed}"))
            .await
            .unwrap()
            .status_and_body();
        assert_eq!(status, 400, "token {malformed}: {body}");
        assert!(
            started.elapsed() < bound,
            "a malformed token {malformed} was waited on"
        );
        let error = json(&body)["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains(malformed), "{body}");
    }

    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pipeline.pool().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_a_dead_lettered_event_is_refused_naming_the_aggregate() {
    let bound = Duration::from_secs(10);
    let pipeline = TestPipeline::create("ryw", 1).await;
    let topic = pipeline.topology.events("account");
    let mut projector = ready_projector(&pipeline, bound).await;

    // `parked` opens, then gets a record this build cannot decode (so it is parked), then a
    // deposit, which is dead-lettered behind it; `healthy` is deposited to after both.
    let parked = format!("{}-parked", pipeline.prefix);
    let healthy = format!("{}-healthy", pipeline.prefix);
    let newer = RawRecord {
        key: Some(parked.as_bytes().to_vec()),
        value: Some(unknown_fingerprint()),
        headers: Vec::new(),
    };
    let records = [
        RawRecord::at_version(&parked, 1, 1, &opened(&parked)),
        newer,
        RawRecord::at_version(&parked, 3, 3, &deposit(40)),
        RawRecord::at_version(&healthy, 1, 4, &opened(&healthy)),
        RawRecord::at_version(&healthy, 2, 5, &deposit(70)),
    ];
    let coordinates = produce(&producer(&[]), &topic, &records).await;
    let token = |index: usize| {
        let (partition, offset) = coordinates[index];
        format!("{topic}:{partition}:{offset}")
    };

    // The healthy account's write is read with its token, so the projection has passed the
    // parked account's records too.
    let (status, body) = projector
        .get(&format!("/v1/accounts/{healthy}?consistency={}", token(4)))
        .await
        .unwrap()
        .status_and_body();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["balance"], 70, "{body}");

    for (index, reason) in [(1, None), (2, Some("parked"))] {
        let (status, body) = projector
            .get(&format!(
                "/v1/accounts/{parked}?consistency={}",
                token(index)
            ))
            .await
            .unwrap()
            .status_and_body();
        assert_eq!(status, 409, "token {}: {body}", token(index));
        let answer = json(&body);
        assert_eq!(answer["aggregate_id"], parked.as_str(), "{body}");
        assert_eq!(answer["offset"], coordinates[index].1, "{body}");
        assert_eq!(answer["projection"], "bank", "{body}");
        if let Some(reason) = reason {
            assert_eq!(answer["reason"], reason, "{body}");
        }
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(&parked) && error.contains(".dlq"), "{body}");
    }
    // The token of the write before the failure still reads the account as it was then.
    let (status, body) = projector
        .get(&format!("/v1/accounts/{parked}?consistency={}", token(0)))
        .await
        .unwrap()
        .status_and_body();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["balance"], 0, "{body}");

    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pipeline.pool().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_request_and_its_denial_read_on_the_users_route_with_their_tokens() {
    let pipeline = TestPipeline::create("ryw", 1).await;
    let topic = pipeline.topology.events("user");
    let mut projector = ready_projector(&pipeline, Duration::from_secs(10)).await;
    let (user, stranger) = (
        format!("{}-ann", pipeline.prefix),
        format!("{}-nobody", pipeline.prefix),
    );
    let requested = UserEvent::from(UserRegistrationRequested {
        email: "ann@example.org".into(),
        display_name: "Ann".into(),
    });
    let denied = UserEvent::from(UserEmailDenied {
        email: "ann@example.org".into(),
        reason: "e-mail address ann@example.org is already taken".into(),
    });
    let refused = UserEvent::from(CommandRefused {
        command_type: "tributary.bank.user.RequestUserEmailChange".into(),
        reason: "not registered".into(),
    });
    let records = [
        RawRecord::at_version(&user, 1, 1, &requested),
        RawRecord::at_version(&user, 2, 2, &denied),
        RawRecord::at_version(&stranger, 1, 3, &refused),
    ];
    let coordinates = produce(&producer(&[]), &topic, &records).await;
    let token = |index: usize| {
        let (partition, offset) = coordinates[index];
        format!("{topic}:{partition}:{offset}")
    };

    let (status, body) = projector
        .get(&format!("/v1/users/{user}?consistency={}", token(0)))
        .await
        .unwrap()
        .status_and_body();
    assert_eq!(status, 200, "{body}");
    let view = json(&body);
    // The denial may already be applied too; the request is in either answer.
    assert!(
        view["status"] == "registering" && view["pending_email"] == "ann@example.org"
            || view["status"] == "not_registered",
        "{body}"
    );
    let (status, body) = projector
        .get(&format!("/v1/users/{user}?consistency={}", token(1)))
        .await
        .unwrap()
        .status_and_body();
    assert_eq!(status, 200, "{body}");
    let view = json(&body);
    assert_eq!(
        (&view["status"], &view["email"], &view["pending_email"]),
        (&"not_registered".into(), &Value::Null, &Value::Null),
        "{body}"
    );
    assert_eq!(
        view["refusal"],
        "e-mail address ann@example.org is already taken"
    );
    // A user ID that only had a command refused has no row.
    let (status, body) = projector
        .get(&format!("/v1/users/{stranger}?consistency={}", token(2)))
        .await
        .unwrap()
        .status_and_body();
    assert_eq!(status, 404, "{body}");

    projector
        .stop_gracefully(Duration::from_secs(30))
        .await
        .unwrap();
    pipeline.drop_schema(&pipeline.pool().await).await;
}
