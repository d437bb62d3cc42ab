//! The body of `POST /v1/commands`, read into a typed command or refused with the member at
//! fault:
//!
//! ```json
//! {"command_id": "0190f0c4-…", "aggregate": "account", "id": "acc-1",
//!  "command": {"type": "Deposit", "amount": 500, "reference": "invoice 7"}}
//! ```
//!
//! `command_id` is optional (the gateway makes one up when it is absent; a client that wants
//! to retry safely sends its own). `command.type` is the Avro record name of the command and
//! the other members of `command` are that record's fields, as in its `.avsc` file.
//!
//! Only the shape is checked here — types, required and unknown members, positive amounts,
//! non-empty IDs of at most 200 characters, currency codes, the `@` of an e-mail address.
//! Whether the command makes sense for the aggregate's state (a balance, a status, a holder)
//! is the domain's decision, made by the aggregate's single writer.
//!
//! **One problem per answer.** A refused body reports its *first* problem, in a fixed order:
//! unknown members of the body, `command_id`, `aggregate`, `id`, `command`, `command.type`,
//! unknown members of `command`, then the command's fields in schema order. A client fixing
//! problems one at a time always converges, and the message is stable for a given body.
//!
//! **Clients send client commands.** Steps of the transfer and user sagas (`DebitForTransfer`,
//! `RegisterUser`, …) are issued by the saga runner with deterministic command IDs; a client
//! sending one could move money outside a transfer, so [`CommandRequest::parse`] refuses them.
//! [`CommandRequest::parse_any`] accepts every command, for internal tools and tests.
//!
//! Submodules: `fields` (reading one member with its message), `catalog` (the table of
//! aggregates, commands and fields that drives the parser), `error` ([`CommandRequestError`])
//! and `openapi` (the request's schema, derived from the same table).

mod catalog;
mod error;
mod fields;
mod openapi;
#[cfg(test)]
mod tests;

use serde::{Serialize, Serializer};
use serde_json::Value;
use tributary_bank::BankCommand;
use tributary_bank::email_claim::normalize_email;
use tributary_bank::records::account::AccountCommand;
use tributary_bank::records::email_claim::EmailClaimCommand;
use tributary_bank::records::transfer::TransferCommand;
use tributary_bank::records::user::UserCommand;
use uuid::Uuid;

use catalog::{AggregateSpec, CommandSpec, Sender};
use fields::{Fields, Invalid, check_email, check_id, describe, string};

pub use error::CommandRequestError;
pub use fields::MAX_ID_CHARS;

/// A command as a client asked for it, validated for shape.
///
/// Its JSON form (`Serialize`) is the request body that [`CommandRequest::parse_any`] reads
/// back into an equal value.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRequest {
    /// The client's command ID, if it sent one; repeating a command ID is what makes a retry
    /// safe.
    pub command_id: Option<Uuid>,
    /// The ID of the aggregate the command goes to: the Kafka key. For an e-mail claim it is
    /// the normalized address (see [`normalize_email`]).
    pub aggregate_id: String,
    /// The command; its variant names the aggregate type.
    pub command: BankCommand,
}

/// Who sent the body, which decides whether saga steps are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// A client through the gateway: saga steps are refused.
    Clients,
    /// An internal tool or a test: every command is accepted.
    Internal,
}

/// The members of a request body.
const REQUEST_MEMBERS: [&str; 4] = ["command_id", "aggregate", "id", "command"];

impl CommandRequest {
    /// Reads a client's request body, refusing commands only sagas may send.
    pub fn parse(body: &[u8]) -> Result<Self, CommandRequestError> {
        parse(body, Audience::Clients)
    }

    /// Reads a request body carrying any command of the bank, saga steps included: for
    /// internal tools and tests, never for the public gateway.
    pub fn parse_any(body: &[u8]) -> Result<Self, CommandRequestError> {
        parse(body, Audience::Internal)
    }

