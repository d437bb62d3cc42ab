//! The catch-up scenario's event stream: commands of the reference bank decided by the domain
//! itself, with every transfer carried through its saga, written as the command side writes
//! them.
//!
//! Nothing here computes an event by hand. Each client command (open, deposit, withdraw,
//! request a transfer) goes through the aggregate's `decide` and `apply`; every event a
//! transfer causes is followed by the step [`BankSaga`] reacts with, decided by the aggregate
//! it addresses, until the saga has nothing more to say — what the saga runner does, only
//! without the round trips. So the stream obeys the version rule, carries the saga's
//! deterministic command IDs and correlation IDs, and has exactly the headers of
//! [`EventHeaders`] the processor writes.

use std::collections::HashMap;
use tributary_domain::DomainRecord;

use anyhow::{Context, bail};
use tributary_bank::account::Account;
use tributary_bank::records::account::{AccountCommand, Deposit, OpenAccount, Withdraw};
use tributary_bank::records::transfer::{RequestTransfer, TransferCommand};
use tributary_bank::sagas::BankSaga;
use tributary_bank::transfer::Transfer;
use tributary_bank::{BankCommand, BankEvent};
use tributary_domain::{Aggregate, Saga, Versioned};
use tributary_runtime::clock::unix_millis;
use tributary_runtime::partition_for_key;
use tributary_schemas::Codec;
use tributary_schemas::headers::EventHeaders;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadShape {
    /// Events to generate at least (a transfer's saga is never cut short, so a few more).
    pub events: usize,
    /// Accounts the money moves between; each is opened first.
    pub accounts: usize,
    /// Partition count of the events topics.
    pub partitions: i32,
    /// Seed of the command mix.
    pub seed: u64,
}

/// One event record as the processor writes it.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Aggregate type: which events topic it goes to.
    pub aggregate_type: &'static str,
    /// The aggregate ID: the record key.
    pub key: String,
    /// The aggregate's partition by the placement rule.
    pub partition: i32,
    /// The framed Avro event.
    pub value: Vec<u8>,
    /// The record headers.
    pub headers: EventHeaders,
}

/// How many commands of each kind the stream holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Mix {
    /// Accounts opened.
    pub opened: usize,
    /// Deposits.
    pub deposits: usize,
    /// Withdrawals.
    pub withdrawals: usize,
    /// Transfers requested.
    pub transfers: usize,
    /// Of those, transfers that completed (the others failed for lack of funds).
    pub transfers_completed: usize,
}

/// The generated stream.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Every event record in the order it was decided.
    pub records: Vec<EventRecord>,
    /// The command mix.
    pub mix: Mix,
}

/// A xorshift64* generator: reproducible command mixes from a seed without a dependency.
#[derive(Debug, Clone)]
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Self {
        // Xorshift must not start at zero.
        Self(seed | 1)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn roll(&mut self, bound: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    }
}

/// The aggregates as the processor would hold them, and the records written so far.
struct Bank {
    partitions: i32,
    codec: Codec,
    accounts: HashMap<String, Versioned<Account>>,
    transfers: HashMap<String, Versioned<Transfer>>,
    records: Vec<EventRecord>,
}

/// What caused a command: its ID and the correlation ID of the request behind it.
struct Cause {
    command_id: String,
    correlation_id: String,
}

impl Bank {
    /// Decides `command` for `id`, records its event if it has one, and runs the saga's
    /// reaction to that event to its end. Returns the event.
    fn execute(
        &mut self,
        id: &str,
        command: BankCommand,
        cause: &Cause,
    ) -> anyhow::Result<Option<BankEvent>> {
        let event = match command {
            BankCommand::Account(command) => {
                Self::decide(&mut self.accounts, id, &command).map(|(e, v)| (e.into(), v))
            }
            BankCommand::Transfer(command) => {
                Self::decide(&mut self.transfers, id, &command).map(|(e, v)| (e.into(), v))
            }
            other => bail!("the workload sends no {} commands", other.aggregate_type()),
        };
        let Some((event, version)) = event else {
            return Ok(None);
        };
        self.record(id, &event, version, cause)?;
        for step in BankSaga.react(id, version, &event) {
            let cause = Cause {
                command_id: step.command_id.to_string(),
                correlation_id: cause.correlation_id.clone(),
            };
            self.execute(&step.aggregate_id, step.command, &cause)?;
        }
        Ok(Some(event))
    }

    /// The event `command` records for aggregate `id` (accepted, or a refusal the domain
    /// records), folded into its state, with its version.
    fn decide<A: Aggregate>(
        states: &mut HashMap<String, Versioned<A>>,
        id: &str,
        command: &A::Command,
    ) -> Option<(A::Event, u64)> {
        let state = states.entry(id.to_owned()).or_default();
        let decision = state.state.decide(id, command);
        let event = Versioned::<A>::recorded_event(&decision)?.clone();
        state.apply(&event);
        Some((event, state.version))
    }

