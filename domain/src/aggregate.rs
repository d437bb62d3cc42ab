//! The one trait a domain implements per aggregate: decide what a command causes, and fold
//! events into state.
//!
//! `decide` is pure and sees only the aggregate's own state, which is what lets the processor
//! be the single writer of an aggregate and rebuild it from the log at any time. Each accepted
//! command causes at most one event (one record on the wire, see docs/ARCHITECTURE.md).
//! Versions, command de-duplication and I/O belong to the engine, never to `decide`/`apply`.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tributary_schemas::RecordSet;

/// An event-sourced aggregate: state folded from its events, deciding on commands.
pub trait Aggregate:
    Default + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The aggregate type: topic names and the `aggregate_type` of envelopes use it
    /// (`account` → `<prefix>.account.events`).
    const TYPE: &'static str;

    /// Every command the aggregate accepts.
    type Command: RecordSet + Clone + Debug + PartialEq + Send + Sync;

    /// Every event the aggregate records.
    type Event: RecordSet + Clone + Debug + PartialEq + Send + Sync;

    /// Decides what `command` causes for the aggregate `id` in its current state:
    /// `Ok(Some(event))` records the event, `Ok(None)` accepts a command that changes nothing
    /// (a repeated claim by the holder), `Err` refuses it — possibly recording the refusal as
    /// an event that a saga reacts to.
    fn decide(
        &self,
        id: &str,
        command: &Self::Command,
    ) -> Result<Option<Self::Event>, Rejection<Self::Event>>;

    /// Folds one event into the state. Must accept every event `decide` can return from the
    /// state it is applied to; it never fails, because the event already happened.
    fn apply(&mut self, event: &Self::Event);

    /// The reason, when `event` records a refusal (the `recorded` event of a [`Rejection`]),
    /// exactly as `decide` gave it; `None` for events of accepted commands. The engine uses it
    /// to answer a repeated command as the first one was answered.
    fn refusal(event: &Self::Event) -> Option<String> {
        let _ = event;
        None
    }
}

/// A command the domain refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection<E> {
    /// Why, in words a caller can act on (returned as the 409 body by the gateway).
    pub reason: String,
    /// The refusal as an event, when other parts of the system must learn of it (a saga
    /// step refused); recorded in the log like any event.
    pub recorded: Option<E>,
}

impl<E> Rejection<E> {
    /// A refusal that only the caller needs to know about.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            recorded: None,
        }
    }

    /// A refusal that is also recorded as `event`.
    pub fn recorded(reason: impl Into<String>, event: impl Into<E>) -> Self {
        Self {
            reason: reason.into(),
            recorded: Some(event.into()),
        }
    }
}

/// An aggregate's state with its version: the number of events folded into it.
///
/// The version of the next event is always `version + 1`; that is the version rule's input.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Versioned<A> {
    /// The folded state.
    pub state: A,
    /// Events folded so far.
    pub version: u64,
}

impl<A: Aggregate> Versioned<A> {
    /// Folds `event` and advances the version.
    pub fn apply(&mut self, event: &A::Event) {
        self.state.apply(event);
        self.version += 1;
    }

    /// The event a decision records, accepted or refused, if any.
    pub fn recorded_event(
        decision: &Result<Option<A::Event>, Rejection<A::Event>>,
    ) -> Option<&A::Event> {
        match decision {
            Ok(event) => event.as_ref(),
            Err(rejection) => rejection.recorded.as_ref(),
        }
    }
}
