//! The one trait a domain implements per aggregate: decide what a command causes, and fold
//! events into state.
//!
//! `decide` is pure and sees only the aggregate's own state, which is what lets the processor
//! be the single writer of an aggregate and rebuild it from the log at any time. Each accepted
//! command causes at most one event (one record on the wire, see docs/ARCHITECTURE.md), and so
//! does each refused one: a refusal the domain does not record as an event of its own is
//! recorded as [`CommandRefused`], so that the log decides refusals as it decides acceptances
//! and a repeated command is answered with its first outcome after any restart.
//! Versions, command de-duplication and I/O belong to the engine, never to `decide`/`apply`.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tributary_schemas::RecordSet;
use tributary_schemas::protocol::CommandRefused;

/// An event-sourced aggregate: state folded from its events, deciding on commands.
pub trait Aggregate:
    Default + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The aggregate type: topic names and the `aggregate_type` of envelopes use it
    /// (`account` → `<prefix>.account.events`).
    const TYPE: &'static str;

    /// Every command the aggregate accepts.
    type Command: RecordSet + Clone + Debug + PartialEq + Send + Sync;

    /// Every event the aggregate records, [`CommandRefused`] among them: the engine records
    /// with it every refusal that `decide` does not record itself.
    type Event: RecordSet + From<CommandRefused> + Clone + Debug + PartialEq + Send + Sync;

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
    /// state it is applied to; it never fails, because the event already happened. A
    /// [`CommandRefused`] changes nothing (the engine does not pass it here).
    fn apply(&mut self, event: &Self::Event);

    /// The reason, when `event` is one of the domain's own events recording a refusal (the
    /// `recorded` event of a [`Rejection`]), exactly as `decide` gave it; `None` for events of
    /// accepted commands. [`refusal_reason`] adds [`CommandRefused`], which the engine records.
    fn refusal(event: &Self::Event) -> Option<String> {
        let _ = event;
        None
    }
}

/// Why `event` records a refusal, if it does: the domain's own refusal events
/// ([`Aggregate::refusal`]) and the engine's [`CommandRefused`]. The engine uses it to answer a
/// repeated command as the first one was answered.
pub fn refusal_reason<A: Aggregate>(event: &A::Event) -> Option<String> {
    match event.member::<CommandRefused>() {
        Some(refused) => Some(refused.reason.clone()),
        None => A::refusal(event),
    }
}

/// Decides `command` as the log records it: as [`Aggregate::decide`] does, except that a
/// refusal without an event of the domain's own is recorded as [`CommandRefused`]. Every
/// decision other than [`RecordedDecision::Unchanged`] is then exactly one event.
pub fn decide_recorded<A: Aggregate>(
    state: &A,
    id: &str,
    command: &A::Command,
) -> RecordedDecision<A::Event> {
    match state.decide(id, command) {
        Ok(Some(event)) => RecordedDecision::Accepted(event),
        Ok(None) => RecordedDecision::Unchanged,
        Err(Rejection { reason, recorded }) => {
            let event = recorded.unwrap_or_else(|| {
                CommandRefused {
                    command_type: command.full_name().to_owned(),
                    reason: reason.clone(),
                }
                .into()
            });
            RecordedDecision::Refused { reason, event }
        }
    }
}

/// A decision as the log records it (see [`decide_recorded`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedDecision<E> {
    /// Accepted: the event to record.
    Accepted(E),
    /// Accepted without an event: nothing changes (a repeated claim by the holder).
    Unchanged,
    /// Refused: why, and the event that records the refusal.
    Refused {
        /// Why, as `decide` gave it.
        reason: String,
        /// The domain's own refusal event, or [`CommandRefused`].
        event: E,
    },
}

impl<E> RecordedDecision<E> {
    /// The event to record, if any.
    pub fn event(&self) -> Option<&E> {
        match self {
            Self::Accepted(event) | Self::Refused { event, .. } => Some(event),
            Self::Unchanged => None,
        }
    }
}

/// A command the domain refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection<E> {
    /// Why, in words a caller can act on (returned as the 409 body by the gateway).
    pub reason: String,
    /// The refusal as an event of the domain's own, when other parts of the system must learn
    /// of it (a saga step refused). Without one, the engine records [`CommandRefused`].
    pub recorded: Option<E>,
}

impl<E> Rejection<E> {
    /// A refusal that only the caller needs to know about (recorded as [`CommandRefused`]).
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
    /// Folds `event` and advances the version; a [`CommandRefused`] only advances it.
    pub fn apply(&mut self, event: &A::Event) {
        if event.member::<CommandRefused>().is_none() {
            self.state.apply(event);
        }
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
