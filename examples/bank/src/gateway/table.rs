//! The bank's command table: for every aggregate, its commands by their Avro record names, the
//! fields of each with the rule its value must follow, who may send it, and how its typed
//! record is built. The gateway's parser, messages and OpenAPI schema all follow it; the tests
//! check it against the record sets and the `.avsc` files, so it cannot fall behind the
//! contract.

use tributary_domain::Aggregate;
use tributary_producer::command_request::{
    AggregateSpec, CodeRule, CommandSpec, FieldKind, FieldSpec, Fields, IdSpec, Invalid, Sender,
};
use tributary_schemas::Record;

use crate::BankCommand;
use crate::account::Account;
use crate::email_claim::{EmailClaim, normalize_email};
use crate::records::account::{
    CloseAccount, CreditForTransfer, DebitForTransfer, Deposit, OpenAccount, RefundForTransfer,
    Withdraw,
};
use crate::records::email_claim::{ClaimEmail, ClaimPurpose, ReleaseEmail};
use crate::records::transfer::{
    CompleteTransfer, FailTransfer, RecordSourceDebited, RequestTransfer,
};
use crate::records::user::{
    ChangeUserEmail, DenyUserEmail, RegisterUser, RequestUserEmailChange, RequestUserRegistration,
};
use crate::transfer::Transfer;
use crate::user::User;

/// Every aggregate of the bank, in the order of the domain's `AGGREGATE_TYPES`.
pub(crate) static AGGREGATES: [AggregateSpec<BankCommand>; 4] = [
    AggregateSpec {
        name: Account::TYPE,
        id: IdSpec::PLAIN,
        commands: &ACCOUNT_COMMANDS,
    },
    AggregateSpec {
        name: EmailClaim::TYPE,
        id: EMAIL_ID,
        commands: &EMAIL_CLAIM_COMMANDS,
    },
    AggregateSpec {
        name: User::TYPE,
        id: IdSpec::PLAIN,
        commands: &USER_COMMANDS,
    },
    AggregateSpec {
        name: Transfer::TYPE,
        id: IdSpec::PLAIN,
        commands: &TRANSFER_COMMANDS,
    },
];

/// An e-mail claim is keyed by the normalized address.
const EMAIL_ID: IdSpec = IdSpec {
    kind: FieldKind::Email,
    normalize: Some(normalize_email),
    description: "The e-mail address (the Kafka key); it is normalized (trimmed, lower case) before use.",
};

/// An ISO 4217 currency code.
pub(crate) const CURRENCY: CodeRule = CodeRule {
    letters: 3,
    what: "a three-letter upper-case ISO 4217 code",
    example: "EUR",
};

/// The symbols of the `ClaimPurpose` Avro enum.
pub(crate) const PURPOSES: &[&str] = &["REGISTRATION", "EMAIL_CHANGE"];

/// A required currency code.
fn currency(fields: &Fields<'_>, name: &str) -> Result<String, Invalid> {
    fields.code(name, &CURRENCY)
}

/// A required claim purpose, spelled as the Avro enum's symbols.
fn purpose(fields: &Fields<'_>, name: &str) -> Result<ClaimPurpose, Invalid> {
    Ok(match fields.one_of(name, PURPOSES)? {
        "REGISTRATION" => ClaimPurpose::Registration,
        _ => ClaimPurpose::EmailChange,
    })
}

/// The saga whose steps are the transfer's debit, credit, refund and end.
const TRANSFER_SAGA: Sender = Sender::Saga("transfer");
/// The saga that claims the address a user asked for, confirms or denies the request, and
/// frees the address the user no longer uses.
const USER_SAGA: Sender = Sender::Saga("user");

/// Shorthand for a field of the table.
const fn field(name: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec::new(name, kind)
}

