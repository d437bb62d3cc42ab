//! Typed errors of the wire contract. Each message says what was wrong, with the offending
//! value, and what an operator can do about it; `DecodeError::reason` gives a short stable
//! label for metrics and dead-letter headers.

use thiserror::Error;

/// The `.avsc` files given to a registry do not form a valid one (for embedded files, caught by
/// the test suite of the crate that embeds them).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RegistryError {
    /// The file is not named `vN.avsc`.
    #[error(
        "schema file {path} is not named vN.avsc: name each published version v1.avsc, v2.avsc, …"
    )]
    BadFileName {
        /// Offending path.
        path: String,
    },
    /// The file is not a valid Avro schema.
    #[error("schema file {path} is not a valid Avro schema: {reason}")]
    Unparsable {
        /// Offending path.
        path: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A schema directory or file could not be read.
    #[error("cannot read schema file or directory {path}: {reason}")]
    Unreadable {
        /// Offending path.
        path: String,
        /// The operating system's complaint.
        reason: String,
    },
    /// The file holds something other than a named record.
    #[error("schema file {path} must hold a record schema; every value on the wire is a record")]
    NotARecord {
        /// Offending path.
        path: String,
    },
    /// Two files have the same canonical form.
    #[error("schema files {first} and {second} have the same fingerprint: delete the copy")]
    DuplicateFingerprint {
        /// One file.
        first: String,
        /// The other file.
        second: String,
    },
    /// Two files claim the same version of one record.
    #[error("schema files {first} and {second} are the same version of one record: renumber one")]
    DuplicateVersion {
        /// One file.
        first: String,
        /// The other file.
        second: String,
    },
}

/// A value could not be encoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The Rust type names a record this build has no schema for.
    #[error(
        "no schema named {full_name} is in the codec's schema registry: add its .avsc file (…/{full_name}/v1.avsc) to the domain's schema directory"
    )]
    UnknownRecord {
        /// The record's full name.
        full_name: String,
    },
    /// The value does not fit its schema (a bug in the typed value).
    #[error("value does not match schema {schema}: {reason}")]
    DoesNotMatchSchema {
        /// `name vN (path)` of the schema.
        schema: String,
        /// The encoder's complaint.
        reason: String,
    },
    /// Confluent framing was asked for a schema that has no registry ID.
    #[error(
        "schema {schema} has no Confluent schema ID: register it with the Schema Registry and add its ID to the configured ID map"
    )]
    NoSchemaId {
        /// `name vN (path)` of the schema.
        schema: String,
    },
}

/// A value could not be decoded. Never a panic: every malformed input ends here.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Too short to hold the frame header.
    #[error(
        "value is truncated: {framing} framing needs at least {needed} bytes, the value has {actual}"
    )]
    Truncated {
        /// Which framing the first bytes announced.
        framing: &'static str,
        /// Bytes the header needs.
        needed: usize,
        /// Bytes present.
        actual: usize,
    },
    /// Neither `C3 01` (single-object) nor `00` (Confluent).
    #[error(
        "value starts with {found}, which is neither Avro single-object encoding (C3 01) nor Confluent framing (00): it was not written by an Avro producer of this contract"
    )]
    BadMagic {
        /// The first bytes, in hex.
        found: String,
    },
    /// Single-object encoding with a fingerprint this build does not know.
    #[error(
        "no schema in this build has fingerprint {fingerprint}: the writer used a schema version this reader does not know; deploy a build that contains it"
    )]
    UnknownFingerprint {
        /// The fingerprint, in hex as written on the wire.
        fingerprint: String,
    },
    /// Confluent framing with an ID missing from the configured ID map.
    #[error(
        "Confluent schema ID {id} is not in the configured ID map: add the ID of that schema version to the map"
    )]
    UnknownSchemaId {
        /// The schema ID.
        id: u32,
    },
    /// The bytes after the header are not valid data of the writer schema.
    #[error("value does not match its writer schema {schema}: {reason}")]
    DoesNotMatchSchema {
        /// `name vN (path)` of the writer schema.
        schema: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The writer's version cannot be resolved into this build's version.
    #[error("{writer} cannot be read as {reader}: {reason}")]
    NotResolvable {
        /// `name vN (path)` of the writer schema.
        writer: String,
        /// `name vN (path)` of the reader schema.
        reader: String,
        /// The resolver's complaint.
        reason: String,
    },
    /// The value is a valid record of another type than the caller expected.
    #[error("expected a record of type {expected}, found {found}")]
    UnexpectedRecord {
        /// What the caller can handle.
        expected: String,
        /// What the value is.
        found: String,
    },
}

impl DecodeError {
    /// A short, stable label for metrics and dead-letter headers.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::BadMagic { .. } => "bad_magic",
            DecodeError::UnknownFingerprint { .. } => "unknown_fingerprint",
            DecodeError::UnknownSchemaId { .. } => "unknown_schema_id",
            DecodeError::DoesNotMatchSchema { .. } => "does_not_match_schema",
            DecodeError::NotResolvable { .. } => "not_resolvable",
            DecodeError::UnexpectedRecord { .. } => "unexpected_record",
        }
    }
}

/// A record header is missing or malformed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// A required header is absent.
    #[error("record has no `{name}` header; every record of this topic must carry it")]
    Missing {
        /// Header name.
        name: &'static str,
    },
    /// A header's value cannot be parsed.
    #[error("header `{name}` has value {value:?}, which is not {expected}")]
    Invalid {
        /// Header name.
        name: &'static str,
        /// The value, lossily decoded as UTF-8.
        value: String,
        /// What the value must look like.
        expected: &'static str,
    },
}

/// Hex of up to `limit` bytes, for error messages.
pub(crate) fn hex_prefix(bytes: &[u8], limit: usize) -> String {
    let mut out: Vec<String> = bytes
        .iter()
        .take(limit)
        .map(|b| format!("{b:02X}"))
        .collect();
    if bytes.is_empty() {
        out.push("nothing (empty value)".to_owned());
    }
    out.join(" ")
}
