//! The commands a request may carry: for every aggregate of the bank, its commands by their
//! Avro record names, the fields of each with the rule its value must follow, who may send it,
//! and how its typed record is built.
//!
//! One table drives the parser, the messages that list what an aggregate or a command has, and
//! the OpenAPI schema, so they cannot disagree; the tests check the table against the domain's
//! record sets and the `.avsc` files, so it cannot fall behind the contract either.

use tributary_bank::BankCommand;
use tributary_bank::account::Account;
use tributary_bank::email_claim::EmailClaim;
use tributary_bank::records::account::{
    CloseAccount, CreditForTransfer, DebitForTransfer, Deposit, OpenAccount, RefundForTransfer,
    Withdraw,
};
use tributary_bank::records::email_claim::{ClaimEmail, ReleaseEmail};
use tributary_bank::records::transfer::{
    CompleteTransfer, FailTransfer, RecordSourceDebited, RequestTransfer,
};
use tributary_bank::records::user::{
    ChangeUserEmail, DenyUserEmail, RegisterUser, RequestUserEmailChange, RequestUserRegistration,
};
use tributary_bank::transfer::Transfer;
use tributary_bank::user::User;
use tributary_domain::Aggregate;
use tributary_schemas::Record;

use super::fields::{Fields, Invalid};

/// One aggregate type and the commands it accepts.
#[derive(Debug)]
pub(super) struct AggregateSpec {
    /// The aggregate type, one of the domain's `AGGREGATE_TYPES`.
    pub name: &'static str,
    /// Whether the aggregate ID is an e-mail address, normalized before use.
    pub keyed_by_email: bool,
    /// Its commands, in the order of the domain's record set.
    pub commands: &'static [CommandSpec],
}

/// One command: how it is named and spelled, who sends it, and how it is built.
#[derive(Debug)]
pub(super) struct CommandSpec {
    /// The Avro record name, which is the request's `command.type`.
    pub name: &'static str,
    /// The full Avro name, e.g. `tributary.bank.account.Deposit`.
    pub full_name: &'static str,
    /// The record's fields in schema order.
    pub fields: &'static [FieldSpec],
    /// Whether clients may send it, or only a saga.
    pub sender: Sender,
    /// Reads the fields (in schema order, so the first problem reported is the first field's)
    /// and builds the command.
    pub build: fn(&Fields<'_>) -> Result<BankCommand, Invalid>,
}

/// Who may send a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sender {
    /// Anyone, through the gateway.
    Client,
    /// Only the saga runner, as a step of the named saga.
    Saga(&'static str),
}

/// One field of a command and the rule its value follows.
#[derive(Debug)]
pub(super) struct FieldSpec {
    /// The field's name, as in the `.avsc` file.
    pub name: &'static str,
    /// The rule for its value.
    pub kind: Kind,
}

/// The shape a field's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The ID of an aggregate: a non-blank string of at most 200 characters.
    Id,
    /// Any string.
    Text,
    /// A string or `null`, and may be left out.
    OptionalText,
    /// A positive whole number of minor units.
    Amount,
    /// Three upper-case letters.
    Currency,
    /// An ID with exactly one `@` and text on both sides.
    Email,
    /// `REGISTRATION` or `EMAIL_CHANGE`.
    Purpose,
    /// `true` or `false`.
    Flag,
}

impl CommandSpec {
    /// Whether clients may send the command.
    pub fn is_for_clients(&self) -> bool {
        self.sender == Sender::Client
    }

    /// The names of the fields, in schema order.
    pub fn field_names(&self) -> Vec<&'static str> {
        self.fields.iter().map(|field| field.name).collect()
    }

    /// `Deposit has amount, reference` (or `CloseAccount has no fields`), for the message
    /// refusing an unknown field.
    pub fn describe_fields(&self) -> String {
        if self.fields.is_empty() {
            format!("{} has no fields", self.name)
        } else {
            format!("{} has {}", self.name, self.field_names().join(", "))
        }
    }
}

impl AggregateSpec {
    /// The command named `name`, if this aggregate has it.
    pub fn command(&self, name: &str) -> Option<&'static CommandSpec> {
        self.commands.iter().find(|command| command.name == name)
    }

    /// The names of its commands, comma-separated, for messages.
    pub fn command_names(&self) -> String {
        let names: Vec<&str> = self.commands.iter().map(|command| command.name).collect();
        names.join(", ")
    }
}

/// The aggregate named `name`, if there is one.
pub(super) fn aggregate(name: &str) -> Option<&'static AggregateSpec> {
    AGGREGATES.iter().find(|aggregate| aggregate.name == name)
}

/// The aggregate names, comma-separated, for messages.
pub(super) fn aggregate_names() -> String {
    let names: Vec<&str> = AGGREGATES.iter().map(|aggregate| aggregate.name).collect();
    names.join(", ")
}

