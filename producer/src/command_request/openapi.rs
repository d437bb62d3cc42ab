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

use std::borrow::Cow;

use apache_avro::Schema as AvroSchema;
use apache_avro::schema::RecordSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, Discriminator, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};

use super::CommandRequest;
use super::catalog::{AGGREGATES, AggregateSpec, CommandSpec, FieldSpec, Kind};
use super::fields::MAX_ID_CHARS;

impl PartialSchema for CommandRequest {
    fn schema() -> RefOr<Schema> {
        client_aggregates()
            .fold(OneOfBuilder::new(), |one_of, aggregate| {
                one_of.item(Ref::from_schema_name(request_schema_name(aggregate)))
            })
            .discriminator(Some(Discriminator::with_mapping(
                "aggregate",
                client_aggregates().map(|aggregate| {
                    let schema = format!("#/components/schemas/{}", request_schema_name(aggregate));
                    (aggregate.name, schema)
                }),
            )))
            .description(Some(
                "A command for one aggregate. Answered 200 when accepted, 409 when the domain refuses it, 400/422 when malformed (naming the field), 504 on a timeout (retry with the same command_id), 503 when the broker is down.",
            ))
            .into()
    }
}

impl ToSchema for CommandRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CommandRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for aggregate in client_aggregates() {
            schemas.push((
                request_schema_name(aggregate),
                aggregate_request_schema(aggregate),
            ));
            for command in client_commands(aggregate) {
                schemas.push((command.name.to_owned(), command_record_schema(command)));
            }
        }
    }
}

/// The aggregate types that take commands from clients.
fn client_aggregates() -> impl Iterator<Item = &'static AggregateSpec> {
    AGGREGATES
        .iter()
        .filter(|aggregate| client_commands(aggregate).next().is_some())
}

/// The commands a client may send to `aggregate`.
fn client_commands(
    aggregate: &'static AggregateSpec,
) -> impl Iterator<Item = &'static CommandSpec> {
    aggregate
        .commands
        .iter()
        .filter(|command| command.is_for_clients())
}

/// The component name of the request schema of `aggregate`: `email-claim` → `EmailClaimRequest`.
fn request_schema_name(aggregate: &AggregateSpec) -> String {
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
fn aggregate_request_schema(aggregate: &'static AggregateSpec) -> RefOr<Schema> {
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
fn id_schema(aggregate: &AggregateSpec) -> ObjectBuilder {
    let id = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_ID_CHARS));
    if aggregate.keyed_by_email {
        id.description(Some(
            "The e-mail address (the Kafka key); it is normalized (trimmed, lower case) before use.",
        ))
    } else {
        id.description(Some("The aggregate's ID (the Kafka key)."))
    }
}

/// `command`: one of `aggregate`'s client commands, told apart by `type`.
fn command_schema(aggregate: &'static AggregateSpec) -> OneOfBuilder {
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
    match &tributary_bank::schemas().latest(full_name)?.schema {
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

    use super::super::tests::sample_body;
    use super::*;

    #[derive(OpenApi)]
    #[openapi(components(schemas(CommandRequest)))]
    struct Document;

    fn document() -> Value {
        serde_json::to_value(Document::openapi()).unwrap()
    }

    /// The component names `one_of` refers to.
    fn references(one_of: &Value) -> Vec<String> {
        one_of
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let reference = item["$ref"].as_str().unwrap();
                reference
                    .trim_start_matches("#/components/schemas/")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn each_aggregate_is_offered_exactly_its_own_client_commands() {
        let document = document();
        let schemas = &document["components"]["schemas"];
        let request = &schemas["CommandRequest"];
        assert_eq!(request["discriminator"]["propertyName"], "aggregate");
        assert_eq!(
            request["discriminator"]["mapping"]["user"],
            "#/components/schemas/UserRequest"
        );
        assert_eq!(
            references(&request["oneOf"]),
            ["AccountRequest", "UserRequest", "TransferRequest"]
        );
        let expected = [
            (
                "AccountRequest",
                "account",
                &["OpenAccount", "Deposit", "Withdraw", "CloseAccount"][..],
            ),
            (
                "UserRequest",
                "user",
                &["RequestUserRegistration", "RequestUserEmailChange"][..],
            ),
            ("TransferRequest", "transfer", &["RequestTransfer"][..]),
        ];
        for (name, aggregate, commands) in expected {
            let schema = &schemas[name];
            assert_eq!(
                schema["properties"]["aggregate"]["enum"],
                json!([aggregate])
            );
            assert_eq!(
                references(&schema["properties"]["command"]["oneOf"]),
                commands
            );
            assert_eq!(schema["additionalProperties"], json!(false));
            for command in commands {
                assert!(schemas[command].is_object(), "{command} is not a component");
            }
        }
        assert!(schemas.get("DebitForTransfer").is_none());
        assert!(schemas.get("ClaimEmail").is_none());
        assert!(schemas.get("EmailClaimRequest").is_none());
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
        let register = &document["components"]["schemas"]["RequestUserRegistration"];
        assert_eq!(
            register["required"],
            json!(["type", "email", "display_name"])
        );
        assert_eq!(
            register["properties"]["email"]["description"],
            "The address asked for; the user normalizes it (trimmed, lower case)."
        );
    }

    #[test]
    fn a_request_valid_by_the_description_is_accepted_and_no_other_command_is_described() {
        for aggregate in client_aggregates() {
            for command in client_commands(aggregate) {
                let body = sample_body(aggregate, command);
                let parsed = CommandRequest::parse(body.to_string().as_bytes());
                assert!(parsed.is_ok(), "{body}: {parsed:?}");
            }
            let others = client_aggregates()
                .filter(|other| other.name != aggregate.name)
                .flat_map(client_commands);
            for command in others {
                let body = sample_body(aggregate, command);
                let parsed = CommandRequest::parse(body.to_string().as_bytes());
                assert!(parsed.is_err(), "{body} is not described, yet accepted");
            }
        }
    }
}
