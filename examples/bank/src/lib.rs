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
pub mod records;
pub mod sagas;
pub mod transfer;
pub mod user;

use std::sync::LazyLock;

use tributary_domain::Aggregate;
use tributary_schemas::{Codec, EncodeError, RecordSet, SchemaRegistry};

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

/// An event of any bank aggregate, as the saga runner consumes them.
#[derive(Debug, Clone, PartialEq)]
pub enum BankEvent {
    /// An event of an account.
    Account(AccountEvent),
    /// An event of an e-mail claim.
    EmailClaim(EmailClaimEvent),
    /// An event of a user.
    User(UserEvent),
    /// An event of a transfer.
    Transfer(TransferEvent),
}

/// A command to any bank aggregate, as the saga runner sends them.
#[derive(Debug, Clone, PartialEq)]
pub enum BankCommand {
    /// A command to an account.
    Account(AccountCommand),
    /// A command to an e-mail claim.
    EmailClaim(EmailClaimCommand),
    /// A command to a user.
    User(UserCommand),
    /// A command to a transfer.
    Transfer(TransferCommand),
}

/// Implements the dispatch shared by [`BankEvent`] and [`BankCommand`]: each variant holds the
/// record set of one aggregate, so every method delegates to it.
macro_rules! bank_union {
    ($name:ident, $what:literal, {
        $($variant:ident($inner:ty) => $aggregate:ty),+ $(,)?
    }) => {
        impl $name {
            #[doc = concat!("The aggregate type the ", $what, " belongs to: one of [`AGGREGATE_TYPES`].")]
            pub fn aggregate_type(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => <$aggregate as Aggregate>::TYPE),+
                }
            }

            #[doc = concat!("Full Avro name of the ", $what, "'s record (the `event-type` header).")]
            pub fn full_name(&self) -> &'static str {
                match self {
                    $($name::$variant(inner) => inner.full_name()),+
                }
            }

            #[doc = concat!("Encodes the ", $what, " with `codec`, framed with its writer schema.")]
            pub fn encode(&self, codec: &Codec) -> Result<Vec<u8>, EncodeError> {
                match self {
                    $($name::$variant(inner) => inner.encode(codec)),+
                }
            }

            #[doc = concat!("Decodes a ", $what, " of `aggregate_type` from framed bytes; `None` for an aggregate type the bank does not have.")]
            pub fn decode(
                aggregate_type: &str,
                codec: &Codec,
                bytes: &[u8],
            ) -> Option<Result<Self, tributary_schemas::DecodeError>> {
                $(
                    if aggregate_type == <$aggregate as Aggregate>::TYPE {
                        return Some(<$inner as RecordSet>::decode(codec, bytes).map($name::$variant));
                    }
                )+
                None
            }
        }

        $(
            impl From<$inner> for $name {
                fn from(inner: $inner) -> Self {
                    $name::$variant(inner)
                }
            }
        )+
    };
}

bank_union!(BankEvent, "event", {
    Account(AccountEvent) => account::Account,
    EmailClaim(EmailClaimEvent) => email_claim::EmailClaim,
    User(UserEvent) => user::User,
    Transfer(TransferEvent) => transfer::Transfer,
});

bank_union!(BankCommand, "command", {
    Account(AccountCommand) => account::Account,
    EmailClaim(EmailClaimCommand) => email_claim::EmailClaim,
    User(UserCommand) => user::User,
    Transfer(TransferCommand) => transfer::Transfer,
});

#[cfg(test)]
mod tests {
    use crate::records::account::{AccountClosed, CloseAccount};
    use crate::records::transfer::{CompleteTransfer, TransferCompleted};

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
