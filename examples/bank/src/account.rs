//! The account aggregate: money in, money out, and the two steps a transfer takes through it.
//!
//! The balance is in minor units and never drops below zero. The one shaping decision is which
//! refusals are recorded: a refused deposit or withdrawal only concerns the caller, but a
//! refused transfer debit or credit is recorded as an event, because the transfer saga must
//! learn of it to fail or compensate the transfer, and the saga only reads events.

use crate::records::account::{
    AccountClosed, AccountCommand, AccountEvent, AccountOpened, CreditForTransfer,
    CreditedForTransfer, DebitForTransfer, DebitedForTransfer, Deposit, Deposited, OpenAccount,
    RefundForTransfer, RefundedForTransfer, TransferCreditRejected, TransferDebitRejected,
    Withdraw, Withdrawn,
};
use serde::{Deserialize, Serialize};

use super::is_currency_code;
use tributary_domain::{Aggregate, Rejection};

/// Where an account is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// No `AccountOpened` yet: the state of every account ID before its first event.
    #[default]
    NotOpened,
    /// Accepts money movements.
    Open,
    /// Closed at a zero balance; accepts nothing but refunds of earlier transfers.
    Closed,
}

impl AccountStatus {
    /// The status in words, for rejection reasons.
    fn describe(self) -> &'static str {
        match self {
            AccountStatus::NotOpened => "has not been opened",
            AccountStatus::Open => "is open",
            AccountStatus::Closed => "is closed",
        }
    }
}

/// State of one account, stored as the JSON snapshot of the aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Where the account is in its life.
    pub status: AccountStatus,
    /// Who owns the account; empty until it is opened.
    pub owner_id: String,
    /// ISO 4217 code of the account's currency; empty until it is opened.
    pub currency: String,
    /// Balance in minor units of the currency (cents for EUR); never negative.
    pub balance: i64,
}

/// The largest balance deposits and credits may reach: 10^15 minor units (ten trillion EUR).
///
/// Refunds are never refused for size (see `refund_for_transfer`), so the limit sits far below
/// `i64::MAX`: a refund pays back at most what an earlier debit took, and the room above the
/// limit keeps those refunds from overflowing.
pub const MAX_BALANCE: i64 = 1_000_000_000_000_000;

/// What `decide` returns for an account.
type Decision = Result<Option<AccountEvent>, Rejection<AccountEvent>>;

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;

    fn decide(&self, id: &str, command: &AccountCommand) -> Decision {
        let event = match command {
            AccountCommand::Open(open) => self.open(id, open)?,
            AccountCommand::Deposit(deposit) => self.deposit(id, deposit)?,
            AccountCommand::Withdraw(withdraw) => self.withdraw(id, withdraw)?,
            AccountCommand::Close(_) => self.close(id)?,
            AccountCommand::DebitForTransfer(debit) => self.debit_for_transfer(id, debit)?,
            AccountCommand::CreditForTransfer(credit) => self.credit_for_transfer(id, credit)?,
            AccountCommand::RefundForTransfer(refund) => self.refund_for_transfer(id, refund)?,
        };
        Ok(Some(event))
    }

    fn apply(&mut self, event: &AccountEvent) {
        // Saturating arithmetic only keeps `apply` total: `decide` never lets a balance
        // overflow or go negative, so on decided events it is plain addition.
        match event {
            AccountEvent::Opened(opened) => {
                self.status = AccountStatus::Open;
                self.owner_id.clone_from(&opened.owner_id);
                self.currency.clone_from(&opened.currency);
            }
            AccountEvent::Deposited(Deposited { amount, .. })
            | AccountEvent::CreditedForTransfer(CreditedForTransfer { amount, .. })
            | AccountEvent::RefundedForTransfer(RefundedForTransfer { amount, .. }) => {
                self.balance = self.balance.saturating_add(*amount);
            }
            AccountEvent::Withdrawn(Withdrawn { amount })
            | AccountEvent::DebitedForTransfer(DebitedForTransfer { amount, .. }) => {
                self.balance = self.balance.saturating_sub(*amount);
            }
            AccountEvent::Closed(_) => self.status = AccountStatus::Closed,
            // A refusal is recorded for the saga; the account itself did not change.
            AccountEvent::TransferDebitRejected(_) | AccountEvent::TransferCreditRejected(_) => {}
            // A refused command changes nothing.
            AccountEvent::CommandRefused(_) => {}
        }
    }

    fn refusal(event: &AccountEvent) -> Option<String> {
        match event {
            AccountEvent::TransferDebitRejected(rejected) => Some(rejected.reason.clone()),
            AccountEvent::TransferCreditRejected(rejected) => Some(rejected.reason.clone()),
            _ => None,
        }
    }
}

