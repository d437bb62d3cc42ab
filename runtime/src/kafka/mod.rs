//! Kafka clients configured once for every binary: connection settings with `KAFKA_*`
//! pass-through, the settings our guarantees pin, topic administration, and partition end
//! offsets.

pub mod admin;
pub mod config;
pub mod enqueue;
pub mod offsets;
pub mod record;

pub use config::{ConfigError, KafkaSettings};
pub use enqueue::enqueue;
pub use record::SourceRecord;
