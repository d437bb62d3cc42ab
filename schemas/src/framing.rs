//! The bytes in front of every Avro value, naming the schema it was written with.
//!
//! Two framings exist in the Kafka world and the decoder accepts both, so a topic can move from
//! one to the other without a flag day:
//! - Avro single-object encoding, `C3 01` + the 8-byte CRC-64-AVRO fingerprint of the writer
//!   schema (the default: no registry server is needed, the fingerprint finds the schema in
//!   the build);
//! - Confluent framing, `00` + a 4-byte big-endian schema ID assigned by a Schema Registry.

use std::collections::HashMap;

use crate::error::{DecodeError, hex_prefix};

/// Which framing the encoder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Avro single-object encoding: `C3 01` + 8-byte fingerprint.
    #[default]
    SingleObject,
    /// Confluent Schema Registry framing: `00` + 4-byte big-endian schema ID.
    Confluent,
}

impl Framing {
    /// Name used in messages and configuration (`single-object`, `confluent`).
    pub fn name(self) -> &'static str {
        match self {
            Framing::SingleObject => "single-object",
            Framing::Confluent => "confluent",
        }
    }
}

const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const SINGLE_OBJECT_HEADER_LEN: usize = 10;
const CONFLUENT_MAGIC: u8 = 0x00;
const CONFLUENT_HEADER_LEN: usize = 5;

/// How a frame names its writer schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriterSchemaRef {
    Fingerprint([u8; 8]),
    SchemaId(u32),
}

/// Splits a framed value into the writer-schema reference and the Avro datum after it.
pub(crate) fn split(bytes: &[u8]) -> Result<(WriterSchemaRef, &[u8]), DecodeError> {
    match bytes {
        [0xC3, 0x01, ..] => {
            let (header, datum) = split_header(bytes, SINGLE_OBJECT_HEADER_LEN, "single-object")?;
            let mut fingerprint = [0u8; 8];
            fingerprint.copy_from_slice(&header[2..]);
            Ok((WriterSchemaRef::Fingerprint(fingerprint), datum))
        }
        [CONFLUENT_MAGIC, ..] => {
            let (header, datum) = split_header(bytes, CONFLUENT_HEADER_LEN, "confluent")?;
            let id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            Ok((WriterSchemaRef::SchemaId(id), datum))
        }
        [0xC3] => Err(DecodeError::Truncated {
            framing: "single-object",
            needed: SINGLE_OBJECT_HEADER_LEN,
            actual: 1,
        }),
        _ => Err(DecodeError::BadMagic {
            found: hex_prefix(bytes, 4),
        }),
    }
}

fn split_header<'a>(
    bytes: &'a [u8],
    header_len: usize,
    framing: &'static str,
) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
    if bytes.len() < header_len {
        return Err(DecodeError::Truncated {
            framing,
            needed: header_len,
            actual: bytes.len(),
        });
    }
    Ok(bytes.split_at(header_len))
}

/// Writes the frame header for `framing` into `out`.
pub(crate) fn write_header(out: &mut Vec<u8>, header: WriterSchemaRef) {
    match header {
        WriterSchemaRef::Fingerprint(fingerprint) => {
            out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
            out.extend_from_slice(&fingerprint);
        }
        WriterSchemaRef::SchemaId(id) => {
            out.push(CONFLUENT_MAGIC);
            out.extend_from_slice(&id.to_be_bytes());
        }
    }
}

/// Schema Registry IDs of the schema versions in this build, both ways.
///
/// Confluent framing names a schema by an ID that only the registry knows; this map is how the
/// codec learns it (from configuration or from a registry lookup at start-up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfluentIds {
    by_id: HashMap<u32, [u8; 8]>,
    by_fingerprint: HashMap<[u8; 8], u32>,
}

impl ConfluentIds {
    /// Builds the map from `(schema ID, fingerprint)` pairs.
    pub fn new(pairs: impl IntoIterator<Item = (u32, [u8; 8])>) -> Self {
        let mut ids = Self::default();
        for (id, fingerprint) in pairs {
            ids.by_id.insert(id, fingerprint);
            ids.by_fingerprint.insert(fingerprint, id);
        }
        ids
    }

    /// The fingerprint of the schema registered under `id`.
    pub fn fingerprint(&self, id: u32) -> Option<[u8; 8]> {
        self.by_id.get(&id).copied()
    }

    /// The ID the registry gave the schema with `fingerprint`.
    pub fn id(&self, fingerprint: &[u8; 8]) -> Option<u32> {
        self.by_fingerprint.get(fingerprint).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_object_header_round_trips() {
        let mut out = Vec::new();
        write_header(
            &mut out,
            WriterSchemaRef::Fingerprint([1, 2, 3, 4, 5, 6, 7, 8]),
        );
        out.push(42);
        assert_eq!(&out[..2], &[0xC3, 0x01]);
        let (writer, datum) = split(&out).unwrap();
        assert_eq!(
            writer,
            WriterSchemaRef::Fingerprint([1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_eq!(datum, &[42]);
    }

    #[test]
    fn confluent_header_is_big_endian_id() {
        let mut out = Vec::new();
        write_header(&mut out, WriterSchemaRef::SchemaId(0x0102_0304));
        assert_eq!(out, vec![0, 1, 2, 3, 4]);
        assert_eq!(
            split(&out).map(|(w, _)| w),
            Ok(WriterSchemaRef::SchemaId(0x0102_0304))
        );
    }

    #[test]
    fn short_headers_are_truncated_not_bad_magic() {
        assert_eq!(
            split(&[0xC3, 0x01, 1, 2]),
            Err(DecodeError::Truncated {
                framing: "single-object",
                needed: 10,
                actual: 4
            })
        );
        assert_eq!(
            split(&[0x00, 1]),
            Err(DecodeError::Truncated {
                framing: "confluent",
                needed: 5,
                actual: 2
            })
        );
        assert_eq!(
            split(&[0xC3]),
            Err(DecodeError::Truncated {
                framing: "single-object",
                needed: 10,
                actual: 1
            })
        );
    }

    #[test]
    fn anything_else_is_bad_magic_with_the_bytes_named() {
        let error = split(b"{\"json\":1}").err();
        assert_eq!(
            error,
            Some(DecodeError::BadMagic {
                found: "7B 22 6A 73".to_owned()
            })
        );
        assert_eq!(
            split(&[]).err(),
            Some(DecodeError::BadMagic {
                found: "nothing (empty value)".to_owned()
            })
        );
    }
}