/// What a rule of the account returns: the one event, or the refusal.
type Outcome = Result<AccountEvent, Rejection<AccountEvent>>;

impl Account {
    /// Opens a fresh account for an owner in a valid currency.
    fn open(&self, id: &str, open: &OpenAccount) -> Outcome {
        match self.status {
            AccountStatus::NotOpened => {}
            AccountStatus::Open => {
                return Err(Rejection::new(format!(
                    "account {id} is already open for owner {} in {}",
                    self.owner_id, self.currency
                )));
            }
            AccountStatus::Closed => {
                return Err(Rejection::new(format!(
                    "account {id} is closed and cannot be opened again: open a new account ID"
                )));
            }
        }
        if open.owner_id.trim().is_empty() {
            return Err(Rejection::new("owner_id must not be empty"));
        }
        check_currency(&open.currency).map_err(Rejection::new)?;
        Ok(AccountOpened {
            owner_id: open.owner_id.clone(),
            currency: open.currency.clone(),
        }
        .into())
    }

    /// Pays money into an open account.
    fn deposit(&self, id: &str, deposit: &Deposit) -> Outcome {
        check_positive(deposit.amount).map_err(Rejection::new)?;
        self.check_open(id).map_err(Rejection::new)?;
        self.credited_balance(deposit.amount)
            .map_err(Rejection::new)?;
        Ok(Deposited {
            amount: deposit.amount,
            reference: deposit.reference.clone(),
        }
        .into())
    }

    /// Pays money out of an open account that holds enough.
    fn withdraw(&self, id: &str, withdraw: &Withdraw) -> Outcome {
        check_positive(withdraw.amount).map_err(Rejection::new)?;
        self.check_open(id).map_err(Rejection::new)?;
        if self.balance < withdraw.amount {
            return Err(Rejection::new(format!(
                "insufficient funds: balance {}, withdrawal {}",
                self.balance, withdraw.amount
            )));
        }
        Ok(Withdrawn {
            amount: withdraw.amount,
        }
        .into())
    }

    /// Closes an open account whose balance is zero.
    fn close(&self, id: &str) -> Outcome {
        self.check_open(id).map_err(Rejection::new)?;
        if self.balance != 0 {
            return Err(Rejection::new(format!(
                "account {id} has a balance of {}: only an account with a zero balance can be closed",
                self.balance
            )));
        }
        Ok(AccountClosed {}.into())
    }

    /// Takes a transfer's money out of the source account, or records why it cannot.
    fn debit_for_transfer(&self, id: &str, debit: &DebitForTransfer) -> Outcome {
        match self.debit_refusal(id, debit) {
            None => Ok(DebitedForTransfer {
                transfer_id: debit.transfer_id.clone(),
                amount: debit.amount,
            }
            .into()),
            Some(reason) => Err(Rejection::recorded(
                reason.clone(),
                TransferDebitRejected {
                    transfer_id: debit.transfer_id.clone(),
                    amount: debit.amount,
                    reason,
                },
            )),
        }
    }

    /// Why the account cannot be debited for a transfer, if it cannot.
    fn debit_refusal(&self, id: &str, debit: &DebitForTransfer) -> Option<String> {
        self.check_open(id)
            .and_then(|()| self.check_same_currency(id, &debit.currency))
            .and_then(|()| check_positive(debit.amount))
            .err()
            .or_else(|| {
                (self.balance < debit.amount).then(|| {
                    format!(
                        "insufficient funds: balance {}, transfer {}",
                        self.balance, debit.amount
                    )
                })
            })
    }

