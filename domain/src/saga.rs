//! Sagas: processes that span aggregates by turning one aggregate's event into another
//! aggregate's command.
//!
//! A saga reacts to events only, with commands whose IDs are derived from the saga's ID and
//! the step, so redelivering an event produces the same command ID. The runner also sends each
//! step's cause (the event's position), which the target aggregate remembers, so a step sent
//! again is recognised however long ago the first one was decided. Sagas here are stateless:
//! every event carries what the next step needs.

use uuid::Uuid;

/// Namespace of deterministic saga command IDs (UUIDv5).
const SAGA_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a7e_93d4_4b0f_a5e1_7c2d_9b3e_4f10);

/// The command ID of step `step` of saga `saga_id`: the same inputs always give the same ID.
pub fn step_command_id(saga_id: &str, step: &str) -> Uuid {
    Uuid::new_v5(&SAGA_NAMESPACE, format!("{saga_id}/{step}").as_bytes())
}

/// One command a saga issues in reaction to an event.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaStep<C> {
    /// Deterministic idempotency key, from [`step_command_id`].
    pub command_id: Uuid,
    /// The aggregate the command goes to.
    pub aggregate_id: String,
    /// The command.
    pub command: C,
}

/// A process spanning aggregates.
pub trait Saga {
    /// The events it reacts to (of any aggregate type).
    type Event;
    /// The commands it issues (to any aggregate type).
    type Command;

    /// The commands `event` causes; usually none or one. `version` is the event's aggregate
    /// version, which tells apart two events of the same kind on one aggregate (a user who
    /// changes to an address, away and back again), so step names that include it stay unique.
    fn react(
        &self,
        aggregate_id: &str,
        version: u64,
        event: &Self::Event,
    ) -> Vec<SagaStep<Self::Command>>;
}
