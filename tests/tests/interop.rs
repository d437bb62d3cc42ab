//! Interoperability with independent implementations: Python's fastavro reads every schema
//! version as our codec writes it and writes the very same bytes, in both framings; and a
//! record we produce is read by Python's confluent-kafka with the expected key, partition and
//! headers, its value decoded by fastavro from the `.avsc` files alone.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use apache_avro::Schema;
use apache_avro::types::Value;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use serde_json::json;
use tributary_bank::records::account::{AccountEvent, AccountOpened, Deposited, Withdrawn};
use tributary_runtime::partition_for_key;
use tributary_schemas::headers::EventHeaders;
use tributary_schemas::{Codec, ConfluentIds, RecordSet, SchemaVersion};
use tributary_tests::*;

/// Which branch of each optional field a sample takes.
#[derive(Clone, Copy)]
enum Fill {
    /// Every optional field set.
    Full,
    /// Every optional field null.
    Minimal,
}

/// A deterministic value of `schema` exercising every type the contract uses.
fn sample(schema: &Schema, field: &str, fill: Fill) -> Value {
    match schema {
        Schema::Null => Value::Null,
        Schema::Boolean => Value::Boolean(true),
        Schema::Int => Value::Int(-42),
        Schema::Long => Value::Long(1_234_567_890_123),
        Schema::String => Value::String(format!("{field}: caf\u{e9} \u{2603}")),
        Schema::Bytes => Value::Bytes(vec![0, 1, 0x7f, 0x80, 0xff]),
        Schema::TimestampMillis => Value::TimestampMillis(1_790_000_000_123),
        Schema::Enum(e) => Value::Enum(
            (e.symbols.len() - 1) as u32,
            e.symbols.last().unwrap().clone(),
        ),
        Schema::Union(union) => {
            let variants = union.variants();
            let index = match fill {
                Fill::Minimal => variants
                    .iter()
                    .position(|v| *v == Schema::Null)
                    .unwrap_or(0),
                Fill::Full => variants
                    .iter()
                    .position(|v| *v != Schema::Null)
                    .unwrap_or(0),
            };
            Value::Union(
                index as u32,
                Box::new(sample(&variants[index], field, fill)),
            )
        }
        Schema::Record(record) => Value::Record(
            record
                .fields
                .iter()
                .map(|f| (f.name.clone(), sample(&f.schema, &f.name, fill)))
                .collect(),
        ),
        other => panic!("the contract uses a type the samples do not cover: {other:?}"),
    }
}

/// The JSON shape both sides compare: unions unwrapped, enums as symbols, bytes as numbers.
fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Long(l) | Value::TimestampMillis(l) => json!(l),
        Value::String(s) | Value::Enum(_, s) => json!(s),
        Value::Bytes(b) => json!(b),
        Value::Union(_, inner) => to_json(inner),
        Value::Record(fields) => serde_json::Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        other => panic!("unexpected value in a sample: {other:?}"),
    }
}

fn confluent_ids() -> ConfluentIds {
    ConfluentIds::new(
        tributary_bank::schemas()
            .versions()
            .iter()
            .enumerate()
            .map(|(i, v)| (100 + i as u32, v.fingerprint)),
    )
}

