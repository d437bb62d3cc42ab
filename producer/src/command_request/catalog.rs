//! The commands a request may carry, as a domain describes them: for every aggregate type, its
//! commands by their Avro record names, the fields of each with the rule its value must follow,
//! who may send it, and how its typed command is built.
//!
//! One table drives the parser, the messages that list what an aggregate or a command has, and
//! the OpenAPI schema, so they cannot disagree. A domain writes its table as statics (see the
//! bank's `gateway::table` in `examples/bank`) and checks it against its record sets and `.avsc` files in its
//! tests, so it cannot fall behind the contract either.

use tributary_schemas::Codec;

use super::fields::{Fields, Invalid};

/// The commands of a domain that the gateway reads from JSON, over the codec that frames them.
#[derive(Debug)]
pub struct CommandCatalog<C: 'static> {
    /// Every aggregate type, in the domain's order.
    pub aggregates: &'static [AggregateSpec<C>],
    /// The codec of the domain, whose schemas also give the OpenAPI document its field docs.
    pub codec: Codec,
}

/// One aggregate type and the commands it accepts.
#[derive(Debug)]
pub struct AggregateSpec<C: 'static> {
    /// The aggregate type, as the domain's `Aggregate::TYPE`.
    pub name: &'static str,
    /// The rule for its ID, the request's `id`.
    pub id: IdSpec,
    /// Its commands, in the order of its record set.
    pub commands: &'static [CommandSpec<C>],
}

/// The rule for an aggregate's ID.
#[derive(Debug, Clone, Copy)]
pub struct IdSpec {
    /// The shape it must have: [`FieldKind::Id`], or [`FieldKind::Email`] for an aggregate
    /// keyed by an address.
    pub kind: FieldKind,
    /// Turns the ID as sent into the key (an e-mail address trimmed and lower-cased, say);
    /// applied before the shape is checked.
    pub normalize: Option<fn(&str) -> String>,
    /// What the ID is, for the OpenAPI document.
    pub description: &'static str,
}

impl IdSpec {
    /// An ID kept as sent: a non-blank string of at most `MAX_ID_CHARS` characters.
    pub const PLAIN: IdSpec = IdSpec {
        kind: FieldKind::Id,
        normalize: None,
        description: "The aggregate's ID (the Kafka key).",
    };
}

/// One command: how it is named and spelled, who sends it, and how it is built.
#[derive(Debug)]
pub struct CommandSpec<C> {
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
    pub build: fn(&Fields<'_>) -> Result<C, Invalid>,
}

/// Who may send a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// Anyone, through the gateway.
    Client,
    /// Only the saga runner, as a step of the named saga.
    Saga(&'static str),
}

/// One field of a command and the rule its value follows.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The field's name, as in the `.avsc` file.
    pub name: &'static str,
    /// The rule for its value.
    pub kind: FieldKind,
}

impl FieldSpec {
    /// A field named `name` following `kind`.
    pub const fn new(name: &'static str, kind: FieldKind) -> Self {
        Self { name, kind }
    }
}

/// The shape a field's value must have; each has a [`Fields`] reader and an OpenAPI schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// The ID of an aggregate: a non-blank string of at most `MAX_ID_CHARS` characters
    /// ([`Fields::id`]).
    Id,
    /// Any string ([`Fields::text`]).
    Text,
    /// A string or `null`, and may be left out ([`Fields::optional_text`]).
    OptionalText,
    /// A positive whole number that fits in 64 bits ([`Fields::amount`]).
    Amount,
    /// A fixed number of upper-case ASCII letters, like a currency code ([`Fields::code`]).
    Code(CodeRule),
    /// An ID with exactly one `@` and text on both sides ([`Fields::email`]).
    Email,
    /// One of the given symbols, like an Avro enum ([`Fields::one_of`]).
    OneOf(&'static [&'static str]),
    /// `true` or `false` ([`Fields::flag`]).
    Flag,
}

/// A code of `letters` upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRule {
    /// How many letters.
    pub letters: usize,
    /// What the code is, as the refusal says it: `a three-letter upper-case ISO 4217 code`.
    pub what: &'static str,
    /// A valid code, for the refusal: `EUR`.
    pub example: &'static str,
}

impl<C> CommandSpec<C> {
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

impl<C> AggregateSpec<C> {
    /// The command named `name`, if this aggregate has it.
    pub fn command(&self, name: &str) -> Option<&'static CommandSpec<C>> {
        self.commands.iter().find(|command| command.name == name)
    }

    /// The names of its commands, comma-separated, for messages.
    pub fn command_names(&self) -> String {
        let names: Vec<&str> = self.commands.iter().map(|command| command.name).collect();
        names.join(", ")
    }
}

impl<C> CommandCatalog<C> {
    /// The aggregate named `name`, if there is one.
    pub fn aggregate(&self, name: &str) -> Option<&'static AggregateSpec<C>> {
        self.aggregates
            .iter()
            .find(|aggregate| aggregate.name == name)
    }

    /// The aggregate names, comma-separated, for messages.
    pub fn aggregate_names(&self) -> String {
        let names: Vec<&str> = self
            .aggregates
            .iter()
            .map(|aggregate| aggregate.name)
            .collect();
        names.join(", ")
    }

    /// Whether any aggregate has a command named `name`.
    pub fn is_command_name(&self, name: &str) -> bool {
        self.aggregates
            .iter()
            .any(|aggregate| aggregate.command(name).is_some())
    }
}
