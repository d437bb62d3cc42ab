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
//! **Clients send client commands.** Steps of a saga (the bank's `DebitForTransfer`,
//! `RegisterUser`, …) are issued by the saga runner with deterministic command IDs; a client
//! sending one could move money outside a transfer, so [`CommandCatalog::parse`] refuses them.
//! [`CommandCatalog::parse_any`] accepts every command, for internal tools and tests.
//!
//! Which aggregates, commands and fields exist is the domain's [`CommandCatalog`]; this module
//! knows no domain. Submodules: `fields` (reading one member with its message), `catalog` (the
//! table types), `error` ([`CommandRequestError`]), `openapi` (the request's schema, derived
//! from the same table) and `reader` (the catalog behind the type-erased [`CommandReader`] the
//! gateway holds).

mod catalog;
mod error;
mod fields;
mod openapi;
mod reader;
#[cfg(test)]
pub(crate) mod sample;

use serde::{Serialize, Serializer};
use serde_json::Value;
use tributary_domain::DomainRecord;
use uuid::Uuid;

use fields::{check_email, check_id, describe, string};

pub use catalog::{
    AggregateSpec, CodeRule, CommandCatalog, CommandSpec, FieldKind, FieldSpec, IdSpec, Sender,
};
pub use error::CommandRequestError;
pub use fields::{Fields, Invalid, MAX_ID_CHARS};
pub use openapi::REQUEST_SCHEMA_NAME;
pub use reader::{CommandReader, ReadCommand};

/// A command as a client asked for it, validated for shape.
///
/// Its JSON form (`Serialize`) is the request body that [`CommandCatalog::parse_any`] reads
/// back into an equal value.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRequest<C> {
    /// The client's command ID, if it sent one; repeating a command ID is what makes a retry
    /// safe.
    pub command_id: Option<Uuid>,
    /// The ID of the aggregate the command goes to: the Kafka key, normalized by its
    /// aggregate's [`IdSpec`].
    pub aggregate_id: String,
    /// The command; its variant names the aggregate type.
    pub command: C,
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

impl<C: DomainRecord> CommandCatalog<C> {
    /// Reads a client's request body, refusing commands only sagas may send.
    pub fn parse(&self, body: &[u8]) -> Result<CommandRequest<C>, CommandRequestError> {
        parse(self, body, Audience::Clients)
    }

    /// Reads a request body carrying any command of the domain, saga steps included: for
    /// internal tools and tests, never for the public gateway.
    pub fn parse_any(&self, body: &[u8]) -> Result<CommandRequest<C>, CommandRequestError> {
        parse(self, body, Audience::Internal)
    }
}

impl<C: DomainRecord> CommandRequest<C> {
    /// The aggregate type the command goes to, one of the domain's aggregate types.
    pub fn aggregate_type(&self) -> &'static str {
        self.command.aggregate_type()
    }
}

/// Reads `body` as JSON and then as a request of `audience`.
fn parse<C>(
    catalog: &CommandCatalog<C>,
    body: &[u8],
    audience: Audience,
) -> Result<CommandRequest<C>, CommandRequestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| CommandRequestError::NotJson {
            detail: error.to_string(),
        })?;
    let Value::Object(object) = &value else {
        return Err(CommandRequestError::NotAnObject {
            found: describe(&value),
        });
    };
    Ok(read_request(catalog, &Fields::new("", object), audience)?)
}

/// Reads the members of the body in the documented order.
fn read_request<C>(
    catalog: &CommandCatalog<C>,
    body: &Fields<'_>,
    audience: Audience,
) -> Result<CommandRequest<C>, Invalid> {
    body.reject_unknown(
        &REQUEST_MEMBERS,
        "a command request has command_id, aggregate, id, command",
    )?;
    let command_id = read_command_id(body)?;
    let aggregate = read_aggregate(catalog, body)?;
    let aggregate_id = read_aggregate_id(body, aggregate)?;
    let command = read_command(catalog, body, aggregate, audience)?;
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

/// The `aggregate`: one of the domain's aggregate types.
fn read_aggregate<C>(
    catalog: &CommandCatalog<C>,
    body: &Fields<'_>,
) -> Result<&'static AggregateSpec<C>, Invalid> {
    let value = body.required("aggregate")?;
    let names = catalog.aggregate_names();
    let problem = match value.as_str() {
        Some(name) => match catalog.aggregate(name) {
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

/// The `id` of the aggregate, normalized by its rule.
fn read_aggregate_id<C>(
    body: &Fields<'_>,
    aggregate: &AggregateSpec<C>,
) -> Result<String, Invalid> {
    let value = body.required("id")?;
    let checked = string(value).and_then(|raw| {
        let id = match aggregate.id.normalize {
            Some(normalize) => normalize(raw),
            None => raw.to_owned(),
        };
        check_id(&id)?;
        if aggregate.id.kind == FieldKind::Email {
            check_email(&id)?;
        }
        Ok(id)
    });
    checked.map_err(|problem| body.invalid("id", problem))
}

/// The `command` object: its type, then its fields.
fn read_command<C>(
    catalog: &CommandCatalog<C>,
    body: &Fields<'_>,
    aggregate: &AggregateSpec<C>,
    audience: Audience,
) -> Result<C, Invalid> {
    let value = body.required("command")?;
    let Value::Object(object) = value else {
        let problem = format!(
            "expected an object with \"type\" and the command's fields, got {}",
            describe(value)
        );
        return Err(body.invalid("command", problem));
    };
    let fields = Fields::new("command", object);
    let spec = read_command_type(catalog, &fields, aggregate, audience)?;
    let mut known = spec.field_names();
    known.push("type");
    fields.reject_unknown(&known, &spec.describe_fields())?;
    (spec.build)(&fields)
}

/// `command.type`: a command of `aggregate` that `audience` may send.
fn read_command_type<C>(
    catalog: &CommandCatalog<C>,
    fields: &Fields<'_>,
    aggregate: &AggregateSpec<C>,
    audience: Audience,
) -> Result<&'static CommandSpec<C>, Invalid> {
    let value = fields.required("type")?;
    let Some(name) = value.as_str() else {
        let problem = format!(
            "expected the name of a command such as {:?}, got {}",
            aggregate
                .commands
                .iter()
                .find(|command| command.is_for_clients())
                .or(aggregate.commands.first())
                .map_or("", |command| command.name),
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
        None if catalog.is_command_name(name) => format!(
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
struct RequestBody<'a, C> {
    #[serde(skip_serializing_if = "Option::is_none")]
    command_id: Option<Uuid>,
    aggregate: &'static str,
    id: &'a str,
    command: Tagged<'a, C>,
}

/// A command's fields with its record name as `type` beside them.
#[derive(Serialize)]
struct Tagged<'a, C> {
    #[serde(rename = "type")]
    name: &'static str,
    #[serde(flatten)]
    record: &'a C,
}

impl<C: DomainRecord + Serialize> Serialize for CommandRequest<C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RequestBody {
            command_id: self.command_id,
            aggregate: self.aggregate_type(),
            id: &self.aggregate_id,
            command: Tagged {
                name: record_name(self.command.full_name()),
                record: &self.command,
            },
        }
        .serialize(serializer)
    }
}

/// The record name: the last segment of a full Avro name.
pub fn record_name(full_name: &str) -> &str {
    full_name
        .rsplit_once('.')
        .map_or(full_name, |(_, name)| name)
}
