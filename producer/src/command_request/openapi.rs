//! The OpenAPI schema of the request body, built from the command table and the `.avsc`
//! files rather than written by hand.
//!
//! The body is read by hand (see `fields`), so there is no serde type for utoipa to derive a
//! schema from; deriving one from look-alike structs would be a second copy of the table that
//! could drift. Instead each client command becomes a component named by its record name,
//! with the rule of each field from the table and the words from the `.avsc` docs, and the
//! request's `command` is `oneOf` them, told apart by `type`. Saga steps are left out: the
//! gateway refuses them.

use std::borrow::Cow;

use apache_avro::Schema as AvroSchema;
use apache_avro::schema::RecordSchema;
use tributary_schemas::registry;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, Discriminator, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};

use super::CommandRequest;
use super::catalog::{AGGREGATES, CommandSpec, FieldSpec, Kind};
use super::fields::MAX_ID_CHARS;

impl PartialSchema for CommandRequest {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "A command for one aggregate. Answered 200 when accepted, 409 when the domain refuses it, 400/422 when malformed (naming the field), 504 on a timeout (retry with the same command_id), 503 when the broker is down.",
            ))
            .property("command_id", command_id_schema())
            .property("aggregate", aggregate_schema())
            .required("aggregate")
            .property("id", id_schema())
            .required("id")
            .property("command", command_schema())
            .required("command")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for CommandRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CommandRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for command in client_commands() {
            schemas.push((command.name.to_owned(), command_record_schema(command)));
        }
    }
}

/// Every command a client may send, aggregate by aggregate.
fn client_commands() -> impl Iterator<Item = &'static CommandSpec> {
    AGGREGATES
        .iter()
        .flat_map(|aggregate| aggregate.commands)
        .filter(|command| command.is_for_clients())
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

/// `aggregate`: the aggregate types that take client commands, and which commands each takes.
fn aggregate_schema() -> ObjectBuilder {
    let mut names = Vec::new();
    let mut lines = Vec::new();
    for aggregate in &AGGREGATES {
        let commands: Vec<&str> = aggregate
            .commands
            .iter()
            .filter(|command| command.is_for_clients())
            .map(|command| command.name)
            .collect();
        if !commands.is_empty() {
            names.push(aggregate.name);
            lines.push(format!("{}: {}", aggregate.name, commands.join(", ")));
        }
    }
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some(format!(
            "The aggregate type the command goes to; its commands are {}.",
            lines.join("; ")
        )))
}

/// `id`: the aggregate ID.
fn id_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_ID_CHARS))
        .description(Some(
            "The aggregate's ID (the Kafka key). For email-claim, the e-mail address; it is normalized (trimmed, lower case) before use.",
        ))
}

/// `command`: one of the client commands, told apart by `type`.
fn command_schema() -> OneOfBuilder {
    client_commands()
        .fold(OneOfBuilder::new(), |one_of, command| {
            one_of.item(Ref::from_schema_name(command.name))
        })
        .discriminator(Some(Discriminator::new("type")))
        .description(Some(
            "The command: `type` is its Avro record name, the other members its fields.",
        ))
}

/// The schema of one command: `type`, then its fields as in its `.avsc` file.
fn command_record_schema(command: &CommandSpec) -> RefOr<Schema> {
    let record = record_schema(command.full_name);
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
        if field.kind != Kind::OptionalText {
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
        Kind::Id => string.min_length(Some(1)).max_length(Some(MAX_ID_CHARS)),
        Kind::Text => string,
        Kind::OptionalText => {
            ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        }
        Kind::Amount => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::Custom("int64".into())))
            .minimum(Some(1)),
        Kind::Currency => string.pattern(Some("^[A-Z]{3}$")),
        Kind::Email => string
            .max_length(Some(MAX_ID_CHARS))
            .pattern(Some("^[^@]+@[^@]+$")),
        Kind::Purpose => string.enum_values(Some(["REGISTRATION", "EMAIL_CHANGE"])),
        Kind::Flag => ObjectBuilder::new().schema_type(Type::Boolean),
    }
}

/// The newest `.avsc` of the record `full_name`, as this build embeds it.
pub(super) fn record_schema(full_name: &str) -> Option<&'static RecordSchema> {
    match &registry().latest(full_name)?.schema {
        AvroSchema::Record(record) => Some(record),
        _ => None,
    }
}

/// The doc of field `name` of `record`.
fn field_doc(record: &RecordSchema, name: &str) -> Option<String> {
    let field = record.fields.iter().find(|field| field.name == name)?;
    field.doc.clone()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use utoipa::OpenApi;

    use super::*;

    #[derive(OpenApi)]
    #[openapi(components(schemas(CommandRequest)))]
    struct Document;

    fn document() -> Value {
        serde_json::to_value(Document::openapi()).unwrap()
    }

    #[test]
    fn the_request_schema_offers_exactly_the_client_commands() {
        let document = document();
        let schemas = &document["components"]["schemas"];
        let one_of = schemas["CommandRequest"]["properties"]["command"]["oneOf"]
            .as_array()
            .unwrap();
        let referenced: Vec<&str> = one_of
            .iter()
            .map(|item| item["$ref"].as_str().unwrap())
            .collect();
        let expected = [
            "OpenAccount",
            "Deposit",
            "Withdraw",
            "CloseAccount",
            "ClaimEmail",
            "RequestTransfer",
        ];
        let expected: Vec<String> = expected
            .iter()
            .map(|name| format!("#/components/schemas/{name}"))
            .collect();
        assert_eq!(referenced, expected);
        for name in ["OpenAccount", "Deposit", "ClaimEmail", "RequestTransfer"] {
            assert!(schemas[name].is_object(), "{name} is not a component");
        }
        assert!(schemas.get("DebitForTransfer").is_none());
        assert_eq!(
            schemas["CommandRequest"]["properties"]["aggregate"]["enum"],
            json!(["account", "email-claim", "transfer"])
        );
    }

    #[test]
    fn a_command_schema_carries_the_rules_and_the_avsc_docs() {
        let document = document();
        let deposit = &document["components"]["schemas"]["Deposit"];
        assert_eq!(deposit["required"], json!(["type", "amount"]));
        assert_eq!(deposit["additionalProperties"], json!(false));
        assert_eq!(deposit["description"], "Pay money into an open account.");
        let amount = &deposit["properties"]["amount"];
        assert_eq!(amount["type"], "integer");
        assert_eq!(amount["minimum"], 1);
        assert_eq!(
            amount["description"],
            "Amount in minor units of the account's currency (cents for EUR); always positive."
        );
        assert_eq!(
            deposit["properties"]["reference"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(deposit["properties"]["type"]["enum"], json!(["Deposit"]));
        let claim = &document["components"]["schemas"]["ClaimEmail"];
        assert_eq!(
            claim["properties"]["purpose"]["enum"],
            json!(["REGISTRATION", "EMAIL_CHANGE"])
        );
    }
}
