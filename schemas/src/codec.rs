//! Encodes typed records into framed Avro and decodes framed Avro from any known writer
//! version into the newest version this build knows.
//!
//! Decoding is total: every input, however malformed, ends in `Ok` or a [`DecodeError`]; the
//! property tests feed it arbitrary bytes. Resolution follows the Avro specification (fields
//! added with a default are filled in, removed fields are skipped), so a consumer built with a
//! newer contract reads everything older producers wrote.

use std::sync::Arc;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;

use crate::error::{DecodeError, EncodeError, hex_prefix};
use crate::framing::{self, ConfluentIds, Framing, WriterSchemaRef};
use crate::record::Record;
use crate::registry::{SchemaRegistry, SchemaVersion};

/// Encoder and decoder of framed Avro values over one [`SchemaRegistry`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Codec {
    registry: &'static SchemaRegistry,
    framing: Framing,
    confluent_ids: Arc<ConfluentIds>,
}

/// A value decoded from the wire and resolved into the newest schema version of its record.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The version the producer wrote.
    pub writer: &'static SchemaVersion,
    /// The version the value was resolved into (the newest in the codec's registry).
    pub reader: &'static SchemaVersion,
    /// The resolved value, in the reader's shape.
    pub value: Value,
}

impl Decoded {
    /// Full Avro name of the record.
    pub fn full_name(&self) -> &'static str {
        &self.reader.full_name
    }

    /// Converts into the typed record `R`, refusing a record of another type.
    pub fn into_record<R: Record>(self) -> Result<R, DecodeError> {
        if self.full_name() != R::FULL_NAME {
            return Err(DecodeError::UnexpectedRecord {
                expected: R::FULL_NAME.to_owned(),
                found: self.full_name().to_owned(),
            });
        }
        apache_avro::from_value(&self.value).map_err(|error| DecodeError::DoesNotMatchSchema {
            schema: self.reader.label(),
            reason: format!("value does not fit the Rust type: {error}"),
        })
    }
}

impl Codec {
    /// A codec over `registry` that writes Avro single-object encoding (and reads both
    /// framings; Confluent values only when their IDs are known, see [`Codec::confluent`]).
    pub fn single_object(registry: &'static SchemaRegistry) -> Self {
        Self {
            registry,
            framing: Framing::SingleObject,
            confluent_ids: Arc::default(),
        }
    }

    /// A codec over `registry` that writes Confluent framing with the Schema Registry IDs in
    /// `ids` (and reads both framings).
    pub fn confluent(registry: &'static SchemaRegistry, ids: ConfluentIds) -> Self {
        Self {
            registry,
            framing: Framing::Confluent,
            confluent_ids: Arc::new(ids),
        }
    }

    /// The schemas this codec reads and writes.
    pub fn registry(&self) -> &'static SchemaRegistry {
        self.registry
    }

    /// The framing this codec writes.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Encodes `record` with the newest version of its schema, framed.
    pub fn encode<R: Record>(&self, record: &R) -> Result<Vec<u8>, EncodeError> {
        let schema =
            self.registry
                .latest(R::FULL_NAME)
                .ok_or_else(|| EncodeError::UnknownRecord {
                    full_name: R::FULL_NAME.to_owned(),
                })?;
        let mut out = Vec::with_capacity(64);
        framing::write_header(&mut out, self.header_for(schema)?);
        let mismatch = |error: apache_avro::Error| EncodeError::DoesNotMatchSchema {
            schema: schema.label(),
            reason: error.to_string(),
        };
        let writer = GenericDatumWriter::builder(&schema.schema)
            .build()
            .map_err(mismatch)?;
        writer.write_ser(&mut out, record).map_err(mismatch)?;
        Ok(out)
    }

    /// Encodes an untyped Avro value written with `schema` (any version), framed. Used to
    /// produce data of older versions and by tools that hold no Rust type.
    pub fn encode_value(
        &self,
        schema: &'static SchemaVersion,
        value: Value,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        framing::write_header(&mut out, self.header_for(schema)?);
        let mismatch = |error: apache_avro::Error| EncodeError::DoesNotMatchSchema {
            schema: schema.label(),
            reason: error.to_string(),
        };
        let writer = GenericDatumWriter::builder(&schema.schema)
            .build()
            .map_err(mismatch)?;
        writer.write_value(&mut out, value).map_err(mismatch)?;
        Ok(out)
    }

    /// Decodes framed bytes (either framing) and resolves them into the newest version of
    /// their record.
    pub fn decode(&self, bytes: &[u8]) -> Result<Decoded, DecodeError> {
        let (writer_ref, mut datum) = framing::split(bytes)?;
        let writer = self.writer_schema(writer_ref)?;
        let reader = self.registry.latest(&writer.full_name).unwrap_or(writer);
        let mismatch = |error: apache_avro::Error| DecodeError::DoesNotMatchSchema {
            schema: writer.label(),
            reason: error.to_string(),
        };
        let plain = GenericDatumReader::builder(&writer.schema)
            .build()
            .map_err(mismatch)?
            .read_value(&mut datum)
            .map_err(mismatch)?;
        if !datum.is_empty() {
            return Err(DecodeError::DoesNotMatchSchema {
                schema: writer.label(),
                reason: format!(
                    "{} bytes left over after the record ({}…)",
                    datum.len(),
                    hex_prefix(datum, 8)
                ),
            });
        }
        // The decoder turns a string cut short into a null instead of failing, so a truncated
        // value is only caught by validating what it produced against the writer schema.
        if !plain.validate(&writer.schema) {
            return Err(DecodeError::DoesNotMatchSchema {
                schema: writer.label(),
                reason: "the data is truncated or corrupt: what it decodes to is not a valid value of the schema".to_owned(),
            });
        }
        let value = if std::ptr::eq(reader, writer) {
            plain
        } else {
            plain
                .resolve(&reader.schema)
                .map_err(|error| DecodeError::NotResolvable {
                    writer: writer.label(),
                    reader: reader.label(),
                    reason: error.to_string(),
                })?
        };
        Ok(Decoded {
            writer,
            reader,
            value,
        })
    }

    /// Decodes framed bytes into the typed record `R`.
    pub fn decode_record<R: Record>(&self, bytes: &[u8]) -> Result<R, DecodeError> {
        self.decode(bytes)?.into_record()
    }

    fn header_for(&self, schema: &SchemaVersion) -> Result<WriterSchemaRef, EncodeError> {
        match self.framing {
            Framing::SingleObject => Ok(WriterSchemaRef::Fingerprint(schema.fingerprint)),
            Framing::Confluent => self
                .confluent_ids
                .id(&schema.fingerprint)
                .map(WriterSchemaRef::SchemaId)
                .ok_or_else(|| EncodeError::NoSchemaId {
                    schema: schema.label(),
                }),
        }
    }

    fn writer_schema(
        &self,
        writer_ref: WriterSchemaRef,
    ) -> Result<&'static SchemaVersion, DecodeError> {
        let fingerprint = match writer_ref {
            WriterSchemaRef::Fingerprint(fingerprint) => fingerprint,
            WriterSchemaRef::SchemaId(id) => self
                .confluent_ids
                .fingerprint(id)
                .ok_or(DecodeError::UnknownSchemaId { id })?,
        };
        self.registry
            .by_fingerprint(&fingerprint)
            .ok_or_else(|| DecodeError::UnknownFingerprint {
                fingerprint: hex_prefix(&fingerprint, 8),
            })
    }
}
