//! The processor's partition against the real broker and PostgreSQL: one event per accepted
//! command, the first answer for a repeated command (also after a restart rebuilt the state
//! from the log), a zombie writer that loses the race for a version decides again instead of
//! answering from a stale state, and a command that changes nothing is answered from the log
//! as it is now (never from a stale book), with a consistency token.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tributary_bank::records::account::{AccountCommand, Deposit, OpenAccount, Withdraw};
use tributary_producer::processor::partition::PartitionProcessor;
use tributary_runtime::kafka::SourceRecord;
use tributary_runtime::partition_for_key;
use tributary_schemas::headers::EventHeaders;
use tributary_schemas::protocol::{CommandOutcome, CommandReply};
use tributary_tests::bank_events::id_on_partition;
use tributary_tests::pipeline::TestPipeline;
use tributary_tests::{BROKER_TIMEOUT, consumer, unique_name, wait_until};

mod support;
use support::{account_command, command_side, handle};
use tributary_bank::records::email_claim::{
    ClaimEmail, ClaimPurpose, EmailClaimCommand, ReleaseEmail,
};

const PARTITIONS: i32 = 4;

fn command_record(
    account: &str,
    command_id: &str,
    command: impl Into<AccountCommand>,
) -> SourceRecord {
    account_command(account, command_id, command, PARTITIONS)
}

/// A reply without its timestamp: what a client compares.
fn answer(reply: &CommandReply) -> CommandReply {
    CommandReply {
        replied_at: 0,
        ..reply.clone()
    }
}

