//! Properties of the bank domain over random histories: an account's balance never goes
//! negative, every refusal is recorded as one event that changes nothing, and the version
//! counts exactly the recorded events; replaying the recorded events
//! rebuilds the state; and the sagas, driven to quiet by a small in-memory engine, end every
//! transfer and conserve money, keep e-mail addresses unique, and bring every registration or change of address to an end.
//!
//! The in-memory engine mirrors what the producer and saga runner promise: one writer per
//! aggregate folding `Versioned` state, commands dropped when their ID was seen before, saga
//! reactions to every recorded event (accepted or refused), delivered in any order across the
//! aggregates whose events caused them but in order within one (as the saga runner sends one
//! events partition's steps, each after the previous was answered), and sometimes twice.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet, VecDeque};

use proptest::prelude::*;
use tributary_bank::account::{Account, AccountStatus};
use tributary_bank::email_claim::{EmailClaim, normalize_email};
use tributary_bank::records::account::{
    AccountCommand, AccountEvent, CloseAccount, CreditForTransfer, DebitForTransfer, Deposit,
    OpenAccount, RefundForTransfer, Withdraw,
};
use tributary_bank::records::email_claim::{ClaimEmail, ClaimPurpose};
use tributary_bank::records::transfer::RequestTransfer;
use tributary_bank::records::user::{RequestUserEmailChange, RequestUserRegistration};
use tributary_bank::sagas::BankSaga;
use tributary_bank::transfer::{Transfer, TransferStatus};
use tributary_bank::user::{User, UserStatus};
use tributary_bank::{BankCommand, BankEvent};
use tributary_domain::{
    Aggregate, RecordedDecision, Saga, Versioned, decide_recorded, refusal_reason,
};
use uuid::Uuid;

/// Amounts a caller might send: ordinary ones, the edges, and anything at all.
fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 1..1_000i64,
        1 => Just(0i64),
        1 => -1_000..0i64,
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => (i64::MAX - 1_000)..=i64::MAX,
        1 => any::<i64>(),
    ]
}

fn currency() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("EUR".to_owned()),
        1 => Just("USD".to_owned()),
        1 => Just("eur".to_owned()),
    ]
}

fn account_command() -> impl Strategy<Value = AccountCommand> {
    prop_oneof![
        (prop_oneof![Just("owner-1"), Just("")], currency()).prop_map(|(owner, currency)| {
            OpenAccount {
                owner_id: owner.to_owned(),
                currency,
            }
            .into()
        }),
        amount().prop_map(|amount| Deposit {
            amount,
            reference: None
        }
        .into()),
        amount().prop_map(|amount| Withdraw { amount }.into()),
        Just(CloseAccount {}.into()),
        (amount(), currency()).prop_map(|(amount, currency)| {
            DebitForTransfer {
                transfer_id: "t-1".into(),
                amount,
                currency,
            }
            .into()
        }),
        (amount(), currency()).prop_map(|(amount, currency)| {
            CreditForTransfer {
                transfer_id: "t-2".into(),
                source_account_id: "acc-2".into(),
                amount,
                currency,
            }
            .into()
        }),
        amount().prop_map(|amount| RefundForTransfer {
            transfer_id: "t-3".into(),
            amount,
            reason: "credit refused".into(),
        }
        .into()),
    ]
}

/// Folds `events` from the empty state, as a rebuild from the log does.
fn refold<A: Aggregate>(events: &[A::Event]) -> Versioned<A> {
    let mut versioned = Versioned::<A>::default();
    for event in events {
        versioned.apply(event);
    }
    versioned
}

proptest! {
    #[test]
    fn an_account_driven_by_any_commands_stays_sound(
        commands in prop::collection::vec(account_command(), 0..40)
    ) {
        let mut account = Versioned::<Account>::default();
        let mut recorded: Vec<AccountEvent> = Vec::new();
        for command in &commands {
            let before = account.clone();
            let decision = decide_recorded(&account.state, "acc-1", command);
            match decision.event().cloned() {
                Some(event) => {
                    account.apply(&event);
                    prop_assert_eq!(account.version, before.version + 1);
                    if let RecordedDecision::Refused { reason, .. } = &decision {
                        // Every refusal is one event that names its reason and changes nothing.
                        prop_assert_eq!(refusal_reason::<Account>(&event), Some(reason.clone()));
                        prop_assert_eq!(&account.state, &before.state);
                    } else {
                        prop_assert_eq!(refusal_reason::<Account>(&event), None);
                    }
                    recorded.push(event);
                }
                None => prop_assert_eq!(&account, &before),
            }
            prop_assert!(account.state.balance >= 0, "negative balance after {:?}", command);
        }
        prop_assert_eq!(account.version, recorded.len() as u64);
        prop_assert_eq!(&refold::<Account>(&recorded), &account);
        let snapshot = serde_json::to_string(&account).unwrap();
        prop_assert_eq!(serde_json::from_str::<Versioned<Account>>(&snapshot).unwrap(), account);
    }
}