    fn record(
        &mut self,
        id: &str,
        event: &BankEvent,
        version: u64,
        cause: &Cause,
    ) -> anyhow::Result<()> {
        let value = event
            .encode(&self.codec)
            .with_context(|| format!("encoding {} of {id}", event.full_name()))?;
        self.records.push(EventRecord {
            aggregate_type: event.aggregate_type(),
            key: id.to_owned(),
            partition: partition_for_key(id.as_bytes(), self.partitions),
            value,
            headers: EventHeaders {
                event_id: uuid::Uuid::now_v7().to_string(),
                event_type: event.full_name().to_owned(),
                aggregate_version: version,
                command_id: cause.command_id.clone(),
                correlation_id: cause.correlation_id.clone(),
                occurred_at: unix_millis(),
                cause: None,
            },
        });
        Ok(())
    }

    fn balance(&self, id: &str) -> i64 {
        self.accounts.get(id).map_or(0, |a| a.state.balance)
    }
}

/// A client's command: a fresh command ID that is also the correlation ID.
fn client() -> Cause {
    let id = uuid::Uuid::new_v4().to_string();
    Cause {
        command_id: id.clone(),
        correlation_id: id,
    }
}

/// The account ID of account number `index`.
pub fn account_id(index: u64) -> String {
    format!("acc-{index:06}")
}

/// Generates the stream: every account is opened, then deposits (45 %), withdrawals of at
/// most the balance (20 %) and transfers of up to 500 between two accounts (35 %, failing
/// when the source cannot pay) follow at random until `shape.events` events are written.
pub fn generate(shape: WorkloadShape) -> anyhow::Result<Workload> {
    let accounts = shape.accounts.clamp(2, shape.events.max(2)) as u64;
    let mut bank = Bank {
        partitions: shape.partitions,
        codec: tributary_bank::codec(),
        accounts: HashMap::new(),
        transfers: HashMap::new(),
        records: Vec::with_capacity(shape.events + 8),
    };
    let mut mix = Mix::default();
    let mut dice = Dice::new(shape.seed);
    for index in 0..accounts {
        let open = OpenAccount {
            owner_id: format!("owner-{index:06}"),
            currency: "EUR".to_owned(),
        };
        let command = BankCommand::Account(AccountCommand::from(open));
        bank.execute(&account_id(index), command, &client())?;
        mix.opened += 1;
    }
    while bank.records.len() < shape.events {
        let id = account_id(dice.roll(accounts));
        let roll = dice.roll(100);
        let balance = bank.balance(&id);
        if roll < 45 || (roll < 65 && balance == 0) {
            let reference = (dice.roll(2) == 0).then(|| format!("ref-{}", dice.roll(1_000_000)));
            let deposit = Deposit {
                amount: 1 + dice.roll(1_000) as i64,
                reference,
            };
            bank.execute(&id, AccountCommand::from(deposit).into(), &client())?;
            mix.deposits += 1;
        } else if roll < 65 {
            let withdraw = Withdraw {
                amount: 1 + dice.roll(balance as u64) as i64,
            };
            bank.execute(&id, AccountCommand::from(withdraw).into(), &client())?;
            mix.withdrawals += 1;
        } else {
            let target = (dice.roll(accounts - 1) + 1 + id_index(&id)) % accounts;
            let request = RequestTransfer {
                source_account_id: id,
                target_account_id: account_id(target),
                amount: 1 + dice.roll(500) as i64,
                currency: "EUR".to_owned(),
            };
            let transfer_id = format!("tr-{:08}", mix.transfers);
            bank.execute(
                &transfer_id,
                TransferCommand::from(request).into(),
                &client(),
            )?;
            mix.transfers += 1;
            let completed = bank.transfers.get(&transfer_id).is_some_and(|t| {
                t.state.status == tributary_bank::transfer::TransferStatus::Completed
            });
            mix.transfers_completed += usize::from(completed);
        }
    }
    Ok(Workload {
        records: bank.records,
        mix,
    })
}

/// The number in an ID made by [`account_id`].
fn id_index(id: &str) -> u64 {
    id.trim_start_matches("acc-").parse().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(events: usize) -> WorkloadShape {
        WorkloadShape {
            events,
            accounts: 50,
            partitions: 8,
            seed: 7,
        }
    }

    #[test]
    fn versions_of_every_aggregate_count_up_from_one() {
        let workload = generate(shape(2_000)).unwrap();
        assert!(workload.records.len() >= 2_000);
        let mut versions: HashMap<&str, u64> = HashMap::new();
        for record in &workload.records {
            let last = versions.entry(&record.key).or_default();
            assert_eq!(
                record.headers.aggregate_version,
                *last + 1,
                "{}",
                record.key
            );
            *last += 1;
        }
    }

    #[test]
    fn every_transfer_ends_completed_or_failed() {
        let workload = generate(shape(3_000)).unwrap();
        assert!(workload.mix.transfers > 0);
        let ends = workload
            .records
            .iter()
            .filter(|r| {
                r.headers.event_type.ends_with("TransferCompleted")
                    || r.headers.event_type.ends_with("TransferFailed")
            })
            .count();
        assert_eq!(ends, workload.mix.transfers);
    }

    #[test]
    fn a_transfer_never_goes_to_its_own_source() {
        let mut dice = Dice::new(3);
        for _ in 0..1_000 {
            let accounts = 2 + dice.roll(10);
            let source = dice.roll(accounts);
            let target = (dice.roll(accounts - 1) + 1 + source) % accounts;
            assert_ne!(source, target);
        }
    }
}
