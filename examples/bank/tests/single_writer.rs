//! The single-writer rule holds while processors are killed, restarted and frozen: with three
//! `producer processor` processes sharing the commands topic, SIGKILLed one at a time and
//! replaced again and again, and one frozen (SIGSTOP) past its session timeout while others
//! take its partitions, then woken (SIGCONT) to carry on as a zombie, the events topic ends
//! up exactly as a single writer per aggregate would have written it:
//!
//! - per aggregate, the valid records (the first record of each next version) have versions
//!   1..n and no record skips a version; records that lost a race are void and counted;
//! - every answer names a valid record of its own command (the event of an accepted one, the
//!   `CommandRefused` of a refused one), every valid record was caused by a command the test
//!   sent, at most one per command, and was answered, and repeated answers are identical;
//! - the projector's `accounts` and `account_ledger` equal the fold of the valid records,
//!   which never drives a balance below zero.
//!
//! Commands go straight to the commands topic with the test's own `reply-to`, and the replies
//! are read from the partition that routes them to: a command waits on the topic for whichever
//! processor owns it next, so kills cost no client time-outs. A command may be answered more
//! than once (a processor that crashed before committing it is followed by one that answers it
//! again); every answer of a command must be the same, refusals included, since a refusal is
//! recorded in the log like an acceptance.
//!
//! Kills land at random moments once the victim has decided commands, and the victim's
//! replacement starts right away: every process has a 6 s session timeout, so the rebalance
//! the replacement's join starts waits at most that long for the dead member and then assigns
//! every partition. The first kill is of the group's first member, which formed the group and
//! leads it; the later victims and the processor that is frozen are drawn with the test's
//! seeded generator (the frozen one is never killed). The freeze lands while the group is
//! stable, the moment the broker has taken a chunk of commands, so that the sleeper is most
//! likely frozen mid-round, with commands decided but not yet written or answered; one kill
//! lands during the freeze. The sleeper is woken only once the group, stable again, no longer
//! counts it as a member — its session expired and its partitions went to the others — and
//! the others have worked on its partitions for a few seconds: what it then writes loses its
//! version to theirs (void records, counted and printed).
//!
//! Size: 20,000 commands on 500 accounts, as the brief asks, sent at 200 a second (a chunk of
//! 200 every second) so that commands keep arriving for the whole run and every kill and the
//! freeze land mid-stream; the processors, which serve the commands waiting on a partition
//! in rounds, keep up with that rate on this 2-core machine.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use tributary_bank::records::account::{AccountCommand, Deposit, OpenAccount, Withdraw};
use tributary_schemas::Record;
use tributary_schemas::protocol::{CommandOutcome, CommandRefused, CommandReply};
use tributary_tests::bank_events::{Rng, read_accounts, read_ledger};
use tributary_tests::command_side::{
    CommandSender, ReplyCollector, SHORT_SESSION, SentCommand, fold_accounts, group_progress,
    projector_binary, read_events, start_producer, wait_for_progress, wait_until_counted,
    wait_until_expelled,
};
use tributary_tests::pipeline::{TestPipeline, wait_for_catch_up};
use tributary_tests::process::ServiceProcess;
use tributary_tests::unique_name;

const PRODUCER: &str = env!("CARGO_BIN_EXE_producer");
const PARTITIONS: i32 = 8;
const ACCOUNTS: u64 = 500;
/// Accounts that are never opened: every command to them is refused.
const GHOSTS: u64 = 10;
const COMMANDS: usize = 20_000;
const CHUNK: usize = 200;
const CHUNK_EVERY: Duration = Duration::from_millis(1_000);
/// Processors in the group.
const PROCESSORS: usize = 3;
/// Kills before the freeze and after it (one more happens during it).
const KILLS_BEFORE: usize = 2;
const KILLS_AFTER: usize = 1;
const DECIDED: &str = tributary_producer::metrics::names::COMMANDS_TOTAL;

/// Random opens (repeated ones are refused), deposits and withdrawals (refused when larger
/// than the balance), and commands to accounts that were never opened.
fn workload(prefix: &str, seed: u64) -> Vec<SentCommand> {
    let mut rng = Rng::new(seed);
    let mut opened = HashSet::new();
    (0..COMMANDS)
        .map(|_| {
            let index = rng.below(ACCOUNTS + GHOSTS);
            let id = format!("{prefix}-acc-{index}");
            let command: AccountCommand = if index >= ACCOUNTS {
                Deposit {
                    amount: 1 + rng.below(100) as i64,
                    reference: None,
                }
                .into()
            } else if opened.insert(index) || rng.below(20) == 0 {
                OpenAccount {
                    owner_id: format!("owner-{index}"),
                    currency: "EUR".to_owned(),
                }
                .into()
            } else if rng.below(2) == 0 {
                Deposit {
                    amount: 1 + rng.below(1_000) as i64,
                    reference: None,
                }
                .into()
            } else {
                Withdraw {
                    amount: 1 + rng.below(1_500) as i64,
                }
                .into()
            };
            SentCommand::new(&id, command)
        })
        .collect()
}