    /// Puts a transfer's money into the target account, or records why it cannot, so that
    /// the saga refunds the source.
    fn credit_for_transfer(&self, id: &str, credit: &CreditForTransfer) -> Outcome {
        let accepted = self
            .check_open(id)
            .and_then(|()| self.check_same_currency(id, &credit.currency))
            .and_then(|()| check_positive(credit.amount))
            .and_then(|()| self.credited_balance(credit.amount));
        match accepted {
            Ok(_) => Ok(CreditedForTransfer {
                transfer_id: credit.transfer_id.clone(),
                amount: credit.amount,
            }
            .into()),
            Err(reason) => Err(Rejection::recorded(
                reason.clone(),
                TransferCreditRejected {
                    transfer_id: credit.transfer_id.clone(),
                    source_account_id: credit.source_account_id.clone(),
                    amount: credit.amount,
                    reason,
                },
            )),
        }
    }

    /// Pays back the debit of a transfer whose credit was refused.
    ///
    /// Accepted whatever the status, because money conservation beats the closed status: the
    /// money already left this account and exists nowhere else. The owner may well have closed
    /// the account meanwhile — the debit itself can bring the balance to the zero that closing
    /// needs — and refusing the refund would make the money vanish. A closed account holding
    /// money is an operator's problem; lost money is everyone's. Only a non-positive amount
    /// (never sent by the saga) or an overflow (beyond any real balance) is refused, so that
    /// the balance stays a sound number.
    fn refund_for_transfer(&self, id: &str, refund: &RefundForTransfer) -> Outcome {
        check_positive(refund.amount).map_err(Rejection::new)?;
        self.balance.checked_add(refund.amount).ok_or_else(|| {
            Rejection::new(format!(
                "account {id}: refunding {} to the balance {} would overflow",
                refund.amount, self.balance
            ))
        })?;
        Ok(RefundedForTransfer {
            transfer_id: refund.transfer_id.clone(),
            amount: refund.amount,
            reason: refund.reason.clone(),
        }
        .into())
    }

    /// Refuses money movements unless the account is open.
    fn check_open(&self, id: &str) -> Result<(), String> {
        match self.status {
            AccountStatus::Open => Ok(()),
            status => Err(format!("account {id} {}", status.describe())),
        }
    }

    /// Refuses a transfer in another currency than the account's.
    fn check_same_currency(&self, id: &str, currency: &str) -> Result<(), String> {
        if currency == self.currency {
            Ok(())
        } else {
            Err(format!(
                "transfer currency {currency} differs from the currency {} of account {id}",
                self.currency
            ))
        }
    }

    /// The balance after a deposit or credit of `amount`, refused above [`MAX_BALANCE`].
    fn credited_balance(&self, amount: i64) -> Result<i64, String> {
        self.balance
            .checked_add(amount)
            .filter(|balance| *balance <= MAX_BALANCE)
            .ok_or_else(|| {
                format!(
                    "adding {amount} to the balance {} would exceed the largest balance {MAX_BALANCE}",
                    self.balance
                )
            })
    }
}

/// Refuses amounts of zero or less: money only ever moves in positive amounts.
fn check_positive(amount: i64) -> Result<(), String> {
    if amount > 0 {
        Ok(())
    } else {
        Err(format!(
            "amount must be positive (minor units), got {amount}"
        ))
    }
}

