//! A one-aggregate catalog for the engine's own tests: a counter that clients increment and
//! only a saga resets. It exercises the parser, the reader and the OpenAPI document without
//! any real domain; the bank's catalog is tested in its own crate.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use tributary_domain::DomainRecord;
use tributary_schemas::{Codec, DecodeError, EncodeError, Record, SchemaRegistry};

use super::{AggregateSpec, CommandCatalog, CommandSpec, FieldKind, FieldSpec, IdSpec, Sender};

/// Adds to the counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Increment {
    /// How much.
    pub by: i64,
}

impl Record for Increment {
    const FULL_NAME: &'static str = "sample.counter.Increment";
}

/// A command to the counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterCommand(pub Increment);

impl DomainRecord for CounterCommand {
    fn aggregate_type(&self) -> &'static str {
        "counter"
    }

    fn full_name(&self) -> &'static str {
        Increment::FULL_NAME
    }

    fn encode(&self, codec: &Codec) -> Result<Vec<u8>, EncodeError> {
        codec.encode(&self.0)
    }

    fn decode(
        aggregate_type: &str,
        codec: &Codec,
        bytes: &[u8],
    ) -> Option<Result<Self, DecodeError>> {
        (aggregate_type == "counter").then(|| codec.decode_record(bytes).map(CounterCommand))
    }
}

const INCREMENT_SCHEMA: &str = r#"{"type":"record","name":"Increment","namespace":"sample.counter",
  "doc":"Add to the counter.","fields":[{"name":"by","type":"long","doc":"How much; positive."}]}"#;

static SCHEMAS: LazyLock<&'static SchemaRegistry> = LazyLock::new(|| {
    let files = [("counter/commands/Increment/v1.avsc", INCREMENT_SCHEMA)];
    SchemaRegistry::with_protocol(files)
        .expect("the sample schema is valid")
        .leak()
});

static AGGREGATES: [AggregateSpec<CounterCommand>; 1] = [AggregateSpec {
    name: "counter",
    id: IdSpec::PLAIN,
    commands: &[
        CommandSpec {
            name: "Increment",
            full_name: Increment::FULL_NAME,
            fields: &[FieldSpec::new("by", FieldKind::Amount)],
            sender: Sender::Client,
            build: |fields| {
                Ok(CounterCommand(Increment {
                    by: fields.amount("by")?,
                }))
            },
        },
        CommandSpec {
            name: "Reset",
            full_name: "sample.counter.Reset",
            fields: &[],
            sender: Sender::Saga("reset"),
            build: |fields| Err(fields.invalid("type", "a sample saga step, never built")),
        },
    ],
}];

/// The counter's catalog.
pub fn catalog() -> CommandCatalog<CounterCommand> {
    CommandCatalog {
        aggregates: &AGGREGATES,
        codec: Codec::single_object(*SCHEMAS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command_request::CommandReader;

    #[test]
    fn a_client_command_is_read_framed_and_written_back_unchanged() {
        let body = br#"{"aggregate":"counter","id":"c-1","command":{"type":"Increment","by":2}}"#;
        let request = catalog().parse(body).unwrap();
        assert_eq!(request.command, CounterCommand(Increment { by: 2 }));
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(serde_json::to_value(&request).unwrap(), json);
        let read = catalog().read(body).unwrap();
        assert_eq!(
            (read.aggregate_type, read.aggregate_id.as_str()),
            ("counter", "c-1")
        );
        let decoded: Increment = catalog().codec.decode_record(&read.command).unwrap();
        assert_eq!(decoded, Increment { by: 2 });
    }

    #[test]
    fn a_saga_step_is_refused_to_clients_and_the_aggregates_are_listed() {
        let step = br#"{"aggregate":"counter","id":"c-1","command":{"type":"Reset"}}"#;
        let error = catalog().parse(step).unwrap_err();
        assert_eq!(
            error.to_string(),
            "command.type: \"Reset\" is a step of the reset saga and cannot be sent by clients"
        );
        let unknown = br#"{"aggregate":"cart","id":"c-1","command":{"type":"Increment"}}"#;
        let error = catalog().parse(unknown).unwrap_err();
        assert_eq!(
            error.to_string(),
            "aggregate: unknown aggregate \"cart\"; expected one of counter"
        );
    }
}
