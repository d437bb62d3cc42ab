//! The request body's contract: exact messages for bad bodies (they are part of the API), every
//! client command read from its documented JSON, every command of the domain covered by the
//! table, and the table agreeing with the `.avsc` files.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tributary_domain::DomainRecord;
use tributary_producer::command_request::{
    AggregateSpec, CommandRequest, CommandRequestError, CommandSpec, FieldKind,
};
use uuid::Uuid;

use crate::records::account::{AccountCommand, CloseAccount, Deposit, OpenAccount, Withdraw};
use crate::records::email_claim::{ClaimEmail, ClaimPurpose, EmailClaimCommand};
use crate::records::transfer::{RequestTransfer, TransferCommand};
use crate::records::user::{RequestUserEmailChange, RequestUserRegistration, UserCommand};
use crate::{AGGREGATE_TYPES, BankCommand};
use tributary_schemas::RecordSet;

use super::table::{AGGREGATES, CURRENCY, PURPOSES};

/// A parse of the bank's catalog, as the gateway makes it.
fn parse(body: &[u8]) -> Result<CommandRequest<BankCommand>, CommandRequestError> {
    super::catalog().parse(body)
}

/// A parse of every command, saga steps included.
fn parse_any(body: &[u8]) -> Result<CommandRequest<BankCommand>, CommandRequestError> {
    super::catalog().parse_any(body)
}

/// The newest `.avsc` of the record `full_name`.
fn record_schema(full_name: &str) -> Option<&'static apache_avro::schema::RecordSchema> {
    match &crate::schemas().latest(full_name)?.schema {
        apache_avro::Schema::Record(record) => Some(record),
        _ => None,
    }
}

const COMMAND_ID: &str = "0190f0c4-5e4b-7d2a-9c3e-8b1f2a3c4d5e";

/// Parses `body` as a client's and returns the refusal as (status, field, message).
fn refused(body: &Value) -> (StatusCode, Option<String>, String) {
    refusal(parse(body.to_string().as_bytes()))
}

/// Parses `body` as an internal tool's and returns the refusal as (status, field, message).
fn refused_internally(body: &Value) -> (StatusCode, Option<String>, String) {
    refusal(parse_any(body.to_string().as_bytes()))
}

fn refusal(
    result: Result<CommandRequest<BankCommand>, CommandRequestError>,
) -> (StatusCode, Option<String>, String) {
    let error = result.expect_err("the body was accepted");
    (
        error.status(),
        error.field().map(str::to_owned),
        error.to_string(),
    )
}

/// A 422 naming `field`, with `message`.
fn invalid(field: &str, message: &str) -> (StatusCode, Option<String>, String) {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(field.to_owned()),
        message.to_owned(),
    )
}

fn deposit(command: Value) -> Value {
    json!({"aggregate": "account", "id": "acc-1", "command": command})
}

// ---- Bodies that are refused, with their exact messages -------------------------------------

#[test]
fn a_body_that_is_not_json_is_a_400_quoting_the_parser() {
    let error = parse(br#"{"aggregate": "#).unwrap_err();
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error.field(), None);
    assert_eq!(
        error.to_string(),
        "request body is not valid JSON: EOF while parsing a value at line 1 column 14"
    );
    let error = parse(b"\xff").unwrap_err();
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    let error = parse(b"").unwrap_err();
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn json_that_is_not_an_object_is_a_422_without_a_field() {
    assert_eq!(
        refused(&json!([1, 2])),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            "request body must be a JSON object with aggregate, id and command, got [1,2]"
                .to_owned()
        )
    );
}

#[test]
fn a_negative_amount_is_refused_naming_the_field() {
    assert_eq!(
        refused(&deposit(json!({"type": "Deposit", "amount": -5}))),
        invalid(
            "command.amount",
            "command.amount: expected a positive whole number, got -5"
        )
    );
}

#[test]
fn an_unknown_aggregate_is_refused_listing_the_aggregates() {
    let body = json!({"aggregate": "acount", "id": "acc-1", "command": {"type": "CloseAccount"}});
    assert_eq!(
        refused(&body),
        invalid(
            "aggregate",
            "aggregate: unknown aggregate \"acount\"; expected one of account, email-claim, user, transfer"
        )
    );
    let body = json!({"aggregate": ["account"], "id": "acc-1", "command": {}});
    assert_eq!(
        refused(&body),
        invalid(
            "aggregate",
            "aggregate: expected one of account, email-claim, user, transfer, got [\"account\"]"
        )
    );
}

