//! The codec against a contract of its own (two records of a note, one in two versions): every
//! record round-trips in both framings, an old version resolves into the new one, a record
//! set refuses a record of another set, each corrupt input is named for what is wrong with
//! it, and no input makes the decoder panic. A domain's crate tests its own contract the same
//! way (the bank's: `examples/bank/tests/codec.rs`).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use apache_avro::types::Value;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tributary_schemas::protocol::CommandRefused;
use tributary_schemas::{
    Codec, ConfluentIds, DecodeError, EncodeError, Record, RecordSet, SchemaRegistry,
    SchemaVersion, avro_record, record_set,
};

/// A note was written; `tag` came with version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Written {
    text: String,
    tag: Option<String>,
}

/// A note was erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Erased {}

/// A record of another set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pinned {
    at: i64,
}

avro_record! {
    Written => "testing.note.Written",
    Erased => "testing.note.Erased",
    Pinned => "testing.board.Pinned",
}

record_set! {
    /// Every event of a note.
    pub enum NoteEvent {
        /// See [`Written`].
        Written(Written),
        /// See [`Erased`].
        Erased(Erased),
        /// See [`CommandRefused`].
        CommandRefused(CommandRefused),
    }
}

const WRITTEN_V1: &str = r#"{"type":"record","name":"Written","namespace":"testing.note",
  "fields":[{"name":"text","type":"string"}]}"#;
const WRITTEN_V2: &str = r#"{"type":"record","name":"Written","namespace":"testing.note",
  "fields":[{"name":"text","type":"string"},
            {"name":"tag","type":["null","string"],"default":null}]}"#;
const ERASED: &str = r#"{"type":"record","name":"Erased","namespace":"testing.note","fields":[]}"#;
const PINNED: &str = r#"{"type":"record","name":"Pinned","namespace":"testing.board",
  "fields":[{"name":"at","type":"long"}]}"#;

fn registry() -> &'static SchemaRegistry {
    static REGISTRY: std::sync::LazyLock<&'static SchemaRegistry> =
        std::sync::LazyLock::new(|| {
            SchemaRegistry::with_protocol([
                ("note/events/Written/v1.avsc", WRITTEN_V1),
                ("note/events/Written/v2.avsc", WRITTEN_V2),
                ("note/events/Erased/v1.avsc", ERASED),
                ("board/events/Pinned/v1.avsc", PINNED),
            ])
            .unwrap()
            .leak()
        });
    *REGISTRY
}

fn single_object() -> Codec {
    Codec::single_object(registry())
}

/// Schema IDs 1..n in registry order.
fn confluent() -> Codec {
    let ids = registry()
        .versions()
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u32 + 1, v.fingerprint));
    Codec::confluent(registry(), ConfluentIds::new(ids))
}

fn written(text: &str, tag: Option<&str>) -> Written {
    Written {
        text: text.to_owned(),
        tag: tag.map(str::to_owned),
    }
}

fn first_version(full_name: &str) -> &'static SchemaVersion {
    registry().history(full_name).next().unwrap()
}

#[test]
fn every_record_round_trips_in_both_framings() {
    let events: [NoteEvent; 4] = [
        written("hello", Some("greeting")).into(),
        written("", None).into(),
        Erased {}.into(),
        CommandRefused {
            command_type: "testing.note.Write".to_owned(),
            reason: "the note is erased".to_owned(),
        }
        .into(),
    ];
    for codec in [single_object(), confluent()] {
        for event in &events {
            let bytes = event.encode(&codec).unwrap();
            let back = NoteEvent::decode(&codec, &bytes).unwrap();
            assert_eq!(&back, event, "{:?} framing", codec.framing());
        }
    }
}

#[test]
fn version_1_data_is_read_as_version_2_with_the_default() {
    let v1 = first_version(Written::FULL_NAME);
    assert_eq!(v1.version, 1);
    let value = Value::Record(vec![("text".to_owned(), Value::String("old".to_owned()))]);
    for codec in [single_object(), confluent()] {
        let bytes = codec.encode_value(v1, value.clone()).unwrap();
        let decoded = codec.decode(&bytes).unwrap();
        assert_eq!((decoded.writer.version, decoded.reader.version), (1, 2));
        let event = NoteEvent::from_decoded(decoded).unwrap();
        assert_eq!(event, NoteEvent::Written(written("old", None)));
    }
}

