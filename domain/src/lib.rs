//! Tributary's domain: what commands cause and how events fold into state, as pure functions
//! with no I/O, so the producer and the saga runner can replay them from the log at any time.
//!
//! Read the modules in this order:
//! - [`aggregate`]: the [`Aggregate`] trait (`decide` a command, `apply` an event), the
//!   [`Rejection`] of a refused command and the [`Versioned`] state the engine keeps;
//! - [`saga`]: the [`Saga`] trait that turns one aggregate's event into another aggregate's
//!   command, with deterministic command IDs from [`step_command_id`];
//! - [`domain`]: the [`Domain`] trait a team implements once (schemas, aggregate types, the
//!   unions of their records, the saga), which the command side and the projector are generic
//!   over.
//!
//! The reference domain that implements them, a bank, is the `tributary-bank` crate under
//! `examples/bank`. `testing` (feature `testing`) holds the engine's own test domain, a
//! counter, so that the engine crates test against a real aggregate without an example.

pub mod aggregate;
pub mod domain;
pub mod saga;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use aggregate::{
    Aggregate, RecordedDecision, Rejection, Versioned, decide_recorded, refusal_reason,
};
pub use domain::{AggregateVisitor, Domain, DomainRecord};
pub use saga::{Saga, SagaStep, step_command_id};

/// The schemas crate, for the expansion of [`domain_records!`] in a domain's crate.
#[doc(hidden)]
pub use tributary_schemas as __schemas;