#[test]
fn a_command_of_another_aggregate_is_refused_listing_the_aggregates_commands() {
    let body =
        json!({"aggregate": "user", "id": "u-1", "command": {"type": "Deposit", "amount": 5}});
    assert_eq!(
        refused(&body),
        invalid(
            "command.type",
            "command.type: \"Deposit\" is not a command of aggregate \"user\"; its commands are RequestUserRegistration, RequestUserEmailChange, RegisterUser, ChangeUserEmail, DenyUserEmail"
        )
    );
}

#[test]
fn an_unknown_command_is_refused_listing_the_aggregates_commands() {
    assert_eq!(
        refused(&deposit(json!({"type": "Depost", "amount": 5}))),
        invalid(
            "command.type",
            "command.type: unknown command \"Depost\"; the commands of aggregate \"account\" are OpenAccount, Deposit, Withdraw, CloseAccount, DebitForTransfer, CreditForTransfer, RefundForTransfer"
        )
    );
    assert_eq!(
        refused(&deposit(json!({"amount": 5}))),
        invalid("command.type", "command.type: missing")
    );
    assert_eq!(
        refused(&deposit(json!({"type": 7}))),
        invalid(
            "command.type",
            "command.type: expected the name of a command such as \"OpenAccount\", got 7"
        )
    );
}

#[test]
fn an_empty_id_is_refused() {
    let body = json!({"aggregate": "account", "id": "", "command": {"type": "CloseAccount"}});
    assert_eq!(refused(&body), invalid("id", "id: must not be empty"));
    let body = json!({"aggregate": "account", "id": " \t", "command": {"type": "CloseAccount"}});
    assert_eq!(refused(&body), invalid("id", "id: must not be empty"));
    let body = json!({"aggregate": "account", "id": 12, "command": {"type": "CloseAccount"}});
    assert_eq!(
        refused(&body),
        invalid("id", "id: expected a string, got 12")
    );
}

#[test]
fn an_id_longer_than_200_characters_is_refused() {
    let body =
        json!({"aggregate": "account", "id": "a".repeat(201), "command": {"type": "CloseAccount"}});
    assert_eq!(
        refused(&body),
        invalid("id", "id: is 201 characters long; the most is 200")
    );
}

#[test]
fn a_command_id_that_is_not_a_uuid_is_refused() {
    let body = json!({"command_id": "xyz", "aggregate": "account", "id": "acc-1", "command": {"type": "CloseAccount"}});
    assert_eq!(
        refused(&body),
        invalid("command_id", "command_id: \"xyz\" is not a UUID")
    );
    let body = json!({"command_id": 42, "aggregate": "account", "id": "acc-1", "command": {"type": "CloseAccount"}});
    assert_eq!(
        refused(&body),
        invalid("command_id", "command_id: expected a UUID string, got 42")
    );
}

#[test]
fn a_missing_field_is_refused_by_its_path() {
    let body = json!({"aggregate": "account", "id": "acc-1", "command": {"type": "OpenAccount", "owner_id": "u-1"}});
    assert_eq!(
        refused(&body),
        invalid("command.currency", "command.currency: missing")
    );
    let body = json!({"aggregate": "account", "command": {"type": "CloseAccount"}});
    assert_eq!(refused(&body), invalid("id", "id: missing"));
    assert_eq!(
        refused(&json!({"id": "acc-1"})),
        invalid("aggregate", "aggregate: missing")
    );
    assert_eq!(
        refused(&json!({"aggregate": "account", "id": "acc-1"})),
        invalid("command", "command: missing")
    );
}

#[test]
fn an_unknown_field_is_refused_listing_the_commands_fields() {
    assert_eq!(
        refused(&deposit(json!({"type": "Deposit", "amout": 5}))),
        invalid(
            "command.amout",
            "command.amout: unknown field; Deposit has amount, reference"
        )
    );
    assert_eq!(
        refused(&deposit(json!({"type": "CloseAccount", "force": true}))),
        invalid(
            "command.force",
            "command.force: unknown field; CloseAccount has no fields"
        )
    );
    let body = json!({"aggregate": "account", "id": "acc-1", "command": {"type": "CloseAccount"}, "comand_id": COMMAND_ID});
    assert_eq!(
        refused(&body),
        invalid(
            "comand_id",
            "comand_id: unknown field; a command request has command_id, aggregate, id, command"
        )
    );
}