fn processor(pipeline: &TestPipeline, instance: &str) -> ServiceProcess {
    start_producer(pipeline, PRODUCER, "processor", instance, &SHORT_SESSION)
}

/// Waits until `process` has decided commands of its own.
async fn wait_until_working(process: &ServiceProcess) {
    wait_until_counted(process, DECIDED, Duration::from_secs(90)).await;
}

/// A processor of the group, under the instance name that is also its Kafka client ID.
struct Member {
    name: String,
    process: ServiceProcess,
}

impl Member {
    fn start(pipeline: &TestPipeline, name: String) -> Self {
        let process = processor(pipeline, &name);
        Self { name, process }
    }
}

/// A random slot of `0..PROCESSORS` other than `spared`.
fn draw(rng: &mut Rng, spared: Option<usize>) -> usize {
    loop {
        let slot = rng.below(PROCESSORS as u64) as usize;
        if Some(slot) != spared {
            return slot;
        }
    }
}

/// SIGKILLs the member in `slot` at a random moment after it started deciding commands, and
/// starts its replacement in that slot right away.
async fn kill_and_replace(
    pipeline: &TestPipeline,
    members: &mut [Member],
    slot: usize,
    kills: &mut usize,
    rng: &mut Rng,
) {
    let victim = &mut members[slot];
    wait_until_working(&victim.process).await;
    tokio::time::sleep(Duration::from_millis(500 + rng.below(1_500))).await;
    victim.process.kill();
    *kills += 1;
    eprintln!("killed {} (slot {slot})", victim.name);
    *victim = Member::start(pipeline, format!("p{slot}-{kills}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_writer_holds_under_kills_and_a_paused_processor() {
    let started = Instant::now();
    let projector_path = projector_binary(PRODUCER);
    let pipeline = TestPipeline::create("single-writer", PARTITIONS).await;
    let pool = pipeline.pool().await;
    let reply_to = unique_name("client");
    let replies = ReplyCollector::start(&pipeline.topology, &reply_to);
    let commands = workload(&pipeline.prefix, 17);
    let sent_ids: Vec<String> = commands.iter().map(|c| c.command_id.clone()).collect();

    let mut projector = pipeline.start_projector(&projector_path, &[]);
    projector.wait_ready(Duration::from_secs(60)).await.unwrap();
    // The first member forms the group (it is ready once it has its first assignment) and
    // leads it.
    let mut members = vec![Member::start(&pipeline, "p0".to_owned())];
    members[0]
        .process
        .wait_ready(Duration::from_secs(60))
        .await
        .unwrap();
    for slot in 1..PROCESSORS {
        members.push(Member::start(&pipeline, format!("p{slot}")));
    }
    for member in &mut members {
        member
            .process
            .wait_ready(Duration::from_secs(60))
            .await
            .unwrap();
    }
    eprintln!("processors up after {:?}", started.elapsed());

    // How many chunks the broker has taken so far.
    let (chunk_sent, mut chunks_sent) = tokio::sync::watch::channel(0_usize);
    let sending = {
        let topology = pipeline.topology.clone();
        let reply_to = reply_to.clone();
        let commands = commands.clone();
        tokio::spawn(async move {
            let sender = CommandSender::new(&topology, Some(&reply_to));
            for (index, chunk) in commands.chunks(CHUNK).enumerate() {
                sender.send(chunk).await;
                chunk_sent.send_replace(index + 1);
                tokio::time::sleep(CHUNK_EVERY).await;
            }
        })
    };

    let group = format!("{}.processor", pipeline.prefix);
    let mut rng = Rng::new(99);
    let mut kills = 0;
    let progress = |what: &str, kills: usize| {
        eprintln!(
            "{what} ({kills} kills) after {:?}: {} answered",
            started.elapsed(),
            replies.answered(&sent_ids)
        );
    };
    let mut replaced = 0;
    for round in 0..KILLS_BEFORE {
        // The group's leader dies first; then any member may.
        replaced = if round == 0 { 0 } else { draw(&mut rng, None) };
        kill_and_replace(&pipeline, &mut members, replaced, &mut kills, &mut rng).await;
        progress("victim replaced", kills);
    }
    // The freeze, past the session timeout, with a kill during it. It lands once the last
    // replacement is at work (so the rebalance its join started is over and every member
    // holds partitions again), the moment the broker has taken a chunk: the sleeper is then
    // serving the chunk's commands (a round takes milliseconds, so a freeze at a random moment
    // would most likely find it idle). Once the group is stable without the sleeper, the
    // others own its partitions; they work on them for a while before the sleeper wakes up
    // still holding their commands, a zombie.
    wait_until_working(&members[replaced].process).await;
    let sleeper = draw(&mut rng, None);
    wait_until_working(&members[sleeper].process).await;
    chunks_sent.borrow_and_update();
    chunks_sent.changed().await.unwrap();
    members[sleeper].process.signal("STOP").unwrap();
    progress(&format!("{} frozen", members[sleeper].name), kills);
    let slot = draw(&mut rng, Some(sleeper));
    kill_and_replace(&pipeline, &mut members, slot, &mut kills, &mut rng).await;
    wait_until_expelled(&group, &members[sleeper].name, Duration::from_secs(60)).await;
    progress("sleeper expelled from the group", kills);
    wait_until_working(&members[slot].process).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    members[sleeper].process.signal("CONT").unwrap();
    progress("sleeper woken", kills);
    for _ in 0..KILLS_AFTER {
        let slot = draw(&mut rng, Some(sleeper));
        kill_and_replace(&pipeline, &mut members, slot, &mut kills, &mut rng).await;
        progress("victim replaced", kills);
    }
    sending.await.unwrap();
    eprintln!("all sent after {:?}", started.elapsed());
    wait_for_progress(
        "commands answered",
        Duration::from_secs(420),
        || async { (replies.answered(&sent_ids), sent_ids.len()) },
        || group_progress(&pipeline, &group, &pipeline.topology.commands()),
    )
    .await;
    eprintln!("all answered after {:?}", started.elapsed());

    // The log, judged as every reader judges it.
    let log = read_events(&pipeline, "account");
    eprintln!(
        "{} valid and {} void records after {:?}",
        log.valid.len(),
        log.void.len(),
        started.elapsed()
    );
    assert!(
        log.gaps.is_empty(),
        "records skip a version: {:?}",
        log.gaps
    );
    assert!(
        log.misplaced.is_empty(),
        "records on another partition than their key's: {:?}",
        log.misplaced
    );
    let sent: HashSet<&str> = sent_ids.iter().map(String::as_str).collect();
    let mut valid_by_command: HashMap<&str, (i32, i64)> = HashMap::new();
    for record in &log.valid {
        let command = record.headers.command_id.as_str();
        assert!(
            sent.contains(command),
            "valid record {}/{} was caused by command {command}, which nobody sent",
            record.partition,
            record.offset
        );
        let earlier = valid_by_command.insert(command, (record.partition, record.offset));
        assert!(
            earlier.is_none(),
            "command {command} caused two valid records: {earlier:?} and {}/{}",
            record.partition,
            record.offset
        );
    }

    // The answers: every answer names the valid record of its own command, and all answers
    // of one command are the same — also across kills, refusals included (they are recorded).
    let answers = replies.replies();
    let mut answered: BTreeMap<&str, &CommandReply> = BTreeMap::new();
    for (command, replies_to_command) in &answers {
        let first = &replies_to_command[0];
        for answer in replies_to_command {
            assert_eq!(
                (
                    &answer.outcome,
                    &answer.reason,
                    &answer.event,
                    answer.version
                ),
                (&first.outcome, &first.reason, &first.event, first.version),
                "command {command} was answered differently: {replies_to_command:?}"
            );
        }
        let event = first
            .event
            .as_ref()
            .unwrap_or_else(|| panic!("the answer to {command} names no event: {first:?}"));
        let record = log
            .valid_at(event.partition, event.offset)
            .unwrap_or_else(|| panic!("answer {first:?} names no valid record"));
        assert_eq!(&record.headers.command_id, command, "{first:?}");
        assert_eq!(record.headers.aggregate_version as i64, event.version);
        assert_eq!(record.headers.event_type, event.event_type);
        let refusal = record.headers.event_type == CommandRefused::FULL_NAME;
        assert_eq!(
            first.outcome == CommandOutcome::Rejected,
            refusal,
            "the outcome of {first:?} does not match its record"
        );
        answered.insert(command, first);
    }
    for command in valid_by_command.keys() {
        assert!(
            answered.contains_key(command),
            "command {command} has a valid record but no answer"
        );
    }
    let answered_twice = answers.values().filter(|a| a.len() > 1).count();

    // The read model, once the projector has caught up, is the fold of the valid records.
    let topic = pipeline.topology.events("account");
    let ends = pipeline.end_offsets(&topic);
    wait_for_catch_up(&pool, "bank", &topic, &ends, Duration::from_secs(120)).await;
    let (expected_accounts, expected_ledger) = fold_accounts(&log.valid);
    let accounts = read_accounts(&pool).await;
    assert_eq!(
        accounts.len(),
        expected_accounts.len(),
        "number of accounts"
    );
    for (id, row) in &expected_accounts {
        assert_eq!(accounts.get(id), Some(row), "account {id}");
    }
    assert!(
        read_ledger(&pool).await == expected_ledger,
        "the ledger differs from the fold of the valid records"
    );

    let accepted = answered
        .values()
        .filter(|a| a.outcome == CommandOutcome::Accepted)
        .count();
    eprintln!(
        "{} commands: {accepted} accepted, {} refused, {answered_twice} answered more than \
         once (identically); {} valid records, {} void (lost races); {kills} kills; done \
         after {:?}",
        COMMANDS,
        answered.len() - accepted,
        log.valid.len(),
        log.void.len(),
        started.elapsed()
    );
    for mut process in members.into_iter().map(|m| m.process).chain([projector]) {
        process.kill();
    }
    pipeline.drop_schema(&pool).await;
}