/// Whether any aggregate has a command named `name`.
pub(super) fn is_command_name(name: &str) -> bool {
    AGGREGATES
        .iter()
        .any(|aggregate| aggregate.command(name).is_some())
}

/// Every aggregate of the bank, in the order of the domain's `AGGREGATE_TYPES`.
pub(super) static AGGREGATES: [AggregateSpec; 4] = [
    AggregateSpec {
        name: Account::TYPE,
        keyed_by_email: false,
        commands: &ACCOUNT_COMMANDS,
    },
    AggregateSpec {
        name: EmailClaim::TYPE,
        keyed_by_email: true,
        commands: &EMAIL_CLAIM_COMMANDS,
    },
    AggregateSpec {
        name: User::TYPE,
        keyed_by_email: false,
        commands: &USER_COMMANDS,
    },
    AggregateSpec {
        name: Transfer::TYPE,
        keyed_by_email: false,
        commands: &TRANSFER_COMMANDS,
    },
];

/// The saga whose steps are the transfer's debit, credit, refund and end.
const TRANSFER_SAGA: Sender = Sender::Saga("transfer");
/// The saga that claims the address a user asked for, confirms or denies the request, and
/// frees the address the user no longer uses.
const USER_SAGA: Sender = Sender::Saga("user");

/// Shorthand for a field of the table.
const fn field(name: &'static str, kind: Kind) -> FieldSpec {
    FieldSpec { name, kind }
}

static ACCOUNT_COMMANDS: [CommandSpec; 7] = [
    CommandSpec {
        name: "OpenAccount",
        full_name: OpenAccount::FULL_NAME,
        fields: &[
            field("owner_id", Kind::Id),
            field("currency", Kind::Currency),
        ],
        sender: Sender::Client,
        build: |fields| {
            let command = OpenAccount {
                owner_id: fields.id("owner_id")?,
                currency: fields.currency("currency")?,
            };
            Ok(BankCommand::Account(command.into()))
        },
    },
    CommandSpec {
        name: "Deposit",
        full_name: Deposit::FULL_NAME,
        fields: &[
            field("amount", Kind::Amount),
            field("reference", Kind::OptionalText),
        ],
        sender: Sender::Client,
        build: |fields| {
            let command = Deposit {
                amount: fields.amount("amount")?,
                reference: fields.optional_text("reference")?,
            };
            Ok(BankCommand::Account(command.into()))
        },
    },
    CommandSpec {
        name: "Withdraw",
        full_name: Withdraw::FULL_NAME,
        fields: &[field("amount", Kind::Amount)],
        sender: Sender::Client,
        build: |fields| {
            let command = Withdraw {
                amount: fields.amount("amount")?,
            };
            Ok(BankCommand::Account(command.into()))
        },
    },
    CommandSpec {
        name: "CloseAccount",
        full_name: CloseAccount::FULL_NAME,
        fields: &[],
        sender: Sender::Client,
        build: |_| Ok(BankCommand::Account(CloseAccount {}.into())),
    },
    CommandSpec {
        name: "DebitForTransfer",
        full_name: DebitForTransfer::FULL_NAME,
        fields: &[
            field("transfer_id", Kind::Id),
            field("amount", Kind::Amount),
            field("currency", Kind::Currency),
        ],
        sender: TRANSFER_SAGA,
        build: |fields| {
            let command = DebitForTransfer {
                transfer_id: fields.id("transfer_id")?,
                amount: fields.amount("amount")?,
                currency: fields.currency("currency")?,
            };
            Ok(BankCommand::Account(command.into()))
        },
    },
    CommandSpec {
        name: "CreditForTransfer",
        full_name: CreditForTransfer::FULL_NAME,
        fields: &[
            field("transfer_id", Kind::Id),
            field("source_account_id", Kind::Id),
            field("amount", Kind::Amount),
            field("currency", Kind::Currency),
        ],
        sender: TRANSFER_SAGA,
        build: |fields| {
            let command = CreditForTransfer {
                transfer_id: fields.id("transfer_id")?,
                source_account_id: fields.id("source_account_id")?,
                amount: fields.amount("amount")?,
                currency: fields.currency("currency")?,
            };
            Ok(BankCommand::Account(command.into()))
        },
    },
    CommandSpec {
        name: "RefundForTransfer",
        full_name: RefundForTransfer::FULL_NAME,
        fields: &[
            field("transfer_id", Kind::Id),
            field("amount", Kind::Amount),
            field("reason", Kind::Text),
        ],
        sender: TRANSFER_SAGA,
        build: |fields| {
            let command = RefundForTransfer {
                transfer_id: fields.id("transfer_id")?,
                amount: fields.amount("amount")?,
                reason: fields.text("reason")?,
            };
            Ok(BankCommand::Account(command.into()))
        },
    },
];

