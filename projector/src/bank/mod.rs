//! Read tables of the reference bank domain: accounts and their ledger, users, transfers.
//! E-mail claims are kept only in the aggregate-state table (the command side needs them;
//! readers find users by address in `users`).

mod account;
mod transfer;
mod user;

pub use account::{AccountReadModel, LedgerRow, ledger_rows};
pub use transfer::TransferReadModel;
pub use user::{UserReadModel, is_listed, status_label};
