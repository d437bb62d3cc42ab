//! Read tables of the reference bank domain: accounts and their ledger, users, transfers.
//! E-mail claims are kept only in the aggregate-state table (the command side needs them;
//! readers find users by address in `users`).

mod account;
mod transfer;
mod user;

pub use account::{AccountReadModel, LedgerRow, ledger_rows};
pub use transfer::TransferReadModel;
pub use user::{UserReadModel, is_listed, status_label};

use std::sync::Arc;

use tributary_projector::Projection;
use tributary_projector::projection::{ReadModelTopic, SourceTopic};
use tributary_projector::read_api::ReadRoutes;
use tributary_projector::read_model::NoReadTables;
use tributary_runtime::Topology;
use tributary_store::migrations::MigrationSet;

use crate::Bank;
use crate::email_claim::EmailClaim;

/// The bank's read tables (`examples/bank/migrations`), recorded in
/// `_tributary_bank_migrations`.
pub fn read_model_migrations() -> MigrationSet {
    MigrationSet::new(sqlx::migrate!("./migrations"), "_tributary_bank_migrations")
}

/// The bank projection: accounts with their ledger, users, transfers, and e-mail claims (kept
/// in the aggregate-state table only), read through the bank's routes.
#[derive(Debug, Clone, Copy, Default)]
pub struct BankProjection;

impl Projection for BankProjection {
    type Domain = Bank;

    fn domain(&self) -> &Bank {
        &Bank
    }

    fn sources(&self, topology: &Topology) -> Vec<Arc<dyn SourceTopic>> {
        vec![
            Arc::new(ReadModelTopic::new(topology, AccountReadModel)),
            Arc::new(ReadModelTopic::new(
                topology,
                NoReadTables::<EmailClaim>::default(),
            )),
            Arc::new(ReadModelTopic::new(topology, UserReadModel)),
            Arc::new(ReadModelTopic::new(topology, TransferReadModel)),
        ]
    }

    fn migrations(&self) -> Option<MigrationSet> {
        Some(read_model_migrations())
    }

    fn read_routes(&self) -> ReadRoutes {
        crate::read_api::routes()
    }
}
