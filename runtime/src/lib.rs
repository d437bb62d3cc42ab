//! Plumbing shared by every Tributary binary, written once.
//!
//! - [`clock`]: time as the wire contract carries it;
//! - [`partitioner`]: key → partition, identical to the Java client, so every Kafka client
//!   agrees where an aggregate lives;
//! - [`topology`]: the pipeline's topics, their configurations, and the co-partitioning rule
//!   of commands and events;
//! - [`kafka`]: client configuration (`KAFKA_*` pass-through, pinned guarantees), topic
//!   administration and partition end offsets;
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`; [`metrics`]: registering metrics;
//! - [`instance`]: the name of one running process; [`settings`]: renamed settings;
//! - [`shutdown`]: one handle that tells every task to finish;
//! - [`telemetry`]: JSON or text logs.

pub mod clock;
pub mod http;
pub mod instance;
pub mod kafka;
pub mod metrics;
pub mod partitioner;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod topology;

pub use partitioner::partition_for_key;
pub use shutdown::Shutdown;
pub use topology::Topology;
