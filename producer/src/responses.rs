//! The JSON bodies the command gateway answers with, as serde types whose OpenAPI schemas are
//! derived from the types themselves.
//!
//! Three outcomes matter to a client and each has its own body: accepted (`200`,
//! [`CommandAccepted`], with where the event landed so that a read can wait for it), refused by
//! the domain (`409`, [`CommandRejected`], with the reason), and not processed at all
//! (`400`/`422`/`503`/`504`, [`ErrorBody`], saying what failed and what to do). The types also
//! deserialize, so tests and Rust clients read answers with the same types the gateway writes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::command_request::CommandRequestError;

/// The answer to an accepted command (`200`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommandAccepted {
    /// The command's ID: the client's, or the one the gateway made up.
    #[schema(value_type = String, format = "uuid")]
    pub command_id: Uuid,
    /// The aggregate type, e.g. `account`.
    pub aggregate: String,
    /// The aggregate's ID (for an e-mail claim, the normalized address).
    pub id: String,
    /// The aggregate's version after the command: the number of its events.
    pub version: u64,
    /// Where the command's event landed; `null` when the command was accepted without an
    /// event because the aggregate already was as asked (e.g. a user asking again for the
    /// address it is registered with).
    pub event: Option<EventCoordinates>,
    /// `<topic>:<partition>:<offset>` of the event, to pass as `?consistency=` to the read
    /// API to read this write; `null` when there is no event.
    pub consistency_token: Option<String>,
}

/// Where an event was written in Kafka, and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventCoordinates {
    /// The aggregate's events topic.
    pub topic: String,
    /// The partition, the aggregate's by the placement rule.
    pub partition: i32,
    /// The event's offset in the partition.
    pub offset: i64,
    /// The event's full Avro name (its `event-type` header), e.g.
    /// `tributary.bank.account.Deposited`.
    #[serde(rename = "type")]
    pub event_type: String,
}

/// The answer to a command the domain refused (`409`): nothing was written for it, and
/// sending it again will be refused again unless the aggregate changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CommandRejected {
    /// The command's ID: the client's, or the one the gateway made up.
    #[schema(value_type = String, format = "uuid")]
    pub command_id: Uuid,
    /// The aggregate type, e.g. `account`.
    pub aggregate: String,
    /// The aggregate's ID.
    pub id: String,
    /// Why the aggregate refused the command, e.g. the balance it would overdraw.
    pub reason: String,
}

/// The answer when a command was not processed: malformed (`400`, `422`), the broker
/// unreachable (`503`), or no reply in time (`504`, safe to retry with the same
/// `command_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What failed, with which value, and what to do about it.
    pub error: String,
    /// The JSON path of the request member at fault (e.g. `command.amount`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl EventCoordinates {
    /// The consistency token of the event: `<topic>:<partition>:<offset>`, the form the read
    /// API parses.
    pub fn consistency_token(&self) -> String {
        format!("{}:{}:{}", self.topic, self.partition, self.offset)
    }
}

impl CommandAccepted {
    /// The answer for a command accepted at `version`, with the consistency token of `event`.
    pub fn new(
        command_id: Uuid,
        aggregate: impl Into<String>,
        id: impl Into<String>,
        version: u64,
        event: Option<EventCoordinates>,
    ) -> Self {
        Self {
            command_id,
            aggregate: aggregate.into(),
            id: id.into(),
            version,
            consistency_token: event.as_ref().map(EventCoordinates::consistency_token),
            event,
        }
    }
}

impl ErrorBody {
    /// A body without a field.
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            field: None,
        }
    }

    /// A body naming the request member `field` at fault.
    pub fn for_field(field: &str, error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            field: Some(field.to_owned()),
        }
    }
}

