//! Tributary's wire contract: everything that crosses Kafka, and nothing else.
//!
//! Read the modules in this order:
//! - [`registry`]: a domain's `.avsc` files plus the pipeline's own, every published version,
//!   looked up by fingerprint — the contract itself; a domain embeds its files with
//!   `tributary-schema-embed` and [`embedded_schema_files!`] or reads them at start-up;
//! - [`framing`]: the bytes in front of each value naming its writer schema (Avro single-object
//!   encoding by default, Confluent framing as an option; both are read);
//! - [`codec`]: typed records to framed Avro and back, resolving older writer versions into the
//!   newest; total on malformed input;
//! - [`record`]: the [`Record`] and [`RecordSet`] traits tying Rust types to schema names, and
//!   the [`avro_record!`] and [`record_set!`] macros a domain declares its records with;
//! - [`protocol`]: the typed records of the pipeline itself;
//! - [`headers`]: the record headers (event ID, type, aggregate version, causation, …);
//! - [`compatibility`]: the evolution rule, checked over every schema history by the tests;
//! - [`error`]: what can go wrong, in words an operator can act on.

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
pub use registry::{SchemaRegistry, SchemaVersion, protocol_registry, protocol_schema_files};

/// serde, for the expansion of [`record_set!`] in a domain's crate.
#[doc(hidden)]
pub use serde as __serde;