/// (offset, version, command-id) of every record of the account's events partition.
fn event_records(
    pipeline: &TestPipeline,
    partition: i32,
    expected: usize,
) -> Vec<(i64, u64, String)> {
    let reader = consumer(&unique_name("events"), &[]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(
            &pipeline.topology.events("account"),
            partition,
            Offset::Beginning,
        )
        .unwrap();
    reader.assign(&assignment).unwrap();
    let mut records = Vec::new();
    wait_until(BROKER_TIMEOUT, "the events written", || {
        while let Some(message) = reader.poll(Duration::from_millis(200)) {
            let record = SourceRecord::from_message(&message.unwrap());
            let headers = EventHeaders::parse(record.header_pairs()).unwrap();
            records.push((record.offset, headers.aggregate_version, headers.command_id));
        }
        records.len() >= expected
    });
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_per_accepted_command_and_repeats_get_the_first_answer_also_after_a_restart() {
    let pipeline = TestPipeline::create("processor", PARTITIONS).await;
    let shared = command_side(&pipeline).await;
    let account = "acc-1";
    let partition = partition_for_key(account.as_bytes(), PARTITIONS);
    let mut processor = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();

    let open = handle(
        &mut processor,
        &command_record(
            account,
            "c-open",
            OpenAccount {
                owner_id: "ann".into(),
                currency: "EUR".into(),
            },
        ),
    )
    .await;
    assert_eq!(open.reply.outcome, CommandOutcome::Accepted);
    assert_eq!(open.reply.version, 1);
    let deposit_record = command_record(
        account,
        "c-deposit",
        Deposit {
            amount: 100,
            reference: None,
        },
    );
    let deposit = handle(&mut processor, &deposit_record).await;
    assert_eq!(
        (deposit.reply.outcome, deposit.reply.version),
        (CommandOutcome::Accepted, 2)
    );
    let event = deposit.reply.event.clone().expect("the deposit's event");
    assert_eq!(event.event_type, "tributary.bank.account.Deposited");
    assert_eq!(
        (event.topic.as_str(), event.partition, event.version),
        (pipeline.topology.events("account").as_str(), partition, 2)
    );

    let withdraw_record = command_record(account, "c-withdraw", Withdraw { amount: 500 });
    let refused = handle(&mut processor, &withdraw_record).await;
    assert_eq!(refused.reply.outcome, CommandOutcome::Rejected);
    assert_eq!(
        refused.reply.version, 3,
        "the refusal is recorded at the next version"
    );
    assert_eq!(
        refused.reply.reason.as_deref(),
        Some("insufficient funds: balance 100, withdrawal 500")
    );

    for _ in 0..4 {
        let again = handle(&mut processor, &deposit_record).await;
        assert!(again.duplicate);
        assert_eq!(answer(&again.reply), answer(&deposit.reply));
    }
    drop(processor);

    // A new owner rebuilds from the log and answers the repeat exactly as the first time.
    let mut restarted = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();
    let after_restart = handle(&mut restarted, &deposit_record).await;
    assert!(after_restart.duplicate);
    assert_eq!(answer(&after_restart.reply), answer(&deposit.reply));
    let refused_after_restart = handle(&mut restarted, &withdraw_record).await;
    assert!(refused_after_restart.duplicate);
    assert_eq!(answer(&refused_after_restart.reply), answer(&refused.reply));

    let records = event_records(&pipeline, partition, 3);
    let versions: Vec<(u64, &str)> = records.iter().map(|(_, v, c)| (*v, c.as_str())).collect();
    assert_eq!(
        versions,
        vec![(1, "c-open"), (2, "c-deposit"), (3, "c-withdraw")],
        "exactly one record per decided command, the refusal included"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_that_loses_the_race_for_a_version_decides_again_on_the_log() {
    let pipeline = TestPipeline::create("zombie", PARTITIONS).await;
    let shared = command_side(&pipeline).await;
    let account = "acc-z";
    let partition = partition_for_key(account.as_bytes(), PARTITIONS);
    // Both believe they own the partition; the zombie's view is the one of its start.
    let mut owner = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();
    let mut zombie = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();

    handle(
        &mut owner,
        &command_record(
            account,
            "open",
            OpenAccount {
                owner_id: "o".into(),
                currency: "EUR".into(),
            },
        ),
    )
    .await;
    // The zombie has not seen the opening: it refuses the deposit on its stale state, writes
    // the refusal at version 1, finds the opening there on reading back, and decides again.
    let first = handle(
        &mut zombie,
        &command_record(
            account,
            "z-1",
            Deposit {
                amount: 10,
                reference: None,
            },
        ),
    )
    .await;
    assert_eq!(
        (first.reply.outcome, first.reply.version),
        (CommandOutcome::Accepted, 2)
    );
    assert!(
        first.conflicts >= 1,
        "the zombie's stale refusal must have lost the race for version 1"
    );

    // Now the owner (stale at version 1) writes version 2 again and loses the race.
    let second = handle(
        &mut owner,
        &command_record(
            account,
            "o-2",
            Deposit {
                amount: 5,
                reference: None,
            },
        ),
    )
    .await;
    assert_eq!(
        (second.reply.outcome, second.reply.version),
        (CommandOutcome::Accepted, 3)
    );
    assert!(
        second.conflicts >= 1,
        "the owner must have lost the race for version 2"
    );

    // The log: valid versions 1, 2, 3 in order, plus the zombie's void refusal at version 1
    // and the owner's void second version 2.
    let records = event_records(&pipeline, partition, 5);
    let mut version = 0;
    let mut valid = Vec::new();
    for (offset, v, command) in &records {
        if *v == version + 1 {
            version = *v;
            valid.push((*offset, command.clone()));
        }
    }
    let commands: Vec<&str> = valid.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(commands, vec!["open", "z-1", "o-2"]);
    let second_event = second.reply.event.unwrap();
    assert_eq!(
        valid[2].0, second_event.offset,
        "the accepted answer points at the valid record"
    );
    assert_eq!(records.len(), 5, "one void record from each lost race");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_on_another_partition_than_its_key_places_it_is_refused_and_writes_nothing() {
    let pipeline = TestPipeline::create("misplaced", PARTITIONS).await;
    let shared = command_side(&pipeline).await;
    let account = "acc-misplaced";
    let placed = partition_for_key(account.as_bytes(), PARTITIONS);
    let wrong = (placed + 1) % PARTITIONS;
    // A direct producer on another partitioner (librdkafka's default is consistent_random,
    // CRC32) put the command on `wrong`: serving it there would make a second writer of the
    // aggregate, beside the owner of `placed`.
    let mut processor = PartitionProcessor::start(Arc::clone(&shared), wrong)
        .await
        .unwrap();
    let open = OpenAccount {
        owner_id: "ann".into(),
        currency: "EUR".into(),
    };
    let handled = handle(&mut processor, &command_record(account, "c-open", open)).await;
    assert_eq!(handled.reply.outcome, CommandOutcome::Rejected);
    assert_eq!(handled.reply.event, None);
    let reason = handled.reply.reason.unwrap_or_default();
    for part in [
        format!("commands partition {wrong}"),
        format!("partition {placed}"),
        "murmur2".to_owned(),
    ] {
        assert!(
            reason.contains(&part),
            "{part:?} not in the reason {reason:?}"
        );
    }
    // The processor writes before it answers: anything written would be below the ends.
    let ends = pipeline.end_offsets(&pipeline.topology.events("account"));
    assert!(
        ends.values().all(|end| *end == 0),
        "a misplaced command wrote to the events topic: {ends:?}"
    );
}

fn claim(email: &str, command_id: &str, user: &str) -> SourceRecord {
    let command = EmailClaimCommand::from(ClaimEmail {
        user_id: user.into(),
        purpose: ClaimPurpose::Registration,
        display_name: Some("Name".into()),
    });
    support::command_record("email-claim", email, command_id, &command, PARTITIONS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_changes_nothing_is_answered_from_the_log_as_it_is_now() {
    let pipeline = TestPipeline::create("unchanged", PARTITIONS).await;
    let shared = command_side(&pipeline).await;
    let email = "x@example.org";
    let partition = partition_for_key(email.as_bytes(), PARTITIONS);
    let mut zombie = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();
    let first = handle(&mut zombie, &claim(email, "c-1", "u1")).await;
    assert_eq!(first.reply.outcome, CommandOutcome::Accepted);

    // A new owner, which the zombie knows nothing of: u1 gives the address up, u2 takes it.
    let mut owner = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();
    let release = EmailClaimCommand::from(ReleaseEmail {
        user_id: "u1".into(),
    });
    let released = handle(
        &mut owner,
        &support::command_record("email-claim", email, "r-1", &release, PARTITIONS),
    )
    .await;
    assert_eq!(released.reply.outcome, CommandOutcome::Accepted);
    let taken = handle(&mut owner, &claim(email, "c-2", "u2")).await;
    assert_eq!(
        (taken.reply.outcome, taken.reply.version),
        (CommandOutcome::Accepted, 3)
    );

    // The zombie's book still says u1 holds the address; the log says u2 does.
    let again = handle(&mut zombie, &claim(email, "c-3", "u1")).await;
    assert_eq!(
        again.reply.outcome,
        CommandOutcome::Rejected,
        "u1's claim answered from a stale book: {:?}",
        again.reply
    );

    // The holder repeating its claim changes nothing, and the answer names the address's
    // latest valid record (the zombie's recorded refusal, which the owner has not read yet).
    let repeated = handle(&mut owner, &claim(email, "c-4", "u2")).await;
    assert_eq!(
        (repeated.reply.outcome, repeated.reply.version),
        (CommandOutcome::Accepted, 4)
    );
    let token = repeated.reply.event.expect("a consistency token");
    assert_eq!(
        Some(token),
        again.reply.event,
        "the token of the latest record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_id_used_for_another_aggregate_is_refused_and_writes_nothing() {
    let pipeline = TestPipeline::create("reused-id", PARTITIONS).await;
    let shared = command_side(&pipeline).await;
    let first = "acc-first";
    let partition = partition_for_key(first.as_bytes(), PARTITIONS);
    let second = id_on_partition("acc-second", partition, PARTITIONS);
    let mut processor = PartitionProcessor::start(Arc::clone(&shared), partition)
        .await
        .unwrap();
    let open = |owner: &str| OpenAccount {
        owner_id: owner.into(),
        currency: "EUR".into(),
    };
    let opened = handle(
        &mut processor,
        &command_record(first, "shared-id", open("a")),
    )
    .await;
    assert_eq!(opened.reply.outcome, CommandOutcome::Accepted);

    let reused = handle(
        &mut processor,
        &command_record(&second, "shared-id", open("b")),
    )
    .await;
    assert_eq!(
        reused.reply.outcome,
        CommandOutcome::Rejected,
        "{:?}",
        reused.reply
    );
    assert_eq!(
        reused.reply.reused_for.as_deref(),
        Some("account acc-first")
    );
    assert!(
        reused
            .reply
            .reason
            .as_deref()
            .unwrap()
            .contains("new command ID"),
        "{:?}",
        reused.reply
    );
    assert_eq!((reused.reply.version, reused.reply.event), (0, None));
    // Nothing was written: the second account opens with a fresh ID at version 1.
    let fresh = handle(
        &mut processor,
        &command_record(&second, "fresh-id", open("b")),
    )
    .await;
    assert_eq!(
        (fresh.reply.outcome, fresh.reply.version),
        (CommandOutcome::Accepted, 1)
    );
    // The first aggregate's repeat is still its own duplicate.
    let repeat = handle(
        &mut processor,
        &command_record(first, "shared-id", open("a")),
    )
    .await;
    assert!(repeat.duplicate);

    // Two uses of one ID in one batch, decided in one round before either is read back.
    let third = id_on_partition("acc-third", partition, PARTITIONS);
    let fourth = id_on_partition("acc-fourth", partition, PARTITIONS);
    let batch = [
        command_record(&third, "batch-id", open("c")),
        command_record(&fourth, "batch-id", open("d")),
    ];
    let answers = processor.handle_batch(&batch).await.unwrap();
    let answer_of = |id: &str| {
        answers
            .iter()
            .find(|handled| handled.reply.aggregate_id == id)
            .unwrap()
            .reply
            .clone()
    };
    assert_eq!(answer_of(&third).outcome, CommandOutcome::Accepted);
    let refused = answer_of(&fourth);
    assert_eq!(
        refused.reused_for,
        Some(format!("account {third}")),
        "{refused:?}"
    );
    assert_eq!(refused.event, None);
}
