//! A counter: the smallest complete domain, for the engine's own tests (feature `testing`).
//!
//! The engine crates test their folding, deciding, planning and parking against a real
//! aggregate with real Avro records, without depending on an example domain: a counter that
//! is opened once, to which amounts are added, and from which amounts are taken only while it
//! holds enough. A refused command is recorded as the engine's `CommandRefused`.

// Test support: the schemas are constants, so a failure to read them is a bug that the first
// test reports by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use tributary_schemas::protocol::CommandRefused;
use tributary_schemas::{Codec, SchemaRegistry, avro_record, record_set};

use crate::{Aggregate, Rejection};

/// The counter was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterOpened {}

/// An amount was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    /// How much; positive.
    pub by: i64,
}

/// An amount was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    /// How much; positive.
    pub by: i64,
}

/// Open the counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {}

/// Add an amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Add {
    /// How much; positive.
    pub by: i64,
}

/// Take an amount the counter holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Take {
    /// How much; positive.
    pub by: i64,
}

avro_record! {
    CounterOpened => "testing.counter.CounterOpened",
    Added => "testing.counter.Added",
    Taken => "testing.counter.Taken",
    Open => "testing.counter.Open",
    Add => "testing.counter.Add",
    Take => "testing.counter.Take",
}

record_set! {
    /// Every event of a counter.
    pub enum CounterEvent {
        /// See [`CounterOpened`].
        Opened(CounterOpened),
        /// See [`Added`].
        Added(Added),
        /// See [`Taken`].
        Taken(Taken),
        /// A refused command: see [`CommandRefused`].
        CommandRefused(CommandRefused),
    }
}

record_set! {
    /// Every command a counter accepts.
    pub enum CounterCommand {
        /// See [`Open`].
        Open(Open),
        /// See [`Add`].
        Add(Add),
        /// See [`Take`].
        Take(Take),
    }
}

/// A counter's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Whether it was opened.
    pub opened: bool,
    /// What it holds.
    pub value: i64,
}

impl Aggregate for Counter {
    const TYPE: &'static str = "counter";
    type Command = CounterCommand;
    type Event = CounterEvent;

    fn decide(
        &self,
        id: &str,
        command: &CounterCommand,
    ) -> Result<Option<CounterEvent>, Rejection<CounterEvent>> {
        let refuse = |reason: String| Err(Rejection::new(reason));
        match command {
            CounterCommand::Open(Open {}) if self.opened => {
                refuse(format!("counter {id} is already open"))
            }
            CounterCommand::Open(Open {}) => Ok(Some(CounterOpened {}.into())),
            _ if !self.opened => refuse(format!("counter {id} is not open")),
            CounterCommand::Add(Add { by }) | CounterCommand::Take(Take { by }) if *by <= 0 => {
                refuse(format!("{by} is not a positive amount"))
            }
            CounterCommand::Add(Add { by }) => Ok(Some(Added { by: *by }.into())),
            CounterCommand::Take(Take { by }) if *by > self.value => refuse(format!(
                "counter {id} holds {}, so {by} cannot be taken",
                self.value
            )),
            CounterCommand::Take(Take { by }) => Ok(Some(Taken { by: *by }.into())),
        }
    }

    fn apply(&mut self, event: &CounterEvent) {
        match event {
            CounterEvent::Opened(CounterOpened {}) => self.opened = true,
            CounterEvent::Added(Added { by }) => self.value += by,
            CounterEvent::Taken(Taken { by }) => self.value -= by,
            CounterEvent::CommandRefused(_) => {}
        }
    }
}

/// A record schema of the counter's namespace: `name` with one `long` field `by`, or none.
fn schema(name: &str, by: bool) -> String {
    let fields = if by {
        r#"[{"name":"by","type":"long","doc":"How much; positive."}]"#
    } else {
        "[]"
    };
    format!(
        r#"{{"type":"record","name":"{name}","namespace":"testing.counter","fields":{fields}}}"#
    )
}

/// The counter's schemas with the protocol's.
pub fn schemas() -> &'static SchemaRegistry {
    static SCHEMAS: LazyLock<&'static SchemaRegistry> = LazyLock::new(|| {
        let files: Vec<(String, String)> = [
            ("events", "CounterOpened", false),
            ("events", "Added", true),
            ("events", "Taken", true),
            ("commands", "Open", false),
            ("commands", "Add", true),
            ("commands", "Take", true),
        ]
        .into_iter()
        .map(|(kind, name, by)| (format!("counter/{kind}/{name}/v1.avsc"), schema(name, by)))
        .collect();
        SchemaRegistry::with_protocol(files)
            .expect("the counter's schemas are valid")
            .leak()
    });
    *SCHEMAS
}

/// The counter's codec (single-object framing).
pub fn codec() -> Codec {
    Codec::single_object(schemas())
}

#[cfg(test)]
mod tests {
    use tributary_schemas::RecordSet;

    use super::*;
    use crate::{RecordedDecision, decide_recorded};

    #[test]
    fn a_counter_holds_what_was_added_and_refuses_to_go_below_zero() {
        let mut counter = Counter::default();
        for event in [
            CounterOpened {}.into(),
            Added { by: 5 }.into(),
            Taken { by: 2 }.into(),
        ] {
            counter.apply(&event);
        }
        assert_eq!(counter.value, 3);
        let refused = decide_recorded(&counter, "c", &Take { by: 4 }.into());
        let RecordedDecision::Refused { reason, .. } = refused else {
            panic!("expected a refusal, got {refused:?}")
        };
        assert_eq!(reason, "counter c holds 3, so 4 cannot be taken");
    }

    #[test]
    fn every_record_round_trips_through_its_codec() {
        let codec = codec();
        let events: [CounterEvent; 3] = [
            CounterOpened {}.into(),
            Added { by: 5 }.into(),
            Taken { by: 2 }.into(),
        ];
        for event in events {
            let bytes = event.encode(&codec).unwrap();
            assert_eq!(CounterEvent::decode(&codec, &bytes).unwrap(), event);
        }
    }
}
