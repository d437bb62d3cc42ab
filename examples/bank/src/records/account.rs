//! Records of the account aggregate: money in, money out, and the steps transfers take.

use serde::{Deserialize, Serialize};

use tributary_schemas::protocol::CommandRefused;
use tributary_schemas::{avro_record, record_set};

/// An account was opened for an owner in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOpened {
    /// Who owns the account.
    pub owner_id: String,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// Money was paid into the account (version 2 added `reference`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposited {
    /// Amount in minor units.
    pub amount: i64,
    /// External reference of the payment, if any.
    pub reference: Option<String>,
}

/// Money was paid out of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawn {
    /// Amount in minor units.
    pub amount: i64,
}

/// The account was closed at a zero balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountClosed {}

/// The account was debited as the first step of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitedForTransfer {
    /// The transfer saga.
    pub transfer_id: String,
    /// Amount in minor units.
    pub amount: i64,
}

/// The account was credited as the second step of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditedForTransfer {
    /// The transfer saga.
    pub transfer_id: String,
    /// Amount in minor units.
    pub amount: i64,
}

/// A transfer's debit was paid back because its credit failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundedForTransfer {
    /// The transfer saga.
    pub transfer_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Why the transfer failed.
    pub reason: String,
}

/// The account refused to be debited for a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferDebitRejected {
    /// The transfer saga.
    pub transfer_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Why.
    pub reason: String,
}

/// The account refused to be credited for a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferCreditRejected {
    /// The transfer saga.
    pub transfer_id: String,
    /// The debited account, to be refunded.
    pub source_account_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Why.
    pub reason: String,
}

/// Open a new account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAccount {
    /// Who will own the account.
    pub owner_id: String,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// Pay money into an open account (version 2 added `reference`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    /// Amount in minor units.
    pub amount: i64,
    /// External reference of the payment, if any.
    pub reference: Option<String>,
}

/// Pay money out of an open account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdraw {
    /// Amount in minor units.
    pub amount: i64,
}

/// Close an account at a zero balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseAccount {}

/// Saga step: debit the source account of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitForTransfer {
    /// The transfer saga.
    pub transfer_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Currency of the transfer.
    pub currency: String,
}

/// Saga step: credit the target account of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditForTransfer {
    /// The transfer saga.
    pub transfer_id: String,
    /// The debited account, to be refunded if the credit is refused.
    pub source_account_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Currency of the transfer.
    pub currency: String,
}

/// Saga compensation: pay back a debit whose transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundForTransfer {
    /// The transfer saga.
    pub transfer_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Why the transfer failed.
    pub reason: String,
}

avro_record! {
    AccountOpened => "tributary.bank.account.AccountOpened",
    Deposited => "tributary.bank.account.Deposited",
    Withdrawn => "tributary.bank.account.Withdrawn",
    AccountClosed => "tributary.bank.account.AccountClosed",
    DebitedForTransfer => "tributary.bank.account.DebitedForTransfer",
    CreditedForTransfer => "tributary.bank.account.CreditedForTransfer",
    RefundedForTransfer => "tributary.bank.account.RefundedForTransfer",
    TransferDebitRejected => "tributary.bank.account.TransferDebitRejected",
    TransferCreditRejected => "tributary.bank.account.TransferCreditRejected",
    OpenAccount => "tributary.bank.account.OpenAccount",
    Deposit => "tributary.bank.account.Deposit",
    Withdraw => "tributary.bank.account.Withdraw",
    CloseAccount => "tributary.bank.account.CloseAccount",
    DebitForTransfer => "tributary.bank.account.DebitForTransfer",
    CreditForTransfer => "tributary.bank.account.CreditForTransfer",
    RefundForTransfer => "tributary.bank.account.RefundForTransfer",
}

record_set! {
    /// Every event of the account aggregate (the `<prefix>.account.events` topic).
    pub enum AccountEvent {
        /// See [`AccountOpened`].
        Opened(AccountOpened),
        /// See [`Deposited`].
        Deposited(Deposited),
        /// See [`Withdrawn`].
        Withdrawn(Withdrawn),
        /// See [`AccountClosed`].
        Closed(AccountClosed),
        /// See [`DebitedForTransfer`].
        DebitedForTransfer(DebitedForTransfer),
        /// See [`CreditedForTransfer`].
        CreditedForTransfer(CreditedForTransfer),
        /// See [`RefundedForTransfer`].
        RefundedForTransfer(RefundedForTransfer),
        /// See [`TransferDebitRejected`].
        TransferDebitRejected(TransferDebitRejected),
        /// See [`TransferCreditRejected`].
        TransferCreditRejected(TransferCreditRejected),
        /// A command the aggregate refused: see [`CommandRefused`].
        CommandRefused(CommandRefused),
    }
}

record_set! {
    /// Every command the account aggregate accepts.
    pub enum AccountCommand {
        /// See [`OpenAccount`].
        Open(OpenAccount),
        /// See [`Deposit`].
        Deposit(Deposit),
        /// See [`Withdraw`].
        Withdraw(Withdraw),
        /// See [`CloseAccount`].
        Close(CloseAccount),
        /// See [`DebitForTransfer`].
        DebitForTransfer(DebitForTransfer),
        /// See [`CreditForTransfer`].
        CreditForTransfer(CreditForTransfer),
        /// See [`RefundForTransfer`].
        RefundForTransfer(RefundForTransfer),
    }
}