    /// The aggregate type the command goes to, one of the domain's `AGGREGATE_TYPES`.
    pub fn aggregate_type(&self) -> &'static str {
        self.command.aggregate_type()
    }
}

/// Reads `body` as JSON and then as a request of `audience`.
fn parse(body: &[u8], audience: Audience) -> Result<CommandRequest, CommandRequestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| CommandRequestError::NotJson {
            detail: error.to_string(),
        })?;
    let Value::Object(object) = &value else {
        return Err(CommandRequestError::NotAnObject {
            found: describe(&value),
        });
    };
    Ok(read_request(&Fields::new("", object), audience)?)
}

/// Reads the members of the body in the documented order.
fn read_request(body: &Fields<'_>, audience: Audience) -> Result<CommandRequest, Invalid> {
    body.reject_unknown(
        &REQUEST_MEMBERS,
        "a command request has command_id, aggregate, id, command",
    )?;
    let command_id = read_command_id(body)?;
    let aggregate = read_aggregate(body)?;
    let aggregate_id = read_aggregate_id(body, aggregate)?;
    let command = read_command(body, aggregate, audience)?;
    Ok(CommandRequest {
        command_id,
        aggregate_id,
        command,
    })
}

/// The optional `command_id`: a UUID in any of its text forms; `null` counts as absent.
fn read_command_id(body: &Fields<'_>) -> Result<Option<Uuid>, Invalid> {
    let Some(value) = body.optional("command_id") else {
        return Ok(None);
    };
    let text = value.as_str().ok_or_else(|| {
        let problem = format!("expected a UUID string, got {}", describe(value));
        body.invalid("command_id", problem)
    })?;
    Uuid::parse_str(text)
        .map(Some)
        .map_err(|_| body.invalid("command_id", format!("{} is not a UUID", describe(value))))
}

/// The `aggregate`: one of the bank's aggregate types.
fn read_aggregate(body: &Fields<'_>) -> Result<&'static AggregateSpec, Invalid> {
    let value = body.required("aggregate")?;
    let names = catalog::aggregate_names();
    let problem = match value.as_str() {
        Some(name) => match catalog::aggregate(name) {
            Some(aggregate) => return Ok(aggregate),
            None => format!(
                "unknown aggregate {}; expected one of {names}",
                describe(value)
            ),
        },
        None => format!("expected one of {names}, got {}", describe(value)),
    };
    Err(body.invalid("aggregate", problem))
}

/// The `id` of the aggregate, normalized when it is an e-mail address.
fn read_aggregate_id(body: &Fields<'_>, aggregate: &AggregateSpec) -> Result<String, Invalid> {
    let value = body.required("id")?;
    let checked = string(value).and_then(|raw| {
        let id = if aggregate.keyed_by_email {
            normalize_email(raw)
        } else {
            raw.to_owned()
        };
        check_id(&id)?;
        if aggregate.keyed_by_email {
            check_email(&id)?;
        }
        Ok(id)
    });
    checked.map_err(|problem| body.invalid("id", problem))
}

/// The `command` object: its type, then its fields.
fn read_command(
    body: &Fields<'_>,
    aggregate: &AggregateSpec,
    audience: Audience,
) -> Result<BankCommand, Invalid> {
    let value = body.required("command")?;
    let Value::Object(object) = value else {
        let problem = format!(
            "expected an object with \"type\" and the command's fields, got {}",
            describe(value)
        );
        return Err(body.invalid("command", problem));
    };
    let fields = Fields::new("command", object);
    let spec = read_command_type(&fields, aggregate, audience)?;
    let mut known = spec.field_names();
    known.push("type");
    fields.reject_unknown(&known, &spec.describe_fields())?;
    (spec.build)(&fields)
}

/// `command.type`: a command of `aggregate` that `audience` may send.
fn read_command_type(
    fields: &Fields<'_>,
    aggregate: &AggregateSpec,
    audience: Audience,
) -> Result<&'static CommandSpec, Invalid> {
    let value = fields.required("type")?;
    let Some(name) = value.as_str() else {
        let problem = format!(
            "expected the name of a command such as \"Deposit\", got {}",
            describe(value)
        );
        return Err(fields.invalid("type", problem));
    };
    let problem = match aggregate.command(name) {
        Some(spec) => match (audience, spec.sender) {
            (Audience::Clients, Sender::Saga(saga)) => format!(
                "{} is a step of the {saga} saga and cannot be sent by clients",
                describe(value)
            ),
            _ => return Ok(spec),
        },
        None if catalog::is_command_name(name) => format!(
            "{} is not a command of aggregate \"{}\"; its commands are {}",
            describe(value),
            aggregate.name,
            aggregate.command_names()
        ),
        None => format!(
            "unknown command {}; the commands of aggregate \"{}\" are {}",
            describe(value),
            aggregate.name,
            aggregate.command_names()
        ),
    };
    Err(fields.invalid("type", problem))
}

