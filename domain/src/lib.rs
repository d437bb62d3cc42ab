//! Tributary's domain: what commands cause and how events fold into state, as pure functions
//! with no I/O, so the producer and the saga runner can replay them from the log at any time.
//!
//! Read the modules in this order:
//! - [`aggregate`]: the [`Aggregate`] trait (`decide` a command, `apply` an event), the
//!   [`Rejection`] of a refused command and the [`Versioned`] state the engine keeps;
//! - [`saga`]: the [`Saga`] trait that turns one aggregate's event into another aggregate's
//!   command, with deterministic command IDs from [`step_command_id`].
//!
//! The reference domain that implements them, a bank, is the `tributary-bank` crate under
//! `examples/bank`.

pub mod aggregate;
pub mod saga;

pub use aggregate::{
    Aggregate, RecordedDecision, Rejection, Versioned, decide_recorded, refusal_reason,
};
pub use saga::{Saga, SagaStep, step_command_id};
