//! Tributary's wire contract: everything that crosses Kafka, and nothing else.
//!
//! Read the modules in this order:
//! - [`registry`]: the `.avsc` files of `schemas/avro`, every published version embedded in the
//!   build and looked up by fingerprint — the contract itself;
//! - [`framing`]: the bytes in front of each value naming its writer schema (Avro single-object
//!   encoding by default, Confluent framing as an option; both are read);
//! - [`codec`]: typed records to framed Avro and back, resolving older writer versions into the
//!   newest; total on malformed input;
//! - [`record`]: the [`Record`] and [`RecordSet`] traits tying Rust types to schema names;
//! - [`bank`] and [`protocol`]: the typed records of the reference domain and of the pipeline;
//! - [`headers`]: the record headers (event ID, type, aggregate version, causation, …);
//! - [`compatibility`]: the evolution rule, checked over every schema history by the tests;
//! - [`error`]: what can go wrong, in words an operator can act on.

pub mod bank;
pub mod codec;
pub mod compatibility;
pub mod error;
pub mod framing;
pub mod headers;
pub mod protocol;
pub mod record;
pub mod registry;

pub use codec::{Codec, Decoded};
pub use error::{DecodeError, EncodeError, HeaderError};
pub use framing::{ConfluentIds, Framing};
pub use record::{Record, RecordSet};
pub use registry::{SchemaRegistry, SchemaVersion, registry};