/// Refuses currency codes that are not three upper-case letters.
fn check_currency(currency: &str) -> Result<(), String> {
    if is_currency_code(currency) {
        Ok(())
    } else {
        Err(format!(
            "currency {currency:?} is not an ISO 4217 code: use three upper-case letters such as EUR"
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::records::account::CloseAccount;

    use super::*;

    const ID: &str = "acc-1";

    fn given(events: &[AccountEvent]) -> Account {
        let mut account = Account::default();
        for event in events {
            account.apply(event);
        }
        account
    }

    fn opened() -> AccountEvent {
        AccountOpened {
            owner_id: "owner-1".into(),
            currency: "EUR".into(),
        }
        .into()
    }

    fn deposited(amount: i64) -> AccountEvent {
        Deposited {
            amount,
            reference: None,
        }
        .into()
    }

    fn closed() -> AccountEvent {
        AccountClosed {}.into()
    }

    fn open_cmd(owner_id: &str, currency: &str) -> AccountCommand {
        OpenAccount {
            owner_id: owner_id.into(),
            currency: currency.into(),
        }
        .into()
    }

    fn deposit_cmd(amount: i64) -> AccountCommand {
        Deposit {
            amount,
            reference: Some("receipt-7".into()),
        }
        .into()
    }

    fn withdraw_cmd(amount: i64) -> AccountCommand {
        Withdraw { amount }.into()
    }

    fn debit_cmd(amount: i64, currency: &str) -> AccountCommand {
        DebitForTransfer {
            transfer_id: "t-1".into(),
            amount,
            currency: currency.into(),
        }
        .into()
    }

    fn credit_cmd(amount: i64, currency: &str) -> AccountCommand {
        CreditForTransfer {
            transfer_id: "t-1".into(),
            source_account_id: "acc-src".into(),
            amount,
            currency: currency.into(),
        }
        .into()
    }

    fn refund_cmd(amount: i64) -> AccountCommand {
        RefundForTransfer {
            transfer_id: "t-1".into(),
            amount,
            reason: "account acc-2 is closed".into(),
        }
        .into()
    }

    /// The event `command` causes on `account`; fails the test on anything else.
    fn then_event(account: &Account, command: &AccountCommand) -> AccountEvent {
        match account.decide(ID, command) {
            Ok(Some(event)) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// The unrecorded rejection `command` gets on `account`.
    fn then_rejected(account: &Account, command: &AccountCommand) -> String {
        match account.decide(ID, command) {
            Err(Rejection {
                reason,
                recorded: None,
            }) => reason,
            other => panic!("expected an unrecorded rejection, got {other:?}"),
        }
    }

    /// The recorded rejection `command` gets on `account`: reason and event.
    fn then_recorded(account: &Account, command: &AccountCommand) -> (String, AccountEvent) {
        match account.decide(ID, command) {
            Err(Rejection {
                reason,
                recorded: Some(event),
            }) => (reason, event),
            other => panic!("expected a recorded rejection, got {other:?}"),
        }
    }

    fn debit_rejected(reason: String, amount: i64) -> AccountEvent {
        TransferDebitRejected {
            transfer_id: "t-1".into(),
            amount,
            reason,
        }
        .into()
    }

    fn credit_rejected(reason: String, amount: i64) -> AccountEvent {
        TransferCreditRejected {
            transfer_id: "t-1".into(),
            source_account_id: "acc-src".into(),
            amount,
            reason,
        }
        .into()
    }

    #[test]
    fn a_new_account_opens_with_owner_and_currency_and_zero_balance() {
        let account = given(&[]);
        let event = then_event(&account, &open_cmd("owner-1", "EUR"));
        assert_eq!(event, opened());
        let after = given(&[event]);
        assert_eq!(after.status, AccountStatus::Open);
        assert_eq!(after.owner_id, "owner-1");
        assert_eq!(after.currency, "EUR");
        assert_eq!(after.balance, 0);
    }

    #[test]
    fn an_open_or_closed_account_cannot_be_opened_again() {
        let reason = then_rejected(&given(&[opened()]), &open_cmd("owner-2", "USD"));
        assert!(reason.contains("already open"), "{reason}");
        let reason = then_rejected(&given(&[opened(), closed()]), &open_cmd("owner-1", "EUR"));
        assert!(reason.contains("closed"), "{reason}");
    }

    #[test]
    fn opening_needs_an_upper_case_three_letter_currency() {
        for currency in ["eur", "EURO", "E1", ""] {
            let reason = then_rejected(&given(&[]), &open_cmd("owner-1", currency));
            assert!(reason.contains("ISO 4217"), "{reason}");
        }
    }

    #[test]
    fn opening_needs_an_owner() {
        let reason = then_rejected(&given(&[]), &open_cmd("  ", "EUR"));
        assert!(reason.contains("owner_id"), "{reason}");
    }

    #[test]
    fn a_deposit_into_an_open_account_raises_the_balance() {
        let account = given(&[opened()]);
        let event = then_event(&account, &deposit_cmd(500));
        assert_eq!(
            event,
            Deposited {
                amount: 500,
                reference: Some("receipt-7".into())
            }
            .into()
        );
        assert_eq!(given(&[opened(), event]).balance, 500);
    }

    #[test]
    fn a_deposit_of_zero_or_less_is_refused() {
        for amount in [0, -1, i64::MIN] {
            let reason = then_rejected(&given(&[opened()]), &deposit_cmd(amount));
            assert!(reason.contains(&amount.to_string()), "{reason}");
        }
    }

    #[test]
    fn a_deposit_into_an_account_that_is_not_open_is_refused() {
        let reason = then_rejected(&given(&[]), &deposit_cmd(10));
        assert_eq!(reason, "account acc-1 has not been opened");
        let reason = then_rejected(&given(&[opened(), closed()]), &deposit_cmd(10));
        assert_eq!(reason, "account acc-1 is closed");
    }

    #[test]
    fn a_deposit_beyond_the_largest_balance_is_refused() {
        let account = given(&[opened(), deposited(MAX_BALANCE - 5)]);
        let reason = then_rejected(&account, &deposit_cmd(6));
        assert!(reason.contains("exceed the largest balance"), "{reason}");
        assert!(then_event(&account, &deposit_cmd(5)) == deposited_ref(5));
        assert!(then_rejected(&account, &deposit_cmd(i64::MAX)).contains("exceed"));
    }

    #[test]
    fn a_refund_above_the_largest_balance_is_still_paid() {
        let account = given(&[opened(), deposited(MAX_BALANCE)]);
        let refund = RefundForTransfer {
            transfer_id: "t-1".into(),
            amount: 10,
            reason: "target closed".into(),
        };
        let event = then_event(&account, &refund.into());
        assert!(matches!(event, AccountEvent::RefundedForTransfer(_)));
    }

    fn deposited_ref(amount: i64) -> AccountEvent {
        Deposited {
            amount,
            reference: Some("receipt-7".into()),
        }
        .into()
    }

    #[test]
    fn a_withdrawal_covered_by_the_balance_lowers_it() {
        let account = given(&[opened(), deposited(300)]);
        let event = then_event(&account, &withdraw_cmd(300));
        assert_eq!(event, Withdrawn { amount: 300 }.into());
        assert_eq!(given(&[opened(), deposited(300), event]).balance, 0);
    }

    #[test]
    fn a_withdrawal_beyond_the_balance_is_refused_without_a_record() {
        let account = given(&[opened(), deposited(300)]);
        let reason = then_rejected(&account, &withdraw_cmd(301));
        assert_eq!(reason, "insufficient funds: balance 300, withdrawal 301");
    }

    #[test]
    fn a_withdrawal_of_zero_or_less_or_from_an_account_not_open_is_refused() {
        then_rejected(&given(&[opened(), deposited(10)]), &withdraw_cmd(0));
        then_rejected(&given(&[opened(), deposited(10)]), &withdraw_cmd(-10));
        then_rejected(&given(&[]), &withdraw_cmd(1));
        then_rejected(&given(&[opened(), closed()]), &withdraw_cmd(1));
    }

    #[test]
    fn an_open_account_at_zero_balance_closes() {
        let account = given(&[opened(), deposited(5), Withdrawn { amount: 5 }.into()]);
        let event = then_event(&account, &CloseAccount {}.into());
        assert_eq!(event, closed());
        assert_eq!(given(&[opened(), event]).status, AccountStatus::Closed);
    }

    #[test]
    fn an_account_with_money_or_not_open_cannot_close() {
        let reason = then_rejected(&given(&[opened(), deposited(5)]), &CloseAccount {}.into());
        assert!(reason.contains("balance of 5"), "{reason}");
        then_rejected(&given(&[]), &CloseAccount {}.into());
        then_rejected(&given(&[opened(), closed()]), &CloseAccount {}.into());
    }

    #[test]
    fn a_transfer_debit_covered_by_the_balance_lowers_it() {
        let account = given(&[opened(), deposited(100)]);
        let event = then_event(&account, &debit_cmd(40, "EUR"));
        assert_eq!(
            event,
            DebitedForTransfer {
                transfer_id: "t-1".into(),
                amount: 40
            }
            .into()
        );
        assert_eq!(given(&[opened(), deposited(100), event]).balance, 60);
    }

    #[test]
    fn a_transfer_debit_beyond_the_balance_is_refused_and_recorded() {
        let account = given(&[opened(), deposited(100)]);
        let (reason, event) = then_recorded(&account, &debit_cmd(101, "EUR"));
        assert_eq!(reason, "insufficient funds: balance 100, transfer 101");
        assert_eq!(event, debit_rejected(reason, 101));
    }

    #[test]
    fn a_transfer_debit_of_a_closed_unopened_or_other_currency_account_is_recorded() {
        let cases = [
            (given(&[]), debit_cmd(1, "EUR"), "has not been opened"),
            (
                given(&[opened(), closed()]),
                debit_cmd(1, "EUR"),
                "is closed",
            ),
            (
                given(&[opened(), deposited(10)]),
                debit_cmd(1, "USD"),
                "USD differs",
            ),
            (
                given(&[opened(), deposited(10)]),
                debit_cmd(0, "EUR"),
                "positive",
            ),
            (
                given(&[opened(), deposited(10)]),
                debit_cmd(-3, "EUR"),
                "positive",
            ),
        ];
        for (account, command, expected) in cases {
            let (reason, event) = then_recorded(&account, &command);
            assert!(reason.contains(expected), "{reason}");
            assert!(matches!(event, AccountEvent::TransferDebitRejected(_)));
        }
    }

    #[test]
    fn a_transfer_credit_raises_the_balance_of_an_open_account() {
        let account = given(&[opened()]);
        let event = then_event(&account, &credit_cmd(70, "EUR"));
        assert_eq!(
            event,
            CreditedForTransfer {
                transfer_id: "t-1".into(),
                amount: 70
            }
            .into()
        );
        assert_eq!(given(&[opened(), event]).balance, 70);
    }

    #[test]
    fn a_transfer_credit_to_an_account_that_cannot_take_it_is_recorded_for_the_refund() {
        let (reason, event) = then_recorded(&given(&[opened(), closed()]), &credit_cmd(70, "EUR"));
        assert_eq!(reason, "account acc-1 is closed");
        assert_eq!(event, credit_rejected(reason, 70));
        let cases = [
            (given(&[]), credit_cmd(1, "EUR"), "has not been opened"),
            (given(&[opened()]), credit_cmd(1, "GBP"), "GBP differs"),
            (given(&[opened()]), credit_cmd(0, "EUR"), "positive"),
            (
                given(&[opened(), deposited(i64::MAX)]),
                credit_cmd(1, "EUR"),
                "exceed",
            ),
        ];
        for (account, command, expected) in cases {
            let (reason, event) = then_recorded(&account, &command);
            assert!(reason.contains(expected), "{reason}");
            assert!(matches!(event, AccountEvent::TransferCreditRejected(_)));
        }
    }

    #[test]
    fn a_refund_is_paid_back_even_into_a_closed_account() {
        for account in [given(&[opened()]), given(&[opened(), closed()]), given(&[])] {
            let event = then_event(&account, &refund_cmd(40));
            assert_eq!(
                event,
                RefundedForTransfer {
                    transfer_id: "t-1".into(),
                    amount: 40,
                    reason: "account acc-2 is closed".into()
                }
                .into()
            );
            let mut after = account.clone();
            after.apply(&event);
            assert_eq!(after.balance, account.balance + 40);
            assert_eq!(after.status, account.status);
        }
    }

    #[test]
    fn a_refund_of_zero_or_less_or_beyond_the_largest_balance_is_refused() {
        then_rejected(&given(&[opened()]), &refund_cmd(0));
        then_rejected(&given(&[opened()]), &refund_cmd(-5));
        then_rejected(&given(&[opened(), deposited(i64::MAX)]), &refund_cmd(1));
    }

    #[test]
    fn recorded_refusals_change_nothing_when_applied() {
        let account = given(&[opened(), deposited(10)]);
        let mut after = account.clone();
        after.apply(&debit_rejected("no".into(), 50));
        after.apply(&credit_rejected("no".into(), 50));
        assert_eq!(after, account);
    }

    #[test]
    fn the_state_round_trips_through_its_json_snapshot() {
        let account = given(&[opened(), deposited(10)]);
        let json = serde_json::to_value(&account).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "open", "owner_id": "owner-1", "currency": "EUR", "balance": 10})
        );
        assert_eq!(serde_json::from_value::<Account>(json).unwrap(), account);
        assert_eq!(
            serde_json::to_value(AccountStatus::NotOpened).unwrap(),
            "not_opened"
        );
    }
}