impl From<&CommandRequestError> for ErrorBody {
    fn from(error: &CommandRequestError) -> Self {
        Self {
            error: error.to_string(),
            field: error.field().map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use utoipa::OpenApi;

    use super::*;

    const COMMAND_ID: &str = "0190f0c4-5e4b-7d2a-9c3e-8b1f2a3c4d5e";

    fn coordinates() -> EventCoordinates {
        EventCoordinates {
            topic: "tributary.counter.events".into(),
            partition: 3,
            offset: 41,
            event_type: "testing.counter.Added".into(),
        }
    }

    #[test]
    fn an_accepted_command_carries_its_event_and_the_token_to_read_it() {
        let command_id = Uuid::parse_str(COMMAND_ID).unwrap();
        let accepted = CommandAccepted::new(command_id, "counter", "c-1", 2, Some(coordinates()));
        assert_eq!(
            serde_json::to_value(&accepted).unwrap(),
            json!({
                "command_id": COMMAND_ID,
                "aggregate": "counter",
                "id": "c-1",
                "version": 2,
                "event": {
                    "topic": "tributary.counter.events",
                    "partition": 3,
                    "offset": 41,
                    "type": "testing.counter.Added",
                },
                "consistency_token": "tributary.counter.events:3:41",
            })
        );
        let json = serde_json::to_string(&accepted).unwrap();
        assert_eq!(
            serde_json::from_str::<CommandAccepted>(&json).unwrap(),
            accepted
        );
    }

    #[test]
    fn a_command_accepted_without_an_event_has_no_token() {
        let command_id = Uuid::parse_str(COMMAND_ID).unwrap();
        let accepted = CommandAccepted::new(command_id, "counter", "c-2", 1, None);
        let value = serde_json::to_value(&accepted).unwrap();
        assert_eq!(value["event"], json!(null));
        assert_eq!(value["consistency_token"], json!(null));
    }

    #[test]
    fn a_rejected_command_says_why() {
        let rejected = CommandRejected {
            command_id: Uuid::parse_str(COMMAND_ID).unwrap(),
            aggregate: "counter".into(),
            id: "c-1".into(),
            reason: "counter c-1 holds 5, so 7 cannot be taken".into(),
        };
        assert_eq!(
            serde_json::to_value(&rejected).unwrap(),
            json!({
                "command_id": COMMAND_ID,
                "aggregate": "counter",
                "id": "c-1",
                "reason": "counter c-1 holds 5, so 7 cannot be taken",
            })
        );
    }

    #[test]
    fn an_error_body_names_the_field_only_when_there_is_one() {
        let catalog = crate::command_request::sample::catalog();
        let error = catalog.parse(br#"{"aggregate": 5}"#).unwrap_err();
        assert_eq!(
            serde_json::to_value(ErrorBody::from(&error)).unwrap(),
            json!({
                "error": "aggregate: expected one of counter, got 5",
                "field": "aggregate",
            })
        );
        let error = catalog.parse(b"{").unwrap_err();
        let body = serde_json::to_value(ErrorBody::from(&error)).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        assert_eq!(
            serde_json::to_value(ErrorBody::new("broker down")).unwrap(),
            json!({"error": "broker down"})
        );
    }

    #[test]
    fn every_response_body_has_a_schema() {
        #[derive(OpenApi)]
        #[openapi(components(schemas(
            CommandAccepted,
            EventCoordinates,
            CommandRejected,
            ErrorBody
        )))]
        struct Document;
        let document = serde_json::to_value(Document::openapi()).unwrap();
        let schemas = &document["components"]["schemas"];
        let accepted = &schemas["CommandAccepted"];
        assert_eq!(
            accepted["required"],
            json!(["command_id", "aggregate", "id", "version"])
        );
        assert_eq!(accepted["properties"]["command_id"]["format"], "uuid");
        assert!(schemas["EventCoordinates"]["properties"]["type"].is_object());
        assert_eq!(schemas["ErrorBody"]["required"], json!(["error"]));
        assert_eq!(
            schemas["CommandRejected"]["required"],
            json!(["command_id", "aggregate", "id", "reason"])
        );
    }
}
