//! The sink's input: for every event, the rows it changes in the bank's read tables, as a
//! per-event projector writes them ([`EventFold`], the naive variant's fold), one record per
//! row in Kafka Connect's JSON-with-schema envelope — what a change feed of those rows (a CDC
//! source, an outbox) would carry to a sink. `aggregate_state` is left out: it is the
//! projector's own bookkeeping, which a sink of rows has no use for.
//!
//! One topic per read table, `<prefix>.connect.<table>`, with as many partitions as the events
//! topics. A record's key is a struct of the row's primary key columns, so the producer's
//! partitioner puts every version of a row into one partition, in order; its value is a
//! struct of every column. `timestamptz` columns travel as int64 milliseconds with Connect's
//! `Timestamp` logical type, so the sink binds them as timestamps, and nullable columns are
//! optional fields. Everything is produced (lz4-compressed) before the clock starts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::producer::FutureRecord;
use serde_json::{Map, Value, json};
use tributary_bank::account::Account;
use tributary_bank::email_claim::EmailClaim;
use tributary_bank::transfer::Transfer;
use tributary_bank::user::User;
use tributary_runtime::Topology;
use tributary_runtime::kafka::{KafkaSettings, SourceRecord};

use crate::broker::{self, Ends, Feeder, Fetched};
use crate::rows::{BankRows, Column, ColumnType, Rows, Source, Table, read_tables};
use crate::variants::{BankType, EventFold};

/// Connect's logical type for a point in time carried as milliseconds since the epoch.
const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";

/// Producer settings for the feed: large compressed batches, since nothing waits for a record.
const FEED_PRODUCER: [(&str, &str); 3] = [
    ("compression.type", "lz4"),
    ("linger.ms", "50"),
    ("batch.size", "1000000"),
];

/// What was fed to the sink's topics.
#[derive(Debug, Clone)]
pub struct Feed {
    /// The topics, one per read table.
    pub topics: Vec<String>,
    /// Records per table.
    pub records_per_table: BTreeMap<&'static str, usize>,
    /// Records in all, one per changed row.
    pub records: usize,
    /// Key and value bytes in all, before compression.
    pub bytes: u64,
    /// The end offset of every partition of the topics.
    pub ends: Ends,
    /// Producing took this long (not part of the measurement).
    pub elapsed: Duration,
}

/// The topic of `table`'s row changes under `prefix`.
pub fn topic(prefix: &str, table: &Table) -> String {
    format!("{prefix}.connect.{}", table.name)
}

/// Folds every fetched event on its own and produces the rows it changes to the topics of
/// the read tables under `prefix`, which it creates.
pub async fn produce(
    settings: &KafkaSettings,
    prefix: &str,
    topology: &Topology,
    fetched: &Fetched,
    recent_commands: usize,
) -> anyhow::Result<Feed> {
    let tables = read_tables()
        .map(|(index, table)| FeedTable::new(prefix, index, table))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let topics: Vec<String> = tables.iter().map(|t| t.topic.clone()).collect();
    broker::create_plain_topics(settings, &topics, topology.partitions()).await?;
    let mut writer = FeedWriter {
        feeder: Feeder::new(settings, &FEED_PRODUCER)?,
        tables,
        bytes: 0,
    };
    let started = Instant::now();
    for ((topic, partition), records) in fetched {
        let source = Source {
            topic,
            partition: *partition,
        };
        let fed = match BankType::of_topic(topology, topic)? {
            BankType::Account => {
                writer
                    .partition::<Account>(source, records, recent_commands)
                    .await
            }
            BankType::EmailClaim => {
                writer
                    .partition::<EmailClaim>(source, records, recent_commands)
                    .await
            }
            BankType::User => {
                writer
                    .partition::<User>(source, records, recent_commands)
                    .await
            }
            BankType::Transfer => {
                writer
                    .partition::<Transfer>(source, records, recent_commands)
                    .await
            }
        };
        fed.with_context(|| format!("feeding the row changes of {topic}/{partition}"))?;
    }
    let FeedWriter {
        feeder,
        tables,
        bytes,
    } = writer;
    feeder.finish().await?;
    let elapsed = started.elapsed();
    let records_per_table: BTreeMap<&'static str, usize> =
        tables.iter().map(|t| (t.table.name, t.records)).collect();
    let records = records_per_table.values().sum();
    let ends = broker::ends_of(settings, &topics, topology.partitions())?;
    let held: i64 = ends.values().sum();
    if held != records as i64 {
        bail!("the sink's topics hold {held} records after feeding {records}");
    }
    Ok(Feed {
        topics,
        records_per_table,
        records,
        bytes,
        ends,
        elapsed,
    })
}

/// Produces the row changes of one events partition after another.
struct FeedWriter {
    feeder: Feeder,
    tables: Vec<FeedTable>,
    bytes: u64,
}

impl FeedWriter {
    /// Folds `records` (one partition, in order) one event at a time and produces the rows
    /// each changes.
    async fn partition<A: BankRows>(
        &mut self,
        source: Source<'_>,
        records: &[SourceRecord],
        recent_commands: usize,
    ) -> anyhow::Result<()> {
        let mut fold = EventFold::<A>::new(source, recent_commands);
        for record in records {
            let rows = fold.next(record)?;
            self.write(&rows).await?;
        }
        Ok(())
    }