static ACCOUNT_COMMANDS: [CommandSpec<BankCommand>; 7] = [
    CommandSpec {
        name: "OpenAccount",
        full_name: OpenAccount::FULL_NAME,
        fields: &[
            field("owner_id", FieldKind::Id),
            field("currency", FieldKind::Code(CURRENCY)),
        ],
        sender: Sender::Client,
        build: |fields| {
            let command = OpenAccount {
                owner_id: fields.id("owner_id")?,
                currency: currency(fields, "currency")?,
            };
            Ok(BankCommand::Account(command.into()))
        },
    },
    CommandSpec {
        name: "Deposit",
        full_name: Deposit::FULL_NAME,
        fields: &[
            field("amount", FieldKind::Amount),
            field("reference", FieldKind::OptionalText),
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
        fields: &[field("amount", FieldKind::Amount)],
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
            field("transfer_id", FieldKind::Id),
            field("amount", FieldKind::Amount),
            field("currency", FieldKind::Code(CURRENCY)),
        ],
        sender: TRANSFER_SAGA,
        build: |fields| {
            let command = DebitForTransfer {
                transfer_id: fields.id("transfer_id")?,
                amount: fields.amount("amount")?,
                currency: currency(fields, "currency")?,
            };
            Ok(BankCommand::Account(command.into()))
        },
    },
    CommandSpec {
        name: "CreditForTransfer",
        full_name: CreditForTransfer::FULL_NAME,
        fields: &[
            field("transfer_id", FieldKind::Id),
            field("source_account_id", FieldKind::Id),
            field("amount", FieldKind::Amount),
            field("currency", FieldKind::Code(CURRENCY)),
        ],
        sender: TRANSFER_SAGA,
        build: |fields| {
            let command = CreditForTransfer {
                transfer_id: fields.id("transfer_id")?,
                source_account_id: fields.id("source_account_id")?,
                amount: fields.amount("amount")?,
                currency: currency(fields, "currency")?,
            };
            Ok(BankCommand::Account(command.into()))
        },
    },
    CommandSpec {
        name: "RefundForTransfer",
        full_name: RefundForTransfer::FULL_NAME,
        fields: &[
            field("transfer_id", FieldKind::Id),
            field("amount", FieldKind::Amount),
            field("reason", FieldKind::Text),
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

static EMAIL_CLAIM_COMMANDS: [CommandSpec<BankCommand>; 2] = [
    CommandSpec {
        name: "ClaimEmail",
        full_name: ClaimEmail::FULL_NAME,
        fields: &[
            field("user_id", FieldKind::Id),
            field("purpose", FieldKind::OneOf(PURPOSES)),
            field("display_name", FieldKind::OptionalText),
        ],
        sender: USER_SAGA,
        build: |fields| {
            let command = ClaimEmail {
                user_id: fields.id("user_id")?,
                purpose: purpose(fields, "purpose")?,
                display_name: fields.optional_text("display_name")?,
            };
            Ok(BankCommand::EmailClaim(command.into()))
        },
    },
    CommandSpec {
        name: "ReleaseEmail",
        full_name: ReleaseEmail::FULL_NAME,
        fields: &[field("user_id", FieldKind::Id)],
        sender: USER_SAGA,
        build: |fields| {
            let command = ReleaseEmail {
                user_id: fields.id("user_id")?,
            };
            Ok(BankCommand::EmailClaim(command.into()))
        },
    },
];

static USER_COMMANDS: [CommandSpec<BankCommand>; 5] = [
    CommandSpec {
        name: "RequestUserRegistration",
        full_name: RequestUserRegistration::FULL_NAME,
        fields: &[
            field("email", FieldKind::Email),
            field("display_name", FieldKind::Text),
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
        fields: &[field("new_email", FieldKind::Email)],
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
            field("email", FieldKind::Email),
            field("display_name", FieldKind::Text),
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
        fields: &[field("new_email", FieldKind::Email)],
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
        fields: &[
            field("email", FieldKind::Email),
            field("reason", FieldKind::Text),
        ],
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

static TRANSFER_COMMANDS: [CommandSpec<BankCommand>; 4] = [
    CommandSpec {
        name: "RequestTransfer",
        full_name: RequestTransfer::FULL_NAME,
        fields: &[
            field("source_account_id", FieldKind::Id),
            field("target_account_id", FieldKind::Id),
            field("amount", FieldKind::Amount),
            field("currency", FieldKind::Code(CURRENCY)),
        ],
        sender: Sender::Client,
        build: |fields| {
            let command = RequestTransfer {
                source_account_id: fields.id("source_account_id")?,
                target_account_id: fields.id("target_account_id")?,
                amount: fields.amount("amount")?,
                currency: currency(fields, "currency")?,
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
            field("reason", FieldKind::Text),
            field("compensated", FieldKind::Flag),
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