#[test]
fn saga_steps_are_refused_to_clients() {
    let body = json!({"aggregate": "account", "id": "acc-1", "command": {
        "type": "DebitForTransfer", "transfer_id": "t-1", "amount": 5, "currency": "EUR"}});
    assert_eq!(
        refused(&body),
        invalid(
            "command.type",
            "command.type: \"DebitForTransfer\" is a step of the transfer saga and cannot be sent by clients"
        )
    );
    let body = json!({"aggregate": "email-claim", "id": "ann@example.org", "command": {
        "type": "ClaimEmail", "user_id": "u-1", "purpose": "REGISTRATION", "display_name": "Ann"}});
    assert_eq!(
        refused(&body),
        invalid(
            "command.type",
            "command.type: \"ClaimEmail\" is a step of the user saga and cannot be sent by clients"
        )
    );
}

#[test]
fn a_currency_must_be_three_upper_case_letters() {
    let body = json!({"aggregate": "account", "id": "acc-1", "command": {
        "type": "OpenAccount", "owner_id": "u-1", "currency": "eur"}});
    assert_eq!(
        refused(&body),
        invalid(
            "command.currency",
            "command.currency: expected a three-letter upper-case ISO 4217 code such as \"EUR\", got \"eur\""
        )
    );
}

#[test]
fn an_email_claim_id_must_be_an_address() {
    let claim = json!({"type": "ClaimEmail", "user_id": "u-1", "purpose": "EMAIL_CHANGE"});
    let body = json!({"aggregate": "email-claim", "id": "Ann.Example.org", "command": claim});
    assert_eq!(
        refused_internally(&body),
        invalid(
            "id",
            "id: \"ann.example.org\" is not an e-mail address; expected exactly one '@' with text on both sides"
        )
    );
    let body = json!({"aggregate": "email-claim", "id": "   ", "command": claim});
    assert_eq!(
        refused_internally(&body),
        invalid("id", "id: must not be empty")
    );
}

#[test]
fn a_claim_purpose_is_spelled_as_the_avro_symbols() {
    let body = json!({"aggregate": "email-claim", "id": "ann@example.org", "command": {
        "type": "ClaimEmail", "user_id": "u-1", "purpose": "registration"}});
    assert_eq!(
        refused_internally(&body),
        invalid(
            "command.purpose",
            "command.purpose: expected \"REGISTRATION\" or \"EMAIL_CHANGE\", got \"registration\""
        )
    );
}

#[test]
fn a_command_that_is_not_an_object_is_refused() {
    assert_eq!(
        refused(&deposit(json!("Deposit"))),
        invalid(
            "command",
            "command: expected an object with \"type\" and the command's fields, got \"Deposit\""
        )
    );
}

#[test]
fn internal_commands_are_checked_for_shape_too() {
    let body = json!({"aggregate": "user", "id": "u-1", "command": {
        "type": "ChangeUserEmail", "new_email": "ann"}});
    assert_eq!(
        refused_internally(&body),
        invalid(
            "command.new_email",
            "command.new_email: \"ann\" is not an e-mail address; expected exactly one '@' with text on both sides"
        )
    );
    let body = json!({"aggregate": "transfer", "id": "t-1", "command": {
        "type": "FailTransfer", "reason": "no funds", "compensated": "no"}});
    assert_eq!(
        refused_internally(&body),
        invalid(
            "command.compensated",
            "command.compensated: expected true or false, got \"no\""
        )
    );
}

