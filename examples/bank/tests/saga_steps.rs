//! A saga runner that handles history again never takes a step twice, never passes a record
//! it cannot read for good, and leaves nothing claimed when a step is refused. Against the real broker, PostgreSQL, processor, saga runner
//! and projector, with `TRIBUTARY_RECENT_COMMANDS=4` on the command side (its window of command IDs):
//! - two transfers end (one completed, one failed and refunded); the saga runner is killed; 40
//!   refused withdrawals land on every account involved, pushing the steps' command IDs far
//!   out of the window; the processor is restarted from the projector's snapshot; the saga
//!   group is deleted (lost offsets: the runner starts again from offset 0) and a new runner
//!   re-sends every step. Each transfer still moved its money exactly once;
//! - a record of a transfer in a schema this build lacks (a newer build's) holds its
//!   partition: no step is taken for the records after it and the saga group's committed
//!   offset stays at it (also after a restart), so that a build that reads it handles it and
//!   what follows in the order of their causes; the other partition goes on;
//! - a registration asking for a taken address ends denied and releases nothing; a claim the
//!   user did not ask for (a stray step) is refused by the user and released again.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tributary_bank::records::account::{
    AccountCommand, AccountEvent, CloseAccount, Deposit, OpenAccount, Withdraw, Withdrawn,
};
use tributary_bank::records::email_claim::{
    ClaimEmail, ClaimPurpose, EmailClaimCommand, EmailClaimEvent,
};
use tributary_bank::records::transfer::{RequestTransfer, TransferCommand};
use tributary_bank::records::user::{RequestUserRegistration, UserCommand, UserEvent};
use tributary_schemas::RecordSet;
use tributary_schemas::protocol::CommandOutcome;
use tributary_tests::bank_events::{
    GeneratedEvent, RawRecord, id_on_partition, produce, unknown_fingerprint,
};
use tributary_tests::command_side::{
    CommandSender, Movements, ReplyCollector, SHORT_SESSION, SentCommand, committed_offsets,
    delete_group, fold_accounts, movements, projector_binary, read_events, start_producer,
    transfer_ends, wait_until_counted_to,
};
use tributary_tests::pipeline::{TestPipeline, wait_for_catch_up};
use tributary_tests::process::ServiceProcess;
use tributary_tests::{producer, unique_name};

const PRODUCER: &str = env!("CARGO_BIN_EXE_producer");
const PARTITIONS: i32 = 2;
/// The processor's window of command IDs per aggregate, far below the refusals in between.
const WINDOW: &str = "4";
/// Refused withdrawals per account between the transfers and the runner's replay.
const REFUSALS: usize = 40;
const READY: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(180);
const SAGA_SENT: &str = tributary_producer::metrics::names::SAGA_COMMANDS_SENT_TOTAL;

/// The processes and clients of one test.
struct Bank {
    pipeline: TestPipeline,
    replies: ReplyCollector,
    sender: CommandSender,
}

impl Bank {
    async fn create(name: &str) -> Self {
        let pipeline = TestPipeline::create(name, PARTITIONS).await;
        let reply_to = unique_name("client");
        let replies = ReplyCollector::start(&pipeline.topology, &reply_to);
        let sender = CommandSender::new(&pipeline.topology, Some(&reply_to));
        Self {
            pipeline,
            replies,
            sender,
        }
    }

    fn id(&self, name: &str) -> String {
        format!("{}-{name}", self.pipeline.prefix)
    }

    /// Starts `producer <role>` as `instance`, ready.
    async fn start(&self, role: &str, instance: &str) -> ServiceProcess {
        let env = [
            SHORT_SESSION[0],
            SHORT_SESSION[1],
            ("TRIBUTARY_RECENT_COMMANDS", WINDOW),
        ];
        let mut process = start_producer(&self.pipeline, PRODUCER, role, instance, &env);
        process.wait_ready(READY).await.unwrap();
        process
    }

    /// Sends `commands` and waits for their answers, which must be `expected`.
    async fn run(&self, commands: &[SentCommand], expected: CommandOutcome) {
        self.sender.send(commands).await;
        let ids: Vec<String> = commands.iter().map(|c| c.command_id.clone()).collect();
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.replies.answered(&ids) < ids.len() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {} commands answered within {WAIT:?}",
                self.replies.answered(&ids),
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let replies = self.replies.replies();
        for command in commands {
            let reply = &replies[&command.command_id][0];
            assert_eq!(reply.outcome, expected, "{command:?}: {reply:?}");
        }
    }

