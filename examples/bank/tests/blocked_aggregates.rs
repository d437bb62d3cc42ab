//! The command side never decides on an aggregate whose log it cannot read, nor on the stale
//! state a snapshot holds for an aggregate the projector parked. Against the real broker,
//! PostgreSQL and projector:
//! - a record of this build's contract that the read model refuses (an overdraft written by
//!   another writer) parks its aggregate in the projector; a processor restarted afterwards
//!   rebuilds the aggregate from the log, not from the snapshot's state before the park;
//! - a record this build cannot decode at the aggregate's next version (a newer schema), or a
//!   keyed record without headers, blocks the aggregate: commands for it are refused, naming
//!   the record, and nothing is written — before and after a restart.
//!
//! In both, every accepted answer names a record that is valid under the version rule when
//! the partition is read from offset 0.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tributary_bank::records::account::{
    AccountCommand, AccountEvent, Deposit, OpenAccount, Withdraw, Withdrawn,
};
use tributary_producer::processor::partition::{Handled, PartitionProcessor};
use tributary_runtime::kafka::SourceRecord;
use tributary_runtime::partition_for_key;
use tributary_schemas::headers::EventHeaders;
use tributary_schemas::protocol::CommandOutcome;
use tributary_tests::bank_events::{
    GeneratedEvent, RawRecord, id_on_partition, produce, unknown_fingerprint,
};
use tributary_tests::command_side::projector_binary;
use tributary_tests::failures::parked_rows;
use tributary_tests::pipeline::{TestPipeline, wait_for_catch_up};
use tributary_tests::{BROKER_TIMEOUT, consumer, unique_name};

mod support;
use support::{account_command, command_side, handle};

const PRODUCER: &str = env!("CARGO_BIN_EXE_producer");
const PARTITIONS: i32 = 4;

/// Handles one command for `account` and returns the answer.
async fn send(
    processor: &mut PartitionProcessor,
    account: &str,
    command_id: &str,
    command: impl Into<AccountCommand>,
) -> Handled {
    let record = account_command(account, command_id, command, PARTITIONS);
    handle(processor, &record).await
}

fn open() -> OpenAccount {
    OpenAccount {
        owner_id: "ann".into(),
        currency: "EUR".into(),
    }
}

fn deposit(amount: i64) -> Deposit {
    Deposit {
        amount,
        reference: None,
    }
}

/// A record of `account` at `version` as another writer wrote it: headers of this contract,
/// and `value` as given.
fn foreign(account: &str, version: u64, event: AccountEvent, value: Option<Vec<u8>>) -> RawRecord {
    let mut record = RawRecord::of(&GeneratedEvent {
        aggregate_id: account.to_owned(),
        version,
        event,
        command_id: unique_name("foreign"),
        occurred_at: 1,
    });
    if value.is_some() {
        record.value = value;
    }
    record
}

/// The offsets of the records of `partition` that are valid under the version rule, read
/// from offset 0: per key, the first record carrying the next version. A keyed record without
/// readable headers may hold any version, so nothing after it is valid for its aggregate.
fn valid_offsets(pipeline: &TestPipeline, partition: i32) -> Vec<i64> {
    let topic = pipeline.topology.events("account");
    let end = pipeline.end_offsets(&topic)[&partition];
    let reader = consumer(&unique_name("judge"), &[]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, partition, Offset::Beginning)
        .unwrap();
    reader.assign(&assignment).unwrap();
    let mut versions: HashMap<String, Option<u64>> = HashMap::new();
    let mut valid = Vec::new();
    let mut next = 0;
    tributary_tests::wait_until(BROKER_TIMEOUT, "the events partition read", || {
        while let Some(message) = reader.poll(Duration::from_millis(200)) {
            let record = SourceRecord::from_message(&message.unwrap());
            next = record.offset + 1;
            let Some(id) = record.aggregate_id() else {
                continue;
            };
            let version = versions.entry(id.to_owned()).or_insert(Some(0));
            match (EventHeaders::parse(record.header_pairs()), *version) {
                (Ok(headers), Some(v)) if headers.aggregate_version == v + 1 => {
                    *version = Some(v + 1);
                    valid.push(record.offset);
                }
                (Ok(_), _) => {}
                (Err(_), _) => *version = None,
            }
        }
        next >= end
    });
    valid
}

/// Asserts that every accepted answer of `answers` names a valid record.
fn assert_backed_by_the_log(pipeline: &TestPipeline, partition: i32, answers: &[&Handled]) {
    let valid = valid_offsets(pipeline, partition);
    for handled in answers {
        if handled.reply.outcome != CommandOutcome::Accepted {
            continue;
        }
        let event = handled.reply.event.as_ref().expect("an accepted event");
        assert!(
            valid.contains(&event.offset),
            "command {} was accepted with the record at offset {} (version {}), which is void \
             under the version rule; valid records: {valid:?}",
            handled.reply.command_id,
            event.offset,
            event.version
        );
    }
}

