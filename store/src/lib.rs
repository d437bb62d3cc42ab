//! The engine's PostgreSQL tables, shared by the command side and the projector: where they
//! are and how to reach them, their migrations, and the SQL that reads and writes them.
//!
//! - [`database`]: the connection pool in the pipeline's schema, `DatabaseArgs`, the engine's
//!   migrations, how a database error is to be treated;
//! - [`migrations`]: sets of migrations, each with its own history table (the engine's, and
//!   one per read model);
//! - [`offsets`]: where each projection has got per partition and who may move it (the fence
//!   behind exactly-once), and the channel announcing each commit;
//! - [`parked`]: aggregates held back behind an event that could not be applied, and every
//!   record sent to the dead-letter topic;
//! - [`snapshot`]: aggregates as folded into `aggregate_state` (state, recent command IDs,
//!   saga steps taken), read back by the projector per batch and by the command side per
//!   partition.

pub mod database;
pub mod migrations;
pub mod offsets;
pub mod parked;
pub mod snapshot;