    /// Waits until every transfer of `ids` has a valid completed or failed event.
    async fn wait_ended(&self, ids: &[&String]) -> BTreeMap<String, (&'static str, bool)> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut log = read_events(&self.pipeline, "transfer");
            log.valid
                .retain(|record| ids.contains(&&record.aggregate_id));
            let ends = transfer_ends(&log);
            let ended = ids
                .iter()
                .all(|id| matches!(ends.get(id.as_str()), Some(("completed" | "failed", _))));
            if ended {
                return ends;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "transfers {ids:?} did not end within {WAIT:?}: {ends:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits until the saga group has committed the ends of both events topics and the
    /// processor group the end of the commands topic, with nothing written for 2 s after: the
    /// runner's repeats are all answered.
    async fn wait_settled(&self, saga_ahead_of: &BTreeMap<i32, i64>) {
        let pipeline = &self.pipeline;
        let prefix = &pipeline.prefix;
        let watched = [
            (
                format!("{prefix}.saga"),
                pipeline.topology.events("account"),
            ),
            (
                format!("{prefix}.saga"),
                pipeline.topology.events("transfer"),
            ),
            (format!("{prefix}.processor"), pipeline.topology.commands()),
        ];
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut quiet_since: Option<(Vec<BTreeMap<i32, i64>>, tokio::time::Instant)> = None;
        loop {
            let ends: Vec<BTreeMap<i32, i64>> = watched
                .iter()
                .map(|(_, topic)| pipeline.end_offsets(topic))
                .collect();
            let caught_up = watched.iter().zip(&ends).all(|((group, topic), end)| {
                let committed = committed_offsets(pipeline, group, topic);
                end.iter().all(|(partition, end)| {
                    let held = saga_ahead_of
                        .get(partition)
                        .filter(|_| topic.contains("transfer"));
                    let wanted = held.copied().unwrap_or(*end);
                    committed.get(partition).copied().unwrap_or(0) >= wanted
                })
            });
            let now = tokio::time::Instant::now();
            quiet_since = match quiet_since {
                Some((seen, since)) if caught_up && seen == ends => {
                    if now - since >= Duration::from_secs(2) {
                        return;
                    }
                    Some((seen, since))
                }
                _ if caught_up => Some((ends, now)),
                _ => None,
            };
            assert!(
                now < deadline,
                "the saga runner and processor did not settle within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

fn open(owner: &str) -> AccountCommand {
    OpenAccount {
        owner_id: owner.into(),
        currency: "EUR".into(),
    }
    .into()
}

fn deposit(amount: i64) -> AccountCommand {
    Deposit {
        amount,
        reference: None,
    }
    .into()
}

fn transfer(id: &str, source: &str, target: &str, amount: i64) -> SentCommand {
    let request = RequestTransfer {
        source_account_id: source.into(),
        target_account_id: target.into(),
        amount,
        currency: "EUR".into(),
    };
    SentCommand::new(id, TransferCommand::from(request))
}

/// What a transfer from `source` to `target` must have moved: a debit and a credit, or, when
/// `refunded`, a debit and its refund.
fn expected_movements(source: &str, target: &str, amount: i64, refunded: bool) -> Movements {
    let source = (source.to_owned(), amount);
    if refunded {
        Movements {
            debits: vec![source.clone()],
            credits: vec![],
            refunds: vec![source],
        }
    } else {
        Movements {
            debits: vec![source],
            credits: vec![(target.to_owned(), amount)],
            refunds: vec![],
        }
    }
}

/// The movements of transfer `id` (none when it moved nothing).
fn moved(by_transfer: &HashMap<String, Movements>, id: &str) -> Movements {
    by_transfer.get(id).cloned().unwrap_or_default()
}

/// The balances the valid account events fold to.
fn balances(bank: &Bank) -> BTreeMap<String, i64> {
    let (accounts, _) = fold_accounts(&read_events(&bank.pipeline, "account").valid);
    accounts
        .into_iter()
        .map(|(id, row)| (id, row.balance))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_that_handles_history_again_takes_no_step_twice() {
    let projector_path = projector_binary(PRODUCER);
    let bank = Bank::create("saga-repeats").await;
    let pipeline = &bank.pipeline;
    let pool = pipeline.pool().await;
    let mut projector = pipeline.start_projector(&projector_path, &[]);
    projector.wait_ready(READY).await.unwrap();
    let mut processor = bank.start("processor", "processor-0").await;
    let mut saga = bank.start("saga", "saga-0").await;

    let (a, b, closed) = (bank.id("acc-a"), bank.id("acc-b"), bank.id("acc-closed"));
    let setup = [
        SentCommand::new(&a, open("ann")),
        SentCommand::new(&a, deposit(1_000)),
        SentCommand::new(&b, open("bob")),
        SentCommand::new(&closed, open("cy")),
        SentCommand::new(&closed, AccountCommand::from(CloseAccount {})),
    ];
    bank.run(&setup, CommandOutcome::Accepted).await;
    let (completes, refunded) = (bank.id("t-completes"), bank.id("t-refunded"));
    let transfers = [
        transfer(&completes, &a, &b, 100),
        transfer(&refunded, &a, &closed, 50),
    ];
    bank.run(&transfers, CommandOutcome::Accepted).await;
    let ends = bank.wait_ended(&[&completes, &refunded]).await;
    assert_eq!(ends[&completes], ("completed", false));
    assert_eq!(ends[&refunded], ("failed", true));
    saga.kill();

    // Every account involved gets far more events than the processor remembers commands.
    let refusals: Vec<SentCommand> = [&a, &b, &closed]
        .into_iter()
        .flat_map(|id| {
            (0..REFUSALS)
                .map(|_| SentCommand::new(id, AccountCommand::from(Withdraw { amount: 1 << 40 })))
        })
        .collect();
    bank.run(&refusals, CommandOutcome::Rejected).await;
    // The processor's next books come from the projector's snapshot, past every step.
    let topic = pipeline.topology.events("account");
    let ends_now = pipeline.end_offsets(&topic);
    wait_for_catch_up(&pool, "bank", &topic, &ends_now, WAIT).await;
    processor.kill();
    let mut processor = bank.start("processor", "processor-1").await;

    // Lost offsets: the next runner handles both events topics again from offset 0.
    delete_group(&format!("{}.saga", pipeline.prefix), WAIT).await;
    let mut saga = bank.start("saga", "saga-1").await;
    // Both transfers' steps again: 4 of the completed one, 5 of the refunded one.
    wait_until_counted_to(&saga, SAGA_SENT, 9, WAIT).await;
    bank.wait_settled(&BTreeMap::new()).await;

    let by_transfer = movements(&read_events(pipeline, "account"));
    assert_eq!(
        moved(&by_transfer, &completes),
        expected_movements(&a, &b, 100, false),
        "money moved by {completes}"
    );
    assert_eq!(
        moved(&by_transfer, &refunded),
        expected_movements(&a, &closed, 50, true),
        "money moved by {refunded}"
    );
    let balances = balances(&bank);
    assert_eq!(balances[&a], 900, "{balances:?}");
    assert_eq!(balances[&b], 100, "{balances:?}");
    assert_eq!(balances[&closed], 0, "{balances:?}");
    let ends = transfer_ends(&read_events(pipeline, "transfer"));
    assert_eq!(ends[&completes], ("completed", false));
    assert_eq!(ends[&refunded], ("failed", true));

    for process in [&mut saga, &mut processor, &mut projector] {
        process.kill();
    }
    pipeline.drop_schema(&pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_a_newer_build_holds_its_partitions_steps_and_offset() {
    let bank = Bank::create("saga-hold").await;
    let pipeline = &bank.pipeline;
    let pool = pipeline.pool().await;
    let _processor = bank.start("processor", "processor-0").await;
    let mut saga = bank.start("saga", "saga-0").await;
    let (a, b) = (bank.id("acc-a"), bank.id("acc-b"));
    let setup = [
        SentCommand::new(&a, open("ann")),
        SentCommand::new(&a, deposit(1_000)),
        SentCommand::new(&b, open("bob")),
    ];
    bank.run(&setup, CommandOutcome::Accepted).await;

    // A transfer requested by a newer build: its first event is in a schema this one lacks.
    let newer = id_on_partition(&bank.id("t-newer"), 0, PARTITIONS);
    let mut record = RawRecord::of(&GeneratedEvent {
        aggregate_id: newer.clone(),
        version: 1,
        event: AccountEvent::Withdrawn(Withdrawn { amount: 1 }),
        command_id: unique_name("newer"),
        occurred_at: 1,
    });
    record.value = Some(unknown_fingerprint());
    let transfer_topic = pipeline.topology.events("transfer");
    let placed = produce(&producer(&[]), &transfer_topic, &[record]).await;
    assert_eq!(
        placed[0].0, 0,
        "the newer transfer's record is on partition 0"
    );
    let held_at = placed[0].1;

    // A later transfer on that partition waits (its debit would be taken out of the order of
    // causes); one on the other partition goes on.
    let (later, elsewhere) = (
        id_on_partition(&bank.id("t-later"), 0, PARTITIONS),
        id_on_partition(&bank.id("t-elsewhere"), 1, PARTITIONS),
    );
    let requests = [
        transfer(&later, &a, &b, 100),
        transfer(&elsewhere, &a, &b, 10),
    ];
    bank.run(&requests, CommandOutcome::Accepted).await;
    let ends = bank.wait_ended(&[&elsewhere]).await;
    assert_eq!(ends[&elsewhere], ("completed", false));
    let held = BTreeMap::from([(0, held_at)]);
    bank.wait_settled(&held).await;
    let saga_group = format!("{}.saga", pipeline.prefix);
    let committed = committed_offsets(pipeline, &saga_group, &transfer_topic);
    assert_eq!(
        committed.get(&0).copied(),
        Some(held_at),
        "the saga group must not commit past the record it cannot read (offset {held_at}); \
         the transfer partition ends at {:?}",
        pipeline.end_offsets(&transfer_topic)
    );
    let assert_later_waits = |bank: &Bank| {
        let by_transfer = movements(&read_events(&bank.pipeline, "account"));
        assert_eq!(
            moved(&by_transfer, &later),
            Movements::default(),
            "{later} moved money"
        );
    };
    assert_later_waits(&bank);

    // A restarted runner of the same build reads from the held record again and still waits.
    saga.kill();
    let saga = bank.start("saga", "saga-1").await;
    bank.wait_settled(&held).await;
    assert_later_waits(&bank);
    let balances = balances(&bank);
    assert_eq!((balances[&a], balances[&b]), (990, 10), "{balances:?}");
    drop(saga);
    pipeline.drop_schema(&pool).await;
}

fn register(user: &str, email: &str) -> SentCommand {
    let request = RequestUserRegistration {
        email: email.into(),
        display_name: format!("{user}'s name"),
    };
    SentCommand::new(user, UserCommand::from(request))
}

/// The valid events of `aggregate` of `aggregate_type`, once the last is one that `done`
/// accepts.
async fn history_until<E: RecordSet + std::fmt::Debug>(
    bank: &Bank,
    aggregate_type: &str,
    aggregate: &str,
    done: impl Fn(&E) -> bool,
) -> Vec<E> {
    let codec = tributary_bank::codec();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let history: Vec<E> = read_events(&bank.pipeline, aggregate_type)
            .valid
            .iter()
            .filter(|record| record.aggregate_id == aggregate)
            .map(|record| E::decode(&codec, &record.value).unwrap())
            .collect();
        if history.last().is_some_and(&done) {
            return history;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{aggregate_type} {aggregate} did not get there within {WAIT:?}: {history:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_address_is_denied_and_a_won_address_the_user_did_not_ask_for_is_released() {
    let bank = Bank::create("saga-refused").await;
    let pool = bank.pipeline.pool().await;
    let _processor = bank.start("processor", "processor-0").await;
    let _saga = bank.start("saga", "saga-0").await;
    let (ann, vic) = (bank.id("ann"), bank.id("vic"));
    let (first, second) = (
        format!("{ann}@first.example"),
        format!("{ann}@second.example"),
    );
    bank.run(&[register(&ann, &first)], CommandOutcome::Accepted)
        .await;
    history_until(&bank, "user", &ann, |event| {
        matches!(event, UserEvent::Registered(_))
    })
    .await;

    // Vic asks for Ann's address: the claim is refused and Vic's request ends denied, naming
    // the reason; nothing is released, so Ann keeps it.
    bank.run(&[register(&vic, &first)], CommandOutcome::Accepted)
        .await;
    let vics = history_until(&bank, "user", &vic, |event| {
        matches!(event, UserEvent::EmailDenied(_))
    })
    .await;
    assert!(
        matches!(vics.as_slice(), [UserEvent::RegistrationRequested(_), UserEvent::EmailDenied(d)] if d.reason.contains("already taken")),
        "{vics:?}"
    );
    let claim: Vec<EmailClaimEvent> = history_until(&bank, "email-claim", &first, |_| true).await;
    assert!(
        matches!(claim.as_slice(), [EmailClaimEvent::Claimed(c), EmailClaimEvent::ClaimRejected(r)] if c.user_id == ann && r.user_id == vic),
        "{claim:?}"
    );

    // A claim for a registration Ann never asked for (a stray step, sent straight to the
    // commands topic) wins a second address: Ann, registered already, refuses it, and the claim
    // must not stay hers.
    let stray = ClaimEmail {
        user_id: ann.clone(),
        purpose: ClaimPurpose::Registration,
        display_name: Some("Ann".into()),
    };
    let stray = SentCommand::new(&second, EmailClaimCommand::from(stray));
    bank.run(&[stray], CommandOutcome::Accepted).await;
    let history = history_until(&bank, "email-claim", &second, |event| {
        matches!(event, EmailClaimEvent::Released(_))
    })
    .await;
    assert!(
        matches!(history.as_slice(), [EmailClaimEvent::Claimed(_), EmailClaimEvent::Released(r)] if r.user_id == ann),
        "{history:?}"
    );
    let anns = history_until(&bank, "user", &ann, |_| true).await;
    assert!(
        matches!(anns.last(), Some(UserEvent::EmailRefused(r)) if r.email == second),
        "{anns:?}"
    );
    bank.pipeline.drop_schema(&pool).await;
}