struct Case {
    version: &'static SchemaVersion,
    framing: &'static str,
    value: Value,
    bytes: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let ids = confluent_ids();
    let codecs = [
        ("single-object", tributary_bank::codec()),
        (
            "confluent",
            Codec::confluent(tributary_bank::schemas(), ids),
        ),
    ];
    let mut cases = Vec::new();
    for version in tributary_bank::schemas().versions() {
        for fill in [Fill::Full, Fill::Minimal] {
            let value = sample(&version.schema, "", fill);
            for (framing, codec) in &codecs {
                let bytes = codec.encode_value(version, value.clone()).unwrap();
                cases.push(Case {
                    version,
                    framing,
                    value: value.clone(),
                    bytes,
                });
            }
        }
    }
    cases
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn fastavro_reads_what_we_write_and_writes_the_same_bytes_for_every_schema_version() {
    let cases = cases();
    let ids = confluent_ids();
    let input: Vec<serde_json::Value> = cases
        .iter()
        .map(|case| {
            json!({
                "path": case.version.path,
                "framing": case.framing,
                "schema_id": ids.id(&case.version.fingerprint),
                "value": to_json(&case.value),
                "encoded_hex": hex(&case.bytes),
            })
        })
        .collect();
    let dir = std::env::temp_dir().join(unique_name("avro-interop"));
    std::fs::create_dir_all(&dir).unwrap();
    let (input_path, output_path) = (dir.join("cases.json"), dir.join("python.json"));
    std::fs::write(&input_path, serde_json::to_vec(&input).unwrap()).unwrap();

    run_python(
        "avro_interop.py",
        &[input_path.to_str().unwrap(), output_path.to_str().unwrap()],
    );

    let output: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&output_path).unwrap()).unwrap();
    assert_eq!(output.len(), cases.len(), "fastavro answered every case");
    let codec = Codec::confluent(tributary_bank::schemas(), confluent_ids());
    for (case, answer) in cases.iter().zip(&output) {
        let label = format!("{} ({})", case.version.path, case.framing);
        assert_eq!(answer["path"], case.version.path, "{label}");
        let python_hex = answer["python_hex"].as_str().unwrap();
        assert_eq!(
            python_hex,
            hex(&case.bytes),
            "{label}: fastavro's bytes differ from ours"
        );
        let python_bytes: Vec<u8> = (0..python_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&python_hex[i..i + 2], 16).unwrap())
            .collect();
        let decoded = codec
            .decode(&python_bytes)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(decoded.writer.path, case.version.path, "{label}");
    }
    assert!(cases.len() >= 4 * tributary_bank::schemas().versions().len());
}

#[tokio::test]
async fn confluent_kafka_reads_our_records_with_key_partition_and_headers() {
    const PARTITIONS: i32 = 4;
    let topic = unique_name("interop");
    create_topic(&topic, PARTITIONS).await;
    let codec = tributary_bank::codec();
    let events: Vec<(String, AccountEvent)> = vec![
        (
            "acc-1".into(),
            AccountOpened {
                owner_id: "u-1".into(),
                currency: "EUR".into(),
            }
            .into(),
        ),
        (
            "acc-1".into(),
            Deposited {
                amount: 500,
                reference: Some("SEPA-1".into()),
            }
            .into(),
        ),
        (
            "acc-2".into(),
            AccountOpened {
                owner_id: "u-2".into(),
                currency: "USD".into(),
            }
            .into(),
        ),
        ("acc-2".into(), Withdrawn { amount: 0 }.into()),
        (
            "acc-3".into(),
            Deposited {
                amount: 7,
                reference: None,
            }
            .into(),
        ),
    ];
    let producer = producer(&[]);
    let mut expected = Vec::new();
    for (i, (key, event)) in events.iter().enumerate() {
        let headers = EventHeaders {
            event_id: format!("0190f0d2-7c1e-7a4b-9b7e-{i:012}"),
            event_type: event.full_name().to_owned(),
            aggregate_version: i as u64 + 1,
            command_id: format!("cmd-{i}"),
            correlation_id: "corr".into(),
            occurred_at: 1_790_000_000_000 + i as i64,
            cause: None,
        };
        let pairs = headers.to_pairs();
        let kafka_headers = pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v),
            })
        });
        let value = event.encode(&codec).unwrap();
        let (partition, offset) = producer
            .send(
                FutureRecord::to(&topic)
                    .key(key)
                    .payload(&value)
                    .headers(kafka_headers),
                BROKER_TIMEOUT,
            )
            .await
            .map(|d| (d.partition, d.offset))
            .map_err(|(e, _)| e)
            .unwrap();
        assert_eq!(partition, partition_for_key(key.as_bytes(), PARTITIONS));
        let decoded = codec.decode(&value).unwrap();
        expected.push(json!({
            "key": key,
            "partition": partition,
            "offset": offset,
            "headers": pairs.iter().map(|(k, v)| json!([k, hex(v)])).collect::<Vec<_>>(),
            "schema": decoded.writer.path,
            "value": to_json(&decoded.value),
        }));
    }
    expected.sort_by_key(|r| (r["partition"].as_i64(), r["offset"].as_i64()));

    let stdout = run_python("kafka_interop.py", &[&topic, &events.len().to_string()]);
    let seen: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(seen, expected);
}