/// The request body's form, borrowed from a [`CommandRequest`].
#[derive(Serialize)]
struct RequestBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    command_id: Option<Uuid>,
    aggregate: &'static str,
    id: &'a str,
    command: CommandBody<'a>,
}

/// The `command` object of a request body: `type` and the record's fields.
struct CommandBody<'a>(&'a BankCommand);

/// A record's fields with its `type` beside them.
#[derive(Serialize)]
struct Tagged<'a, T> {
    #[serde(rename = "type")]
    name: &'static str,
    #[serde(flatten)]
    record: &'a T,
}

impl Serialize for CommandRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RequestBody {
            command_id: self.command_id,
            aggregate: self.aggregate_type(),
            id: &self.aggregate_id,
            command: CommandBody(&self.command),
        }
        .serialize(serializer)
    }
}

impl Serialize for CommandBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let full_name = self.0.full_name();
        // The record name is the last segment of the full Avro name.
        let name = full_name
            .rsplit_once('.')
            .map_or(full_name, |(_, name)| name);
        let s = serializer;
        match self.0 {
            BankCommand::Account(command) => match command {
                AccountCommand::Open(record) => tagged(name, record, s),
                AccountCommand::Deposit(record) => tagged(name, record, s),
                AccountCommand::Withdraw(record) => tagged(name, record, s),
                AccountCommand::Close(record) => tagged(name, record, s),
                AccountCommand::DebitForTransfer(record) => tagged(name, record, s),
                AccountCommand::CreditForTransfer(record) => tagged(name, record, s),
                AccountCommand::RefundForTransfer(record) => tagged(name, record, s),
            },
            BankCommand::EmailClaim(command) => match command {
                EmailClaimCommand::Claim(record) => tagged(name, record, s),
                EmailClaimCommand::Release(record) => tagged(name, record, s),
            },
            BankCommand::User(command) => match command {
                UserCommand::RequestRegistration(record) => tagged(name, record, s),
                UserCommand::RequestEmailChange(record) => tagged(name, record, s),
                UserCommand::Register(record) => tagged(name, record, s),
                UserCommand::ChangeEmail(record) => tagged(name, record, s),
                UserCommand::DenyEmail(record) => tagged(name, record, s),
            },
            BankCommand::Transfer(command) => match command {
                TransferCommand::Request(record) => tagged(name, record, s),
                TransferCommand::RecordSourceDebited(record) => tagged(name, record, s),
                TransferCommand::Complete(record) => tagged(name, record, s),
                TransferCommand::Fail(record) => tagged(name, record, s),
            },
        }
    }
}

/// Serializes `record` as an object with `type` set to `name` beside its fields.
fn tagged<T: Serialize, S: Serializer>(
    name: &'static str,
    record: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    Tagged { name, record }.serialize(serializer)
}
