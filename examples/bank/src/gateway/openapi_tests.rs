//! The gateway's OpenAPI document of the bank: each aggregate offered its own client commands,
//! with the table's rules and the `.avsc` docs, and every body valid by it accepted.

use serde_json::{Value, json};
use tributary_producer::command_request::{AggregateSpec, CommandSpec};

use super::table::AGGREGATES;
use super::tests::sample_body;
use crate::BankCommand;

fn document() -> Value {
    serde_json::to_value(tributary_producer::gateway::openapi(&super::catalog())).unwrap()
}

/// The aggregate types that take commands from clients.
fn client_aggregates() -> impl Iterator<Item = &'static AggregateSpec<BankCommand>> {
    AGGREGATES
        .iter()
        .filter(|aggregate| client_commands(aggregate).next().is_some())
}

/// The commands a client may send to `aggregate`.
fn client_commands(
    aggregate: &'static AggregateSpec<BankCommand>,
) -> impl Iterator<Item = &'static CommandSpec<BankCommand>> {
    aggregate
        .commands
        .iter()
        .filter(|command| command.is_for_clients())
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
            let parsed = super::catalog().parse(body.to_string().as_bytes());
            assert!(parsed.is_ok(), "{body}: {parsed:?}");
        }
        let others = client_aggregates()
            .filter(|other| other.name != aggregate.name)
            .flat_map(client_commands);
        for command in others {
            let body = sample_body(aggregate, command);
            let parsed = super::catalog().parse(body.to_string().as_bytes());
            assert!(parsed.is_err(), "{body} is not described, yet accepted");
        }
    }
}
