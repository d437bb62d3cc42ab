//! The reference domain, a bank: accounts that hold money, e-mail claims that keep addresses
//! unique, users created from a won claim, and transfers that move money between accounts.
//!
//! It is written against Tributary's public API only, the way a team writes its own domain:
//! - [`records`]: the typed events and commands of each aggregate, whose contract is the `.avsc`
//!   files under `examples/bank/avro`, embedded by `build.rs` and served by [`schemas`];
//! - one file per aggregate implementing [`Aggregate`] over those records;
//! - [`sagas`]: the processes spanning aggregates. Because a saga sees events of every aggregate
//!   and sends commands to any of them, [`BankEvent`] and [`BankCommand`] wrap the
//!   per-aggregate enums into one type each.

pub mod account;
pub mod email_claim;
pub mod gateway;
pub mod read_api;
pub mod read_model;
pub mod records;
pub mod sagas;
pub mod transfer;
pub mod user;

use std::sync::LazyLock;

use tributary_domain::{Aggregate, AggregateVisitor, Domain};
use tributary_schemas::{Codec, SchemaRegistry};

use crate::records::account::{AccountCommand, AccountEvent};
use crate::records::email_claim::{EmailClaimCommand, EmailClaimEvent};
use crate::records::transfer::{TransferCommand, TransferEvent};
use crate::records::user::{UserCommand, UserEvent};

/// The bank's `.avsc` files, as (path relative to `examples/bank/avro`, contents).
static SCHEMA_FILES: &[(&str, &str)] = tributary_schemas::embedded_schema_files!();

static SCHEMAS: LazyLock<&'static SchemaRegistry> = LazyLock::new(|| {
    match SchemaRegistry::with_protocol(SCHEMA_FILES.iter().copied()) {
        Ok(registry) => registry.leak(),
        // The `the_bank_schemas_form_a_valid_registry` test parses them, so a build whose
        // schemas do not parse cannot pass the test suite.
        Err(error) => panic!("the bank schemas embedded in this build are invalid: {error}"),
    }
});

/// The bank's schema registry: the pipeline's own records and every version of the bank's.
pub fn schemas() -> &'static SchemaRegistry {
    *SCHEMAS
}

/// The bank's `.avsc` files alone, as (path relative to `examples/bank/avro`, contents).
pub fn schema_files() -> &'static [(&'static str, &'static str)] {
    SCHEMA_FILES
}

/// A codec over [`schemas`] writing Avro single-object encoding.
pub fn codec() -> Codec {
    Codec::single_object(schemas())
}

/// The aggregate types of the bank, one events topic each.
pub const AGGREGATE_TYPES: [&str; 4] = [
    account::Account::TYPE,
    email_claim::EmailClaim::TYPE,
    user::User::TYPE,
    transfer::Transfer::TYPE,
];

/// Whether `code` has the shape of an ISO 4217 currency code: three upper-case ASCII letters.
///
/// Only the shape is checked; which currencies exist is not the domain's business.
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_uppercase())
}

tributary_domain::domain_records! {
    /// An event of any bank aggregate, as the saga runner consumes them.
    pub enum BankEvent {
        /// An event of an account.
        Account(AccountEvent) => account::Account,
        /// An event of an e-mail claim.
        EmailClaim(EmailClaimEvent) => email_claim::EmailClaim,
        /// An event of a user.
        User(UserEvent) => user::User,
        /// An event of a transfer.
        Transfer(TransferEvent) => transfer::Transfer,
    }
}

tributary_domain::domain_records! {
    /// A command to any bank aggregate, as the saga runner sends them.
    pub enum BankCommand {
        /// A command to an account.
        Account(AccountCommand) => account::Account,
        /// A command to an e-mail claim.
        EmailClaim(EmailClaimCommand) => email_claim::EmailClaim,
        /// A command to a user.
        User(UserCommand) => user::User,
        /// A command to a transfer.
        Transfer(TransferCommand) => transfer::Transfer,
    }
}

/// The bank as a [`Domain`]: its schemas, its four aggregate types and its saga.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bank;

impl Domain for Bank {
    type Command = BankCommand;
    type Event = BankEvent;
    type Saga = sagas::BankSaga;

    fn name(&self) -> &'static str {
        "bank"
    }

    fn schemas(&self) -> &'static SchemaRegistry {
        schemas()
    }

    fn visit_aggregates<V: AggregateVisitor>(&self, visitor: &mut V) {
        visitor.visit::<account::Account>();
        visitor.visit::<email_claim::EmailClaim>();
        visitor.visit::<user::User>();
        visitor.visit::<transfer::Transfer>();
    }

    fn saga(&self) -> &sagas::BankSaga {
        &sagas::BankSaga
    }
}

#[cfg(test)]
mod tests {
    use crate::records::account::{AccountClosed, CloseAccount};
    use crate::records::transfer::{CompleteTransfer, TransferCompleted};

    use tributary_domain::DomainRecord;

    use super::*;

    #[test]
    fn the_bank_schemas_form_a_valid_registry() {
        let registry = SchemaRegistry::with_protocol(SCHEMA_FILES.iter().copied());
        assert!(registry.is_ok(), "{registry:?}");
        assert!(
            schemas()
                .latest("tributary.bank.account.Deposited")
                .is_some()
        );
    }

    #[test]
    fn every_bank_schema_history_is_backward_compatible() {
        let problems = tributary_schemas::compatibility::check_histories(schemas());
        let report: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            report.is_empty(),
            "incompatible schema changes:\n{}",
            report.join("\n")
        );
        let evolved = schemas()
            .history("tributary.bank.account.Deposited")
            .count();
        assert_eq!(evolved, 2, "Deposited ships a real evolution (v1, v2)");
    }

    #[test]
    fn aggregate_types_name_each_events_topic_once() {
        assert_eq!(Bank.aggregate_types(), AGGREGATE_TYPES);
        assert_eq!(
            AGGREGATE_TYPES,
            ["account", "email-claim", "user", "transfer"]
        );
    }

    #[test]
    fn a_wrapped_event_names_its_aggregate_type_and_record() {
        let event = BankEvent::from(AccountEvent::from(AccountClosed {}));
        assert_eq!(event.aggregate_type(), "account");
        assert_eq!(event.full_name(), "tributary.bank.account.AccountClosed");
        let event = BankEvent::from(TransferEvent::from(TransferCompleted {}));
        assert_eq!(event.aggregate_type(), "transfer");
    }

    #[test]
    fn a_wrapped_command_names_its_aggregate_type_and_encodes_like_its_record() {
        let command = BankCommand::from(AccountCommand::from(CloseAccount {}));
        assert_eq!(command.aggregate_type(), "account");
        let codec = crate::codec();
        assert_eq!(
            command.encode(&codec).unwrap(),
            codec.encode(&CloseAccount {}).unwrap()
        );
        let command = BankCommand::from(TransferCommand::from(CompleteTransfer {}));
        assert_eq!(command.aggregate_type(), "transfer");
        assert_eq!(
            command.full_name(),
            "tributary.bank.transfer.CompleteTransfer"
        );
    }

    #[test]
    fn currency_codes_are_three_upper_case_ascii_letters() {
        assert!(is_currency_code("EUR"));
        for bad in ["eur", "EU", "EURO", "E1R", "", "ÉUR"] {
            assert!(!is_currency_code(bad), "{bad:?} accepted");
        }
    }
}