#[test]
fn the_first_problem_in_the_documented_order_is_reported() {
    let body = json!({
        "command_id": "xyz",
        "aggregate": "acount",
        "id": "",
        "command": {"type": "Depost", "amout": -5},
    });
    assert_eq!(refused(&body).1.as_deref(), Some("command_id"));
    let mut body = body;
    body["command_id"] = json!(COMMAND_ID);
    assert_eq!(refused(&body).1.as_deref(), Some("aggregate"));
    body["aggregate"] = json!("account");
    assert_eq!(refused(&body).1.as_deref(), Some("id"));
    body["id"] = json!("acc-1");
    assert_eq!(refused(&body).1.as_deref(), Some("command.type"));
    body["command"]["type"] = json!("Deposit");
    assert_eq!(refused(&body).1.as_deref(), Some("command.amout"));
    body["command"] = json!({"type": "Deposit", "amount": -5, "reference": 3});
    assert_eq!(refused(&body).1.as_deref(), Some("command.amount"));
    body["command"]["amount"] = json!(5);
    assert_eq!(refused(&body).1.as_deref(), Some("command.reference"));
}

// ---- Bodies that are accepted ---------------------------------------------------------------

/// Parses a client's body that must be accepted.
fn accepted(body: Value) -> CommandRequest<BankCommand> {
    parse(body.to_string().as_bytes()).unwrap()
}

/// Parses an internal tool's body that must be accepted.
fn accepted_internally(body: Value) -> CommandRequest<BankCommand> {
    parse_any(body.to_string().as_bytes()).unwrap()
}

#[test]
fn every_client_command_is_read_from_its_documented_json() {
    let command_id = Uuid::parse_str(COMMAND_ID).unwrap();
    let cases: Vec<(Value, &str, BankCommand)> = vec![
        (
            json!({"command_id": COMMAND_ID, "aggregate": "account", "id": "acc-1",
                   "command": {"type": "OpenAccount", "owner_id": "u-1", "currency": "EUR"}}),
            "acc-1",
            BankCommand::Account(
                OpenAccount {
                    owner_id: "u-1".into(),
                    currency: "EUR".into(),
                }
                .into(),
            ),
        ),
        (
            json!({"command_id": COMMAND_ID, "aggregate": "account", "id": "acc-1",
                   "command": {"type": "Deposit", "amount": 500, "reference": "invoice 7"}}),
            "acc-1",
            BankCommand::Account(
                Deposit {
                    amount: 500,
                    reference: Some("invoice 7".into()),
                }
                .into(),
            ),
        ),
        (
            json!({"command_id": COMMAND_ID, "aggregate": "account", "id": "acc-1",
                   "command": {"type": "Withdraw", "amount": 200}}),
            "acc-1",
            BankCommand::Account(Withdraw { amount: 200 }.into()),
        ),
        (
            json!({"command_id": COMMAND_ID, "aggregate": "account", "id": "acc-1",
                   "command": {"type": "CloseAccount"}}),
            "acc-1",
            BankCommand::Account(CloseAccount {}.into()),
        ),
        (
            json!({"command_id": COMMAND_ID, "aggregate": "user", "id": "u-1",
                   "command": {"type": "RequestUserRegistration", "email": "Ann@Example.org",
                               "display_name": "Ann"}}),
            "u-1",
            BankCommand::User(
                RequestUserRegistration {
                    email: "Ann@Example.org".into(),
                    display_name: "Ann".into(),
                }
                .into(),
            ),
        ),
        (
            json!({"command_id": COMMAND_ID, "aggregate": "user", "id": "u-1",
                   "command": {"type": "RequestUserEmailChange", "new_email": "ann@new.example"}}),
            "u-1",
            BankCommand::User(
                RequestUserEmailChange {
                    new_email: "ann@new.example".into(),
                }
                .into(),
            ),
        ),
        (
            json!({"command_id": COMMAND_ID, "aggregate": "transfer", "id": "t-1",
                   "command": {"type": "RequestTransfer", "source_account_id": "acc-1",
                               "target_account_id": "acc-2", "amount": 150, "currency": "EUR"}}),
            "t-1",
            BankCommand::Transfer(
                RequestTransfer {
                    source_account_id: "acc-1".into(),
                    target_account_id: "acc-2".into(),
                    amount: 150,
                    currency: "EUR".into(),
                }
                .into(),
            ),
        ),
    ];
    for (body, aggregate_id, command) in cases {
        let expected = CommandRequest {
            command_id: Some(command_id),
            aggregate_id: aggregate_id.to_owned(),
            command,
        };
        let request = accepted(body.clone());
        assert_eq!(request, expected);
        // …and the request writes the same body back.
        assert_eq!(serde_json::to_value(&request).unwrap(), body);
    }
}

