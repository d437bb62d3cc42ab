//! Records of the transfer aggregate: the saga that moves money between two accounts and
//! ends completed or failed (refunded when the debit had happened). Each event carries what the
//! saga's next step needs, so the saga runner keeps no state of its own.

use serde::{Deserialize, Serialize};

use tributary_schemas::protocol::CommandRefused;
use tributary_schemas::{avro_record, record_set};

/// A transfer was requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequested {
    /// Account to take the money from.
    pub source_account_id: String,
    /// Account to put the money into.
    pub target_account_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// The source account was debited; carries what the credit step needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferSourceDebited {
    /// Account the money was taken from.
    pub source_account_id: String,
    /// Account to credit next.
    pub target_account_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// The target account was credited: the money moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferCompleted {}

/// The transfer did not happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferFailed {
    /// Why.
    pub reason: String,
    /// Whether a debit was refunded.
    pub compensated: bool,
}

/// Move money from one account to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestTransfer {
    /// Account to take the money from.
    pub source_account_id: String,
    /// Account to put the money into.
    pub target_account_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// Saga step: note the debit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSourceDebited {}

/// Saga step: close a transfer whose target account was credited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteTransfer {}

/// Saga step: end a transfer that could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailTransfer {
    /// Why.
    pub reason: String,
    /// Whether a debit was refunded.
    pub compensated: bool,
}

avro_record! {
    TransferRequested => "tributary.bank.transfer.TransferRequested",
    TransferSourceDebited => "tributary.bank.transfer.TransferSourceDebited",
    TransferCompleted => "tributary.bank.transfer.TransferCompleted",
    TransferFailed => "tributary.bank.transfer.TransferFailed",
    RequestTransfer => "tributary.bank.transfer.RequestTransfer",
    RecordSourceDebited => "tributary.bank.transfer.RecordSourceDebited",
    CompleteTransfer => "tributary.bank.transfer.CompleteTransfer",
    FailTransfer => "tributary.bank.transfer.FailTransfer",
}

record_set! {
    /// Every event of the transfer aggregate.
    pub enum TransferEvent {
        /// See [`TransferRequested`].
        Requested(TransferRequested),
        /// See [`TransferSourceDebited`].
        SourceDebited(TransferSourceDebited),
        /// See [`TransferCompleted`].
        Completed(TransferCompleted),
        /// See [`TransferFailed`].
        Failed(TransferFailed),
        /// A command the aggregate refused: see [`CommandRefused`].
        CommandRefused(CommandRefused),
    }
}

record_set! {
    /// Every command the transfer aggregate accepts.
    pub enum TransferCommand {
        /// See [`RequestTransfer`].
        Request(RequestTransfer),
        /// See [`RecordSourceDebited`].
        RecordSourceDebited(RecordSourceDebited),
        /// See [`CompleteTransfer`].
        Complete(CompleteTransfer),
        /// See [`FailTransfer`].
        Fail(FailTransfer),
    }
}