#[test]
fn a_record_set_refuses_a_record_of_another_set() {
    let codec = single_object();
    let bytes = codec.encode(&Pinned { at: 3 }).unwrap();
    let error = NoteEvent::decode(&codec, &bytes).unwrap_err();
    assert_eq!(
        error,
        DecodeError::UnexpectedRecord {
            expected: "one of NoteEvent".to_owned(),
            found: Pinned::FULL_NAME.to_owned(),
        }
    );
}

#[test]
fn an_unknown_fingerprint_is_named_in_hex() {
    let mut bytes = single_object().encode(&Pinned { at: 1 }).unwrap();
    bytes[2..10].copy_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 1]);
    let error = single_object().decode(&bytes).unwrap_err();
    assert_eq!(
        error,
        DecodeError::UnknownFingerprint {
            fingerprint: "DE AD BE EF 00 00 00 01".to_owned()
        }
    );
    assert_eq!(error.reason(), "unknown_fingerprint");
}

#[test]
fn an_unknown_confluent_id_is_named() {
    let error = single_object()
        .decode(&[0, 0, 0, 0x30, 0x39, 2])
        .unwrap_err();
    assert_eq!(error, DecodeError::UnknownSchemaId { id: 12345 });
    assert!(error.to_string().contains("12345"));
}

#[test]
fn confluent_encoding_without_an_id_is_refused() {
    let error = Codec::confluent(registry(), ConfluentIds::default())
        .encode(&Pinned { at: 1 })
        .unwrap_err();
    assert!(
        matches!(error, EncodeError::NoSchemaId { ref schema } if schema.contains("Pinned v1")),
        "{error}"
    );
}

#[test]
fn trailing_bytes_and_truncated_data_do_not_match_the_schema() {
    let codec = single_object();
    let mut bytes = codec.encode(&written("some text", None)).unwrap();
    let mut longer = bytes.clone();
    longer.push(0);
    let error = codec.decode(&longer).unwrap_err();
    assert!(
        matches!(error, DecodeError::DoesNotMatchSchema { ref reason, .. } if reason.contains("1 bytes left over")),
        "{error}"
    );
    bytes.truncate(bytes.len() - 2);
    let error = codec.decode(&bytes).unwrap_err();
    assert_eq!(error.reason(), "does_not_match_schema", "{error}");
    assert!(error.to_string().contains("Written v2"), "{error}");
}

#[test]
fn a_huge_length_prefix_is_an_error_not_an_allocation() {
    // The string field claims ~1 GiB (zig-zag varint) behind a valid header.
    let mut bytes = single_object().encode(&written("", None)).unwrap();
    bytes.truncate(10);
    bytes.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]);
    assert_eq!(
        single_object().decode(&bytes).unwrap_err().reason(),
        "does_not_match_schema"
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = single_object().decode(&bytes);
        let _ = confluent().decode(&bytes);
    }

    #[test]
    fn arbitrary_bodies_behind_every_known_header_never_panic(
        index in 0usize..64,
        body in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        let versions = registry().versions();
        let version = &versions[index % versions.len()];
        let mut bytes = vec![0xC3, 0x01];
        bytes.extend_from_slice(&version.fingerprint);
        bytes.extend_from_slice(&body);
        if let Ok(decoded) = single_object().decode(&bytes) {
            prop_assert_eq!(&decoded.writer.full_name, &version.full_name);
        }
    }

    #[test]
    fn any_text_and_tag_round_trip(text in ".{0,40}", tag in proptest::option::of(".{0,20}")) {
        let record = Written { text, tag };
        for codec in [single_object(), confluent()] {
            let back: Written = codec.decode_record(&codec.encode(&record).unwrap()).unwrap();
            prop_assert_eq!(&back, &record);
        }
    }
}