/// A command on its way to an aggregate.
#[derive(Debug, Clone)]
struct Envelope {
    /// Who sent it: the aggregate whose event caused a saga's step, or a client of its own.
    /// Commands of one source are handled in the order sent.
    source: String,
    command_id: Uuid,
    aggregate_id: String,
    command: BankCommand,
}

/// The producer and the saga runner in miniature: aggregates in maps, a queue of commands.
#[derive(Default)]
struct World {
    accounts: HashMap<String, Versioned<Account>>,
    claims: HashMap<String, Versioned<EmailClaim>>,
    users: HashMap<String, Versioned<User>>,
    transfers: HashMap<String, Versioned<Transfer>>,
    seen: HashSet<Uuid>,
    queue: VecDeque<Envelope>,
    next_id: u128,
    events: Vec<BankEvent>,
}

/// How the queue is worked: which waiting command goes next, and whether a saga's step is
/// delivered twice.
#[derive(Default)]
struct Schedule {
    picks: Vec<usize>,
    duplicates: Vec<bool>,
    turn: usize,
    steps: usize,
}

impl Schedule {
    /// Any order and any redelivery, as proptest chose them.
    fn chosen(picks: Vec<usize>, duplicates: Vec<bool>) -> Self {
        Self {
            picks,
            duplicates,
            ..Self::default()
        }
    }

    fn pick(&mut self, len: usize) -> usize {
        let pick = self.picks.get(self.turn).copied().unwrap_or(0);
        pick % len
    }

    fn duplicate(&mut self) -> bool {
        let duplicate = self.duplicates.get(self.turn).copied().unwrap_or(false);
        self.turn += 1;
        duplicate
    }
}

/// Decides `command` on the aggregate `id` of `map` and folds what it records.
fn handle<A: Aggregate>(
    map: &mut HashMap<String, Versioned<A>>,
    id: &str,
    command: &A::Command,
) -> Option<(u64, A::Event)> {
    let versioned = map.entry(id.to_owned()).or_default();
    let decision = decide_recorded(&versioned.state, id, command);
    let event = decision.event().cloned()?;
    versioned.apply(&event);
    Some((versioned.version, event))
}

impl World {
    /// Queues a caller's command under a fresh ID.
    fn send(&mut self, aggregate_id: &str, command: BankCommand) {
        self.next_id += 1;
        self.queue.push_back(Envelope {
            source: format!("client-{}", self.next_id),
            command_id: Uuid::from_u128(self.next_id),
            aggregate_id: aggregate_id.to_owned(),
            command,
        });
    }

    /// Handles one command, dropping it if its ID was seen; returns the recorded event.
    fn process(&mut self, envelope: Envelope) -> Option<BankEvent> {
        if !self.seen.insert(envelope.command_id) {
            return None;
        }
        let id = envelope.aggregate_id.as_str();
        let (version, event): (u64, BankEvent) = match &envelope.command {
            BankCommand::Account(c) => {
                handle(&mut self.accounts, id, c).map(|(v, e)| (v, e.into()))?
            }
            BankCommand::EmailClaim(c) => {
                handle(&mut self.claims, id, c).map(|(v, e)| (v, e.into()))?
            }
            BankCommand::User(c) => handle(&mut self.users, id, c).map(|(v, e)| (v, e.into()))?,
            BankCommand::Transfer(c) => {
                handle(&mut self.transfers, id, c).map(|(v, e)| (v, e.into()))?
            }
        };
        self.events.push(event.clone());
        let steps = BankSaga.react(id, version, &event);
        for step in steps {
            self.queue.push_back(Envelope {
                source: id.to_owned(),
                command_id: step.command_id,
                aggregate_id: step.aggregate_id,
                command: step.command,
            });
        }
        Some(event)
    }

    /// The queue positions of the oldest command of each source: the ones that may go next.
    fn first_of_each_source(&self) -> Vec<usize> {
        let mut seen = HashSet::new();
        (0..self.queue.len())
            .filter(|&index| seen.insert(self.queue[index].source.as_str()))
            .collect()
    }