#[test]
fn optional_members_may_be_absent_or_null() {
    let request = accepted(deposit(json!({"type": "Deposit", "amount": 5})));
    assert_eq!(request.command_id, None);
    assert_eq!(
        request.command,
        BankCommand::Account(
            Deposit {
                amount: 5,
                reference: None
            }
            .into()
        )
    );
    let mut body = deposit(json!({"type": "Deposit", "amount": 5, "reference": null}));
    body["command_id"] = Value::Null;
    let request = accepted(body);
    assert_eq!(request.command_id, None);
    let body = json!({"aggregate": "email-claim", "id": "ann@example.org", "command": {
        "type": "ClaimEmail", "user_id": "u-1", "purpose": "EMAIL_CHANGE"}});
    assert_eq!(
        accepted_internally(body).command,
        BankCommand::EmailClaim(EmailClaimCommand::Claim(ClaimEmail {
            user_id: "u-1".into(),
            purpose: ClaimPurpose::EmailChange,
            display_name: None,
        }))
    );
}

#[test]
fn an_email_claim_id_is_normalized() {
    let body = json!({"aggregate": "email-claim", "id": " Ann@Example.ORG ", "command": {
        "type": "ClaimEmail", "user_id": "u-1", "purpose": "EMAIL_CHANGE"}});
    let request = accepted_internally(body);
    assert_eq!(request.aggregate_id, "ann@example.org");
    assert_eq!(request.aggregate_type(), "email-claim");
}

#[test]
fn other_ids_are_kept_as_sent() {
    let body = json!({"aggregate": "account", "id": "Acc-1", "command": {"type": "CloseAccount"}});
    assert_eq!(accepted(body).aggregate_id, "Acc-1");
}

// ---- The table against the domain and the contract ------------------------------------------

/// A valid value for a field of `kind`.
fn sample_value(kind: FieldKind) -> Value {
    match kind {
        FieldKind::Id => json!("x-1"),
        FieldKind::Text => json!("some text"),
        FieldKind::OptionalText => json!("a reference"),
        FieldKind::Amount => json!(250),
        FieldKind::Code(rule) => json!(rule.example),
        FieldKind::Email => json!("ann@example.org"),
        FieldKind::OneOf(symbols) => json!(symbols[0]),
        FieldKind::Flag => json!(true),
    }
}

/// A value refused for a field of `kind`, and the problem reported for it.
fn bad_value(kind: FieldKind) -> (Value, &'static str) {
    match kind {
        FieldKind::Id => (json!(""), "must not be empty"),
        FieldKind::Text => (json!(5), "expected a string, got 5"),
        FieldKind::OptionalText => (json!(5), "expected a string or null, got 5"),
        FieldKind::Amount => (json!(0), "expected a positive whole number, got 0"),
        FieldKind::Code(rule) if rule == CURRENCY => (
            json!("EURO"),
            "expected a three-letter upper-case ISO 4217 code such as \"EUR\", got \"EURO\"",
        ),
        FieldKind::Email => (
            json!("ann"),
            "\"ann\" is not an e-mail address; expected exactly one '@' with text on both sides",
        ),
        FieldKind::OneOf(symbols) if symbols == PURPOSES => (
            json!("NONE"),
            "expected \"REGISTRATION\" or \"EMAIL_CHANGE\", got \"NONE\"",
        ),
        FieldKind::Flag => (json!(1), "expected true or false, got 1"),
        FieldKind::Code(_) | FieldKind::OneOf(_) => {
            panic!("the bank has no field of kind {kind:?}")
        }
    }
}

/// A body for `command` of `aggregate` with a valid value in every field.
pub(super) fn sample_body(
    aggregate: &AggregateSpec<BankCommand>,
    command: &CommandSpec<BankCommand>,
) -> Value {
    let mut members = Map::new();
    members.insert("type".into(), json!(command.name));
    for field in command.fields {
        members.insert(field.name.into(), sample_value(field.kind));
    }
    let id = if aggregate.id.kind == FieldKind::Email {
        "ann@example.org"
    } else {
        "agg-1"
    };
    json!({"command_id": COMMAND_ID, "aggregate": aggregate.name, "id": id, "command": members})
}

/// Every (aggregate, command) pair of the table.
fn table() -> impl Iterator<
    Item = (
        &'static AggregateSpec<BankCommand>,
        &'static CommandSpec<BankCommand>,
    ),
