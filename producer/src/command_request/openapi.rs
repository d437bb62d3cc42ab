//! The OpenAPI schema of the request body, built from the command table and the `.avsc`
//! files rather than written by hand.
//!
//! The body is read by hand (see `fields`), so there is no serde type for utoipa to derive a
//! schema from; deriving one from look-alike structs would be a second copy of the table that
//! could drift. Instead each client command becomes a component named by its record name,
//! with the rule of each field from the table and the words from the `.avsc` docs. The request
//! is `oneOf` one schema per aggregate type (told apart by `aggregate`), whose `command` is
//! `oneOf` that aggregate's own commands (told apart by `type`), so a request that is valid by
//! the description names a command its aggregate takes. Saga steps are left out: the gateway
//! refuses them.

use apache_avro::Schema as AvroSchema;
use apache_avro::schema::RecordSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, Discriminator, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaFormat,
    SchemaType, Type,
};

use super::catalog::{AggregateSpec, CommandCatalog, CommandSpec, FieldKind, FieldSpec};
use super::fields::MAX_ID_CHARS;

/// The name of the request's component in the OpenAPI document.
pub const REQUEST_SCHEMA_NAME: &str = "CommandRequest";

/// The `CommandRequest` schema: one of the request schemas of the aggregates clients command.
pub(super) fn request_schema<C>(catalog: &CommandCatalog<C>) -> RefOr<Schema> {
    client_aggregates(catalog)
        .fold(OneOfBuilder::new(), |one_of, aggregate| {
            one_of.item(Ref::from_schema_name(request_schema_name(aggregate)))
        })
        .discriminator(Some(Discriminator::with_mapping(
            "aggregate",
            client_aggregates(catalog).map(|aggregate| {
                let schema = format!("#/components/schemas/{}", request_schema_name(aggregate));
                (aggregate.name, schema)
            }),
        )))
        .description(Some(
            "A command for one aggregate. Answered 200 when accepted, 409 when the domain refuses it, 400/422 when malformed (naming the field), 504 on a timeout (retry with the same command_id), 503 when the broker is down.",
        ))
        .into()
}

/// The components `CommandRequest` refers to: a request schema per aggregate type that takes
/// client commands, and a schema per client command.
pub(super) fn components<C>(catalog: &CommandCatalog<C>) -> Vec<(String, RefOr<Schema>)> {
    let mut schemas = Vec::new();
    for aggregate in client_aggregates(catalog) {
        schemas.push((
            request_schema_name(aggregate),
            aggregate_request_schema(aggregate),
        ));
        for command in client_commands(aggregate) {
            let schema = command_record_schema(catalog, command);
            schemas.push((command.name.to_owned(), schema));
        }
    }
    schemas
}

/// The aggregate types that take commands from clients.
fn client_aggregates<C>(
    catalog: &CommandCatalog<C>,
) -> impl Iterator<Item = &'static AggregateSpec<C>> {
    catalog
        .aggregates
        .iter()
        .filter(|aggregate| client_commands(aggregate).next().is_some())
}

/// The commands a client may send to `aggregate`.
fn client_commands<C>(
    aggregate: &'static AggregateSpec<C>,
) -> impl Iterator<Item = &'static CommandSpec<C>> {
    aggregate
        .commands
        .iter()
        .filter(|command| command.is_for_clients())
}

/// The component name of the request schema of `aggregate`: `email-claim` → `EmailClaimRequest`.
fn request_schema_name<C>(aggregate: &AggregateSpec<C>) -> String {
    let mut name: String = aggregate
        .name
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Request");
    name
}