    /// Works the queue until nothing is left, in the order `schedule` says, redelivering
    /// some commands; checks after each step that no balance is negative.
    fn run_until_quiet(&mut self, schedule: &mut Schedule) {
        while !self.queue.is_empty() {
            let eligible = self.first_of_each_source();
            let index = eligible[schedule.pick(eligible.len())];
            let Some(envelope) = self.queue.remove(index) else {
                break;
            };
            if schedule.duplicate() {
                self.queue.push_back(envelope.clone());
            }
            self.process(envelope);
            for (id, account) in &self.accounts {
                assert!(account.state.balance >= 0, "account {id} went negative");
            }
            schedule.steps += 1;
            assert!(schedule.steps < 100_000, "the sagas do not come to rest");
        }
    }
}

const ACCOUNTS: [&str; 6] = [
    "acc-0",
    "acc-1",
    "acc-2",
    "acc-usd",
    "acc-closed",
    "acc-none",
];

/// What a caller does in the transfer property.
#[derive(Debug, Clone)]
enum Operation {
    Deposit {
        account: usize,
        amount: i64,
    },
    Withdraw {
        account: usize,
        amount: i64,
    },
    Transfer {
        source: usize,
        target: usize,
        amount: i64,
        usd: bool,
    },
}

fn operation() -> impl Strategy<Value = Operation> {
    let account = 0..ACCOUNTS.len();
    prop_oneof![
        1 => (account.clone(), amount()).prop_map(|(account, amount)| Operation::Deposit { account, amount }),
        1 => (account.clone(), amount()).prop_map(|(account, amount)| Operation::Withdraw { account, amount }),
        4 => (account.clone(), account, prop_oneof![4 => 1..500i64, 1 => amount()], prop::bool::weighted(0.1))
            .prop_map(|(source, target, amount, usd)| Operation::Transfer { source, target, amount, usd }),
    ]
}

/// Accounts in every state a transfer can meet: open in EUR, open in another currency,
/// closed, and never opened. Set up in order, each command once.
fn open_accounts(world: &mut World) {
    for (id, currency) in [
        ("acc-0", "EUR"),
        ("acc-1", "EUR"),
        ("acc-2", "EUR"),
        ("acc-usd", "USD"),
        ("acc-closed", "EUR"),
    ] {
        let open = OpenAccount {
            owner_id: "owner".into(),
            currency: currency.into(),
        };
        world.send(id, BankCommand::Account(open.into()));
    }
    world.send("acc-closed", BankCommand::Account(CloseAccount {}.into()));
    world.run_until_quiet(&mut Schedule::default());
    assert_eq!(
        world.accounts["acc-closed"].state.status,
        AccountStatus::Closed
    );
}

fn send_operation(world: &mut World, index: usize, operation: &Operation) {
    match *operation {
        Operation::Deposit { account, amount } => {
            let deposit = Deposit {
                amount,
                reference: None,
            };
            world.send(ACCOUNTS[account], BankCommand::Account(deposit.into()));
        }
        Operation::Withdraw { account, amount } => {
            world.send(
                ACCOUNTS[account],
                BankCommand::Account(Withdraw { amount }.into()),
            );
        }
        Operation::Transfer {
            source,
            target,
            amount,
            usd,
        } => {
            let request = RequestTransfer {
                source_account_id: ACCOUNTS[source].into(),
                target_account_id: ACCOUNTS[target].into(),
                amount,
                currency: if usd { "USD" } else { "EUR" }.into(),
            };
            world.send(&format!("t-{index}"), BankCommand::Transfer(request.into()));
        }
    }
}

/// Deposits minus withdrawals, over every recorded event.
fn net_paid_in(events: &[BankEvent]) -> i128 {
    events
        .iter()
        .map(|event| match event {
            BankEvent::Account(AccountEvent::Deposited(d)) => i128::from(d.amount),
            BankEvent::Account(AccountEvent::Withdrawn(w)) => -i128::from(w.amount),
            _ => 0,
        })
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn transfers_end_and_conserve_money_unless_a_refund_passes_i64_max(
        operations in prop::collection::vec(operation(), 0..30),
        picks in prop::collection::vec(any::<usize>(), 0..400),
        duplicates in prop::collection::vec(prop::bool::weighted(0.15), 0..400),
    ) {
        let mut world = World::default();
        let mut schedule = Schedule::chosen(picks, duplicates);
        open_accounts(&mut world);
        for (index, operation) in operations.iter().enumerate() {
            send_operation(&mut world, index, operation);
        }
        world.run_until_quiet(&mut schedule);

        let mut in_flight = 0i128;
        for (id, transfer) in &world.transfers {
            match transfer.state.status {
                TransferStatus::NotRequested | TransferStatus::Completed | TransferStatus::Failed => {}
                TransferStatus::SourceDebited => {
                    // The one way a transfer stays open: its credit was refused and the refund
                    // does not fit the source's i64 balance any more (see `refund_for_transfer`).
                    let source = &world.accounts[&transfer.state.source_account_id].state;
                    prop_assert!(
                        source.balance.checked_add(transfer.state.amount).is_none(),
                        "transfer {} stopped after its debit", id
                    );
                    in_flight += i128::from(transfer.state.amount);
                }
                TransferStatus::Requested => prop_assert!(false, "transfer {} stopped before its debit", id),
            }
        }
        let balances: i128 = world.accounts.values().map(|a| i128::from(a.state.balance)).sum();
        prop_assert_eq!(balances + in_flight, net_paid_in(&world.events));
        for account in world.accounts.values() {
            prop_assert!(account.state.balance >= 0);
        }
    }
}

