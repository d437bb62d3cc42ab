//! Read tables of the reference bank domain: accounts and their ledger, users, transfers.
//! E-mail claims are kept only in the aggregate-state table (the command side needs them;
//! readers find users by address in `users`).

mod account;
mod transfer;
mod user;

pub use account::{AccountReadModel, LedgerRow, ledger_rows};
pub use transfer::TransferReadModel;
pub use user::{UserReadModel, is_listed, status_label};

use tributary_store::migrations::MigrationSet;

/// The bank's read tables (`projector/migrations`), recorded in `_tributary_bank_migrations`.
pub fn read_model_migrations() -> MigrationSet {
    MigrationSet::new(sqlx::migrate!("./migrations"), "_tributary_bank_migrations")
}