/// A request for `aggregate`: its type, its ID, and one of its own commands.
fn aggregate_request_schema<C>(aggregate: &'static AggregateSpec<C>) -> RefOr<Schema> {
    let commands: Vec<&str> = client_commands(aggregate).map(|c| c.name).collect();
    ObjectBuilder::new()
        .title(Some(request_schema_name(aggregate)))
        .description(Some(format!(
            "A command for a {} aggregate: one of {}.",
            aggregate.name,
            commands.join(", ")
        )))
        .property("command_id", command_id_schema())
        .property(
            "aggregate",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([aggregate.name]))
                .description(Some("The aggregate type the command goes to.")),
        )
        .required("aggregate")
        .property("id", id_schema(aggregate))
        .required("id")
        .property("command", command_schema(aggregate))
        .required("command")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

/// `command_id`: an optional UUID.
fn command_id_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .description(Some(
            "Identifies the command for retries: a repeated command_id returns the first outcome and causes no new event. Made up by the gateway when absent.",
        ))
}

/// `id`: the aggregate ID.
fn id_schema<C>(aggregate: &AggregateSpec<C>) -> ObjectBuilder {
    let id = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_ID_CHARS))
        .description(Some(aggregate.id.description));
    if aggregate.id.kind == FieldKind::Email {
        id.pattern(Some("^[^@]+@[^@]+$"))
    } else {
        id
    }
}

/// `command`: one of `aggregate`'s client commands, told apart by `type`.
fn command_schema<C>(aggregate: &'static AggregateSpec<C>) -> OneOfBuilder {
    client_commands(aggregate)
        .fold(OneOfBuilder::new(), |one_of, command| {
            one_of.item(Ref::from_schema_name(command.name))
        })
        .discriminator(Some(Discriminator::with_mapping(
            "type",
            client_commands(aggregate).map(|command| {
                (
                    command.name,
                    format!("#/components/schemas/{}", command.name),
                )
            }),
        )))
        .description(Some(
            "The command: `type` is its Avro record name, the other members its fields.",
        ))
}

/// The schema of one command: `type`, then its fields as in its `.avsc` file.
fn command_record_schema<C>(
    catalog: &CommandCatalog<C>,
    command: &CommandSpec<C>,
) -> RefOr<Schema> {
    let record = record_schema(catalog, command.full_name);
    let type_schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([command.name]));
    let mut object = ObjectBuilder::new()
        .title(Some(command.name))
        .description(record.and_then(|record| record.doc.clone()))
        .property("type", type_schema)
        .required("type");
    for field in command.fields {
        let doc = record.and_then(|record| field_doc(record, field.name));
        object = object.property(field.name, field_schema(field).description(doc));
        if field.kind != FieldKind::OptionalText {
            object = object.required(field.name);
        }
    }
    object
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

/// The schema of a field's value, from its rule.
fn field_schema(field: &FieldSpec) -> ObjectBuilder {
    let string = ObjectBuilder::new().schema_type(Type::String);
    match field.kind {
        FieldKind::Id => string.min_length(Some(1)).max_length(Some(MAX_ID_CHARS)),
        FieldKind::Text => string,
        FieldKind::OptionalText => {
            ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        }
        FieldKind::Amount => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::Custom("int64".into())))
            .minimum(Some(1)),
        FieldKind::Code(rule) => string.pattern(Some(format!("^[A-Z]{{{}}}$", rule.letters))),
        FieldKind::Email => string
            .max_length(Some(MAX_ID_CHARS))
            .pattern(Some("^[^@]+@[^@]+$")),
        FieldKind::OneOf(symbols) => string.enum_values(Some(symbols.iter().copied())),
        FieldKind::Flag => ObjectBuilder::new().schema_type(Type::Boolean),
    }
}

/// The newest `.avsc` of the record `full_name`, as the catalog's codec knows it.
fn record_schema<C>(catalog: &CommandCatalog<C>, full_name: &str) -> Option<&'static RecordSchema> {
    match &catalog.codec.registry().latest(full_name)?.schema {
        AvroSchema::Record(record) => Some(record),
        _ => None,
    }
}

/// The doc of field `name` of `record`.
fn field_doc(record: &RecordSchema, name: &str) -> Option<String> {
    let field = record.fields.iter().find(|field| field.name == name)?;
    field.doc.clone()
}