    /// Produces every read-table row of `rows`, one record each.
    async fn write(&mut self, rows: &Rows) -> anyhow::Result<()> {
        for table in &mut self.tables {
            let Value::Array(payloads) = rows.json(table.index)? else {
                bail!("the rows of {} are not a JSON array", table.table.name);
            };
            for payload in &payloads {
                let (key, value) = table.envelope.record(payload)?;
                self.bytes += (key.len() + value.len()) as u64;
                let record = FutureRecord::to(&table.topic).key(&key).payload(&value);
                self.feeder.send(record).await?;
                table.records += 1;
            }
        }
        Ok(())
    }
}

/// A read table's topic, envelope and count of records produced.
struct FeedTable {
    index: usize,
    table: &'static Table,
    topic: String,
    envelope: Envelope,
    records: usize,
}

impl FeedTable {
    fn new(prefix: &str, index: usize, table: &'static Table) -> anyhow::Result<Self> {
        Ok(Self {
            index,
            table,
            topic: topic(prefix, table),
            envelope: Envelope::of(table)?,
            records: 0,
        })
    }
}

/// A table's records in JsonConverter's `{"schema": …, "payload": …}` form, with the key and
/// value schemas serialized once.
#[derive(Debug, Clone)]
pub struct Envelope {
    key_columns: &'static [&'static str],
    key_schema: String,
    value_schema: String,
}

impl Envelope {
    /// The envelope of `table`'s rows: the key a struct of its primary key columns, the value
    /// a struct of every carried column.
    pub fn of(table: &Table) -> anyhow::Result<Self> {
        let key: Vec<&Column> = table
            .key
            .iter()
            .map(|name| {
                table
                    .carried()
                    .find(|c| c.name == *name)
                    .with_context(|| format!("{}'s key column {name} is not carried", table.name))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            key_columns: table.key,
            key_schema: struct_schema(&format!("{}.Key", table.name), key)?.to_string(),
            value_schema: struct_schema(&format!("{}.Value", table.name), table.carried())?
                .to_string(),
        })
    }

    /// The key and the value of the record of one row, given as an object keyed by column
    /// name (a row of [`Rows::json`]).
    pub fn record(&self, row: &Value) -> anyhow::Result<(String, String)> {
        let mut key = Map::new();
        for name in self.key_columns {
            let value = row
                .get(*name)
                .with_context(|| format!("a row without its key column {name}: {row}"))?;
            key.insert((*name).to_owned(), value.clone());
        }
        Ok((
            enveloped(&self.key_schema, &Value::Object(key)),
            enveloped(&self.value_schema, row),
        ))
    }
}

fn enveloped(schema: &str, payload: &Value) -> String {
    format!(r#"{{"schema":{schema},"payload":{payload}}}"#)
}

/// A Connect struct schema named `name` with a field per column.
fn struct_schema<'a>(
    name: &str,
    columns: impl IntoIterator<Item = &'a Column>,
) -> anyhow::Result<Value> {
    let fields = columns
        .into_iter()
        .map(field)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(json!({"type": "struct", "name": name, "optional": false, "fields": fields}))
}

/// The Connect schema of a column's field.
fn field(column: &Column) -> anyhow::Result<Value> {
    let mut field = json!({"field": column.name, "optional": column.nullable});
    let kind = match column.column_type {
        ColumnType::Text => "string",
        ColumnType::BigInt => "int64",
        ColumnType::Bool => "boolean",
        ColumnType::Millis => {
            field["name"] = json!(TIMESTAMP);
            field["version"] = json!(1);
            "int64"
        }
        ColumnType::Json | ColumnType::Now => bail!(
            "column {} is of a type no read table has ({:?}); the Connect feed does not carry it",
            column.name,
            column.column_type
        ),
    };
    field["type"] = json!(kind);
    Ok(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{LEDGER, USERS};

    #[test]
    fn a_ledger_row_is_keyed_by_account_and_version() {
        let envelope = Envelope::of(&LEDGER).unwrap();
        let row = json!({"account_id": "a", "version": 3, "kind": "deposit", "amount": 5,
            "balance_after": 5, "transfer_id": null, "reference": "r", "occurred_at": 1700});
        let (key, value) = envelope.record(&row).unwrap();
        let key: Value = serde_json::from_str(&key).unwrap();
        assert_eq!(key["payload"], json!({"account_id": "a", "version": 3}));
        assert_eq!(key["schema"]["fields"][1]["type"], "int64");
        let value: Value = serde_json::from_str(&value).unwrap();
        assert_eq!(value["payload"], row);
        let fields = &value["schema"]["fields"];
        assert_eq!(fields[5]["field"], "transfer_id");
        assert_eq!(fields[5]["optional"], true);
        assert_eq!(fields[2]["optional"], false);
        assert_eq!(fields[7]["name"], TIMESTAMP);
        assert_eq!(fields[7]["type"], "int64");
    }

    #[test]
    fn every_read_table_has_an_envelope_and_aggregate_state_has_none() {
        assert_eq!(read_tables().count(), 4);
        for (_, table) in read_tables() {
            Envelope::of(table).unwrap();
        }
        assert!(Envelope::of(&crate::rows::AGGREGATE_STATE).is_err());
        assert_eq!(
            topic("bench.x", &USERS),
            "bench.x.connect.users",
            "the sink's router takes the table from the topic's last part"
        );
    }
}