> {
    AGGREGATES.iter().flat_map(|aggregate| {
        aggregate
            .commands
            .iter()
            .map(move |command| (aggregate, command))
    })
}

#[test]
fn the_table_has_every_command_of_every_aggregate_in_record_set_order() {
    let names: Vec<&str> = AGGREGATES.iter().map(|aggregate| aggregate.name).collect();
    assert_eq!(names, AGGREGATE_TYPES);
    let record_sets: [(&str, &[&str]); 4] = [
        ("account", AccountCommand::FULL_NAMES),
        ("email-claim", EmailClaimCommand::FULL_NAMES),
        ("user", UserCommand::FULL_NAMES),
        ("transfer", TransferCommand::FULL_NAMES),
    ];
    for (aggregate, full_names) in record_sets {
        let spec = super::catalog().aggregate(aggregate).unwrap();
        let listed: Vec<&str> = spec
            .commands
            .iter()
            .map(|command| command.full_name)
            .collect();
        assert_eq!(listed, full_names, "commands of {aggregate}");
        for command in spec.commands {
            let record_name = command.full_name.rsplit('.').next().unwrap();
            assert_eq!(command.name, record_name);
        }
    }
}

#[test]
fn every_command_of_the_domain_is_accepted_by_parse_any_and_written_back_unchanged() {
    for (aggregate, command) in table() {
        let body = sample_body(aggregate, command);
        let request = parse_any(body.to_string().as_bytes())
            .unwrap_or_else(|error| panic!("{} refused: {error}", command.name));
        assert_eq!(request.command.full_name(), command.full_name);
        assert_eq!(request.aggregate_type(), aggregate.name);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            body,
            "{}",
            command.name
        );
    }
}

#[test]
fn parse_accepts_exactly_the_client_commands() {
    let mut clients = Vec::new();
    for (aggregate, command) in table() {
        let body = sample_body(aggregate, command).to_string();
        match parse(body.as_bytes()) {
            Ok(_) => clients.push(command.name),
            Err(error) => {
                assert_eq!(error.field(), Some("command.type"), "{error}");
                assert!(error.to_string().contains("cannot be sent by clients"));
            }
        }
    }
    assert_eq!(
        clients,
        [
            "OpenAccount",
            "Deposit",
            "Withdraw",
            "CloseAccount",
            "RequestUserRegistration",
            "RequestUserEmailChange",
            "RequestTransfer"
        ]
    );
}

#[test]
fn every_field_is_checked_by_the_rule_the_table_gives_it() {
    for (aggregate, command) in table() {
        for field in command.fields {
            let path = format!("command.{}", field.name);
            let mut body = sample_body(aggregate, command);
            let (bad, problem) = bad_value(field.kind);
            body["command"][field.name] = bad;
            assert_eq!(
                refused_internally(&body),
                invalid(&path, &format!("{path}: {problem}")),
                "{}",
                command.name
            );
            if field.kind != FieldKind::OptionalText {
                let mut body = sample_body(aggregate, command);
                body["command"].as_object_mut().unwrap().remove(field.name);
                assert_eq!(
                    refused_internally(&body),
                    invalid(&path, &format!("{path}: missing")),
                    "{}",
                    command.name
                );
            }
        }
    }
}

#[test]
fn the_fields_of_every_command_are_those_of_its_newest_avsc() {
    for (_, command) in table() {
        let record = record_schema(command.full_name)
            .unwrap_or_else(|| panic!("no schema for {}", command.full_name));
        let avsc: Vec<&str> = record
            .fields
            .iter()
            .map(|field| field.name.as_str())
            .collect();
        assert_eq!(command.field_names(), avsc, "{}", command.name);
    }
}

#[test]
fn optional_fields_are_the_nullable_ones_of_the_avsc() {
    for (_, command) in table() {
        let record = record_schema(command.full_name).unwrap();
        for (field, avsc) in command.fields.iter().zip(&record.fields) {
            let nullable = matches!(&avsc.schema, apache_avro::Schema::Union(union)
                if union.variants().contains(&apache_avro::Schema::Null));
            assert_eq!(
                field.kind == FieldKind::OptionalText,
                nullable,
                "{}.{}",
                command.name,
                field.name
            );
        }
    }
}