static EMAIL_CLAIM_COMMANDS: [CommandSpec; 2] = [
    CommandSpec {
        name: "ClaimEmail",
        full_name: ClaimEmail::FULL_NAME,
        fields: &[
            field("user_id", Kind::Id),
            field("purpose", Kind::Purpose),
            field("display_name", Kind::OptionalText),
        ],
        sender: USER_SAGA,
        build: |fields| {
            let command = ClaimEmail {
                user_id: fields.id("user_id")?,
                purpose: fields.purpose("purpose")?,
                display_name: fields.optional_text("display_name")?,
            };
            Ok(BankCommand::EmailClaim(command.into()))
        },
    },
    CommandSpec {
        name: "ReleaseEmail",
        full_name: ReleaseEmail::FULL_NAME,
        fields: &[field("user_id", Kind::Id)],
        sender: USER_SAGA,
        build: |fields| {
            let command = ReleaseEmail {
                user_id: fields.id("user_id")?,
            };
            Ok(BankCommand::EmailClaim(command.into()))
        },
    },
];

static USER_COMMANDS: [CommandSpec; 5] = [
    CommandSpec {
        name: "RequestUserRegistration",
        full_name: RequestUserRegistration::FULL_NAME,
        fields: &[
            field("email", Kind::Email),
            field("display_name", Kind::Text),
        ],
        sender: Sender::Client,
        build: |fields| {
            let command = RequestUserRegistration {
                email: fields.email("email")?,
                display_name: fields.text("display_name")?,
            };
            Ok(BankCommand::User(command.into()))
        },
    },
    CommandSpec {
        name: "RequestUserEmailChange",
        full_name: RequestUserEmailChange::FULL_NAME,
        fields: &[field("new_email", Kind::Email)],
        sender: Sender::Client,
        build: |fields| {
            let command = RequestUserEmailChange {
                new_email: fields.email("new_email")?,
            };
            Ok(BankCommand::User(command.into()))
        },
    },
    CommandSpec {
        name: "RegisterUser",
        full_name: RegisterUser::FULL_NAME,
        fields: &[
            field("email", Kind::Email),
            field("display_name", Kind::Text),
        ],
        sender: USER_SAGA,
        build: |fields| {
            let command = RegisterUser {
                email: fields.email("email")?,
                display_name: fields.text("display_name")?,
            };
            Ok(BankCommand::User(command.into()))
        },
    },
    CommandSpec {
        name: "ChangeUserEmail",
        full_name: ChangeUserEmail::FULL_NAME,
        fields: &[field("new_email", Kind::Email)],
        sender: USER_SAGA,
        build: |fields| {
            let command = ChangeUserEmail {
                new_email: fields.email("new_email")?,
            };
            Ok(BankCommand::User(command.into()))
        },
    },
    CommandSpec {
        name: "DenyUserEmail",
        full_name: DenyUserEmail::FULL_NAME,
        fields: &[field("email", Kind::Email), field("reason", Kind::Text)],
        sender: USER_SAGA,
        build: |fields| {
            let command = DenyUserEmail {
                email: fields.email("email")?,
                reason: fields.text("reason")?,
            };
            Ok(BankCommand::User(command.into()))
        },
    },
];

static TRANSFER_COMMANDS: [CommandSpec; 4] = [
    CommandSpec {
        name: "RequestTransfer",
        full_name: RequestTransfer::FULL_NAME,
        fields: &[
            field("source_account_id", Kind::Id),
            field("target_account_id", Kind::Id),
            field("amount", Kind::Amount),
            field("currency", Kind::Currency),
        ],
        sender: Sender::Client,
        build: |fields| {
            let command = RequestTransfer {
                source_account_id: fields.id("source_account_id")?,
                target_account_id: fields.id("target_account_id")?,
                amount: fields.amount("amount")?,
                currency: fields.currency("currency")?,
            };
            Ok(BankCommand::Transfer(command.into()))
        },
    },
    CommandSpec {
        name: "RecordSourceDebited",
        full_name: RecordSourceDebited::FULL_NAME,
        fields: &[],
        sender: TRANSFER_SAGA,
        build: |_| Ok(BankCommand::Transfer(RecordSourceDebited {}.into())),
    },
    CommandSpec {
        name: "CompleteTransfer",
        full_name: CompleteTransfer::FULL_NAME,
        fields: &[],
        sender: TRANSFER_SAGA,
        build: |_| Ok(BankCommand::Transfer(CompleteTransfer {}.into())),
    },
    CommandSpec {
        name: "FailTransfer",
        full_name: FailTransfer::FULL_NAME,
        fields: &[
            field("reason", Kind::Text),
            field("compensated", Kind::Flag),
        ],
        sender: TRANSFER_SAGA,
        build: |fields| {
            let command = FailTransfer {
                reason: fields.text("reason")?,
                compensated: fields.flag("compensated")?,
            };
            Ok(BankCommand::Transfer(command.into()))
        },
    },
];