/// Runs the projector until it has committed the account events topic to its end.
async fn project(pipeline: &TestPipeline) {
    let topic = pipeline.topology.events("account");
    let ends: BTreeMap<i32, i64> = pipeline.end_offsets(&topic);
    let projector = pipeline.start_projector(&projector_binary(PRODUCER), &[]);
    let pool = pipeline.pool().await;
    wait_for_catch_up(&pool, "bank", &topic, &ends, Duration::from_secs(60)).await;
    drop(projector);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_aggregate_is_rebuilt_from_the_log_not_from_the_state_before_its_park() {
    let pipeline = TestPipeline::create("parked-snapshot", PARTITIONS).await;
    let shared = command_side(&pipeline).await;
    let account = "acc-1";
    let partition = partition_for_key(account.as_bytes(), PARTITIONS);
    let mut processor = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();
    let opened = send(&mut processor, account, "c-open", open()).await;
    let funded = send(&mut processor, account, "c-deposit", deposit(100)).await;
    // Another writer takes version 3 with a withdrawal the read model refuses (the balance
    // would be -50): the log holds it as valid, so the projector parks the aggregate there.
    let overdraft = foreign(account, 3, Withdrawn { amount: 150 }.into(), None);
    produce(
        &shared.producer,
        &pipeline.topology.events("account"),
        &[overdraft],
    )
    .await;
    let topped_up = send(&mut processor, account, "c-top-up", deposit(80)).await;
    assert_eq!(
        (topped_up.reply.outcome, topped_up.reply.version),
        (CommandOutcome::Accepted, 4),
        "the processor folds the other writer's version 3"
    );
    drop(processor);
    project(&pipeline).await;
    let parked = parked_rows(&pipeline.pool().await, "bank").await;
    assert!(
        parked.contains_key(account),
        "the projector parked {account}: {parked:?}"
    );

    // The snapshot holds acc-1 at version 2 with 100; the log says version 4 with 30.
    let mut restarted = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();
    let withdrawal = send(
        &mut restarted,
        account,
        "c-withdraw",
        Withdraw { amount: 100 },
    )
    .await;
    assert_eq!(
        withdrawal.reply.outcome,
        CommandOutcome::Rejected,
        "{withdrawal:?}"
    );
    assert_eq!(
        withdrawal.reply.reason.as_deref(),
        Some("insufficient funds: balance 30, withdrawal 100")
    );
    let small = send(&mut restarted, account, "c-small", Withdraw { amount: 30 }).await;
    assert_eq!(
        (small.reply.outcome, small.reply.version),
        (CommandOutcome::Accepted, 6)
    );
    assert_backed_by_the_log(
        &pipeline,
        partition,
        &[&opened, &funded, &topped_up, &withdrawal, &small],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_this_build_cannot_read_blocks_its_aggregate_also_after_a_restart() {
    let pipeline = TestPipeline::create("blocked", PARTITIONS).await;
    let shared = command_side(&pipeline).await;
    let newer = "acc-2";
    let partition = partition_for_key(newer.as_bytes(), PARTITIONS);
    // A second aggregate on the same partition, blocked by a keyed record without headers.
    let junk = id_on_partition("acc-junk", partition, PARTITIONS);
    let mut processor = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();
    let mut answers = vec![
        send(&mut processor, newer, "n-open", open()).await,
        send(&mut processor, &junk, "j-open", open()).await,
    ];
    let placeholder = Withdrawn { amount: 1 }.into();
    let mut headerless = foreign(
        &junk,
        2,
        Withdrawn { amount: 1 }.into(),
        Some(b"junk".to_vec()),
    );
    headerless.headers.clear();
    let blockers = [
        foreign(newer, 2, placeholder, Some(unknown_fingerprint())),
        headerless,
    ];
    let events = pipeline.topology.events("account");
    let written = produce(&shared.producer, &events, &blockers).await;
    let blocked_at = written[0].1;
    let mut ends = Vec::new();

    for round in ["before a restart", "after a restart"] {
        for (account, at) in [(newer, Some(blocked_at)), (junk.as_str(), None)] {
            let refused = send(
                &mut processor,
                account,
                &unique_name("blocked-deposit"),
                deposit(5),
            )
            .await;
            let reason = refused.reply.reason.clone().unwrap_or_default();
            assert_eq!(
                refused.reply.outcome,
                CommandOutcome::Rejected,
                "{account} {round}: {refused:?}"
            );
            assert!(refused.reply.event.is_none(), "{refused:?}");
            let mut needles = vec![
                format!("{account} is blocked"),
                "A blocked aggregate".into(),
            ];
            needles.extend(at.map(|offset| format!("offset {offset}")));
            for needle in needles {
                assert!(
                    reason.contains(&needle),
                    "{account} {round}: {needle:?} missing from {reason:?}"
                );
            }
            answers.push(refused);
        }
        ends.push(pipeline.end_offsets(&events)[&partition]);
        drop(processor);
        project(&pipeline).await;
        processor = PartitionProcessor::start(Arc::clone(&shared), partition)
            .await
            .unwrap();
    }
    // Before the processor had read the blockers it could write a record at their version,
    // void under the version rule; once it knows them it writes nothing.
    assert_eq!(
        ends[0], ends[1],
        "a restarted processor wrote for a blocked aggregate"
    );
    let valid = valid_offsets(&pipeline, partition);
    assert!(
        valid.iter().all(|offset| *offset <= blocked_at),
        "a record after the blocking one is valid: {valid:?} (blocked at {blocked_at})"
    );
    let refs: Vec<&Handled> = answers.iter().collect();
    assert_backed_by_the_log(&pipeline, partition, &refs);
}