const USERS: [&str; 3] = ["u-0", "u-1", "u-2"];
const EMAILS: [&str; 3] = ["Ann@Example.org", "bob@example.org ", "cy@example.org"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn no_two_users_ever_end_with_one_address_and_every_request_ends(
        requests in prop::collection::vec((0..USERS.len(), 0..EMAILS.len(), 0..3_u8), 0..20),
        picks in prop::collection::vec(any::<usize>(), 0..200),
        duplicates in prop::collection::vec(prop::bool::weighted(0.15), 0..200),
    ) {
        let mut world = World::default();
        let mut schedule = Schedule::chosen(picks, duplicates);
        for (user, email, kind) in requests {
            send_user_request(&mut world, USERS[user], EMAILS[email], kind);
        }
        world.run_until_quiet(&mut schedule);

        let mut addresses = HashSet::new();
        for (id, user) in &world.users {
            prop_assert_eq!(&user.state.pending_email, &None, "{} waits for ever", id);
            if user.state.status != UserStatus::Registered {
                continue;
            }
            prop_assert!(addresses.insert(user.state.email.clone()), "{} is shared", user.state.email);
            let holder = world.claims.get(&user.state.email).and_then(|c| c.state.holder.clone());
            prop_assert_eq!(holder.as_deref(), Some(id.as_str()));
        }
        for (email, claim) in &world.claims {
            if let Some(holder) = &claim.state.holder {
                let user = world.users.get(holder).map(|u| &u.state);
                prop_assert!(
                    user.is_some_and(|u| u.status == UserStatus::Registered && u.email == *email),
                    "{} is held by {}, which does not use it: {:?}", email, holder, user
                );
            }
        }
    }
}

/// Sends what a client does for `user` and `email`: asks for a registration (`kind` 0) or a
/// change of address (1), or, as a client of a build before requests went through the user,
/// claims the address itself for a registration (2).
fn send_user_request(world: &mut World, user: &str, email: &str, kind: u8) {
    match kind {
        0 => {
            let request = RequestUserRegistration {
                email: email.into(),
                display_name: format!("User {user}"),
            };
            world.send(user, BankCommand::User(request.into()));
        }
        1 => {
            let request = RequestUserEmailChange {
                new_email: email.into(),
            };
            world.send(user, BankCommand::User(request.into()));
        }
        _ => {
            let claim = ClaimEmail {
                user_id: user.into(),
                purpose: ClaimPurpose::Registration,
                display_name: Some(format!("User {user}")),
            };
            world.send(
                &normalize_email(email),
                BankCommand::EmailClaim(claim.into()),
            );
        }
    }
}

#[test]
fn a_transfer_completes_is_refused_or_is_refunded_end_to_end() {
    let mut world = World::default();
    open_accounts(&mut world);
    send_operation(
        &mut world,
        0,
        &Operation::Deposit {
            account: 0,
            amount: 100,
        },
    );
    // Given 100 on acc-0: one transfer that fits, one too large, one to a closed account.
    for (index, (amount, target)) in [(60, 1), (500, 1), (30, 4)].into_iter().enumerate() {
        let transfer = Operation::Transfer {
            source: 0,
            target,
            amount,
            usd: false,
        };
        send_operation(&mut world, index + 1, &transfer);
    }
    world.run_until_quiet(&mut Schedule::default());

    let state = |id: &str| world.transfers[id].state.clone();
    assert_eq!(state("t-1").status, TransferStatus::Completed);
    assert_eq!(state("t-2").status, TransferStatus::Failed);
    assert!(!state("t-2").compensated);
    assert_eq!(
        state("t-2").failure_reason.as_deref(),
        Some("insufficient funds: balance 40, transfer 500")
    );
    assert_eq!(state("t-3").status, TransferStatus::Failed);
    assert!(state("t-3").compensated);
    assert_eq!(
        state("t-3").failure_reason.as_deref(),
        Some("account acc-closed is closed")
    );
    assert_eq!(world.accounts["acc-0"].state.balance, 40);
    assert_eq!(world.accounts["acc-1"].state.balance, 60);
    assert_eq!(world.accounts["acc-closed"].state.balance, 0);
}
