//! The rows the projection writes for a set of folded changes, as plain values, and the SQL
//! that puts them into the read tables — what the bulk and the naive variants share.
//!
//! The changes come from the projector's own planner (`plan::plan`, the version rule and the
//! domain's fold), and the ledger rows from the projector's own `ledger_rows`; this module
//! only lays the folded state out in the columns the bank read model fills, with the same
//! filters (an account only once opened, a user once registered, a transfer once requested).
//! Each table is described once ([`Table`]): the same description yields the bulk variant's
//! staging table and merge and the naive variant's single statement, so the two cannot drift
//! apart.

use serde_json::{Map, Value};
use tributary_bank::account::{Account, AccountStatus};
use tributary_bank::email_claim::EmailClaim;
use tributary_bank::read_model::{is_listed, ledger_rows, status_label};
use tributary_bank::transfer::{Transfer, TransferStatus};
use tributary_bank::user::User;
use tributary_domain::Aggregate;
use tributary_projector::plan::AggregateChange;
use tributary_projector::read_model::{changed_at, label};

/// How a column's value travels and lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `text`.
    Text,
    /// `bigint`.
    BigInt,
    /// `boolean`.
    Bool,
    /// `json`, carried as JSON text.
    Json,
    /// `timestamptz`, carried as milliseconds since the Unix epoch.
    Millis,
    /// `timestamptz` set to the transaction's time, as the projector does; not carried.
    Now,
}

impl ColumnType {
    /// The column type a carried value has before it lands.
    fn carried_type(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::BigInt | ColumnType::Millis | ColumnType::Now => "bigint",
            ColumnType::Bool => "boolean",
            ColumnType::Json => "json",
        }
    }
}

/// One column of a read table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its type, and how its value travels.
    pub column_type: ColumnType,
    /// Whether it may be NULL.
    pub nullable: bool,
}

/// A `NOT NULL` column.
const fn col(name: &'static str, column_type: ColumnType) -> Column {
    Column {
        name,
        column_type,
        nullable: false,
    }
}

/// A column that may be NULL.
const fn opt(name: &'static str, column_type: ColumnType) -> Column {
    Column {
        name,
        column_type,
        nullable: true,
    }
}

/// A read table as the projection writes it.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Its name.
    pub name: &'static str,
    /// Its columns, in order.
    pub columns: &'static [Column],
    /// Its primary key.
    pub key: &'static [&'static str],
    /// Whether rows are only ever added (each key written once), so the projection inserts
    /// without `ON CONFLICT`; otherwise it upserts on the key.
    pub append_only: bool,
}

use ColumnType::{BigInt, Bool, Json, Millis, Now, Text};

/// `accounts`.
pub const ACCOUNTS: Table = Table {
    name: "accounts",
    columns: &[
        col("account_id", Text),
        col("owner_id", Text),
        col("currency", Text),
        col("balance", BigInt),
        col("status", Text),
        col("version", BigInt),
        col("updated_at", Millis),
    ],
    key: &["account_id"],
    append_only: false,
};

/// `account_ledger`.
pub const LEDGER: Table = Table {
    name: "account_ledger",
    columns: &[
        col("account_id", Text),
        col("version", BigInt),
        col("kind", Text),
        col("amount", BigInt),
        col("balance_after", BigInt),
        opt("transfer_id", Text),
        opt("reference", Text),
        col("occurred_at", Millis),
    ],
    key: &["account_id", "version"],
    append_only: true,
};

/// `users`.
pub const USERS: Table = Table {
    name: "users",
    columns: &[
        col("user_id", Text),
        col("status", Text),
        opt("email", Text),
        opt("pending_email", Text),
        col("display_name", Text),
        opt("refusal", Text),
        col("version", BigInt),
        col("updated_at", Millis),
    ],
    key: &["user_id"],
    append_only: false,
};

/// `transfers`.
pub const TRANSFERS: Table = Table {
    name: "transfers",
    columns: &[
        col("transfer_id", Text),
        col("source_account_id", Text),
        col("target_account_id", Text),
        col("amount", BigInt),
        col("currency", Text),
        col("status", Text),
        opt("failure_reason", Text),
        col("compensated", Bool),
        col("version", BigInt),
        col("updated_at", Millis),
    ],
    key: &["transfer_id"],
    append_only: false,
};

/// `aggregate_state`.
pub const AGGREGATE_STATE: Table = Table {
    name: "aggregate_state",
    columns: &[
        col("aggregate_type", Text),
        col("aggregate_id", Text),
        col("version", BigInt),
        col("state", Json),
        col("recent_commands", Json),
        col("steps_taken", Json),
        col("source_topic", Text),
        col("source_partition", BigInt),
        col("source_offset", BigInt),
        col("updated_at", Now),
    ],
    key: &["aggregate_type", "aggregate_id"],
    append_only: false,
};

/// Every table the bank projection writes, in the order [`Rows::tables`] holds them.
pub const TABLES: [Table; 5] = [ACCOUNTS, LEDGER, USERS, TRANSFERS, AGGREGATE_STATE];

/// The bank's read tables with their index in [`TABLES`]: every table but `aggregate_state`,
/// which is the projector's own bookkeeping (the state it folds the next event onto), not
/// part of the read model a reader queries.
pub fn read_tables() -> impl Iterator<Item = (usize, &'static Table)> {
    TABLES
        .iter()
        .enumerate()
        .filter(|(_, table)| table.name != AGGREGATE_STATE.name)
}

impl Table {
    /// The columns whose values are carried (all but [`ColumnType::Now`]).
    pub fn carried(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.column_type != Now)
    }

    /// `name type, …` of the carried columns: a staging table's columns, or the column list
    /// of `jsonb_to_recordset`.
    pub fn carried_definition(&self) -> String {
        self.carried()
            .map(|c| format!("{} {}", c.name, c.column_type.carried_type()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `INSERT INTO <table> … SELECT … FROM <source> [WHERE <condition>]`, upserting on the
    /// key: the one set-based statement that moves carried rows into the table.
    pub fn merge_from(&self, source: &str, condition: Option<&str>) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        let values: Vec<String> = self
            .columns
            .iter()
            .map(|c| match c.column_type {
                Millis => format!(
                    "'epoch'::timestamptz + {} * interval '1 millisecond'",
                    c.name
                ),
                Now => "now()".to_owned(),
                _ => c.name.to_owned(),
            })
            .collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) SELECT {} FROM {source}",
            self.name,
            names.join(", "),
            values.join(", ")
        );
        if let Some(condition) = condition {
            sql.push_str(&format!(" WHERE {condition}"));
        }
        if !self.append_only {
            let updates: Vec<String> = names
                .iter()
                .filter(|n| !self.key.contains(n))
                .map(|n| format!("{n} = EXCLUDED.{n}"))
                .collect();
            sql.push_str(&format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                self.key.join(", "),
                updates.join(", ")
            ));
        }
        sql
    }
}

/// A carried value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// Text or JSON text.
    Text(String),
    /// A whole number (also milliseconds).
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::Text(text.to_owned())
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::Text(text)
    }
}

impl From<Option<&str>> for Cell {
    fn from(text: Option<&str>) -> Self {
        text.map_or(Cell::Null, Cell::from)
    }
}

impl From<i64> for Cell {
    fn from(number: i64) -> Self {
        Cell::Int(number)
    }
}

impl From<bool> for Cell {
    fn from(value: bool) -> Self {
        Cell::Bool(value)
    }
}

/// Carried rows for each of [`TABLES`].
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Rows per table, indexed like [`TABLES`].
    pub tables: [Vec<Vec<Cell>>; 5],
}

impl Rows {
    /// Total rows.
    pub fn len(&self) -> usize {
        self.tables.iter().map(Vec::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows of table `index` as a JSON array of objects keyed by column name (the shape
    /// `jsonb_to_recordset` reads).
    pub fn json(&self, index: usize) -> anyhow::Result<Value> {
        let table = &TABLES[index];
        let mut rows = Vec::with_capacity(self.tables[index].len());
        for row in &self.tables[index] {
            let mut object = Map::new();
            for (column, cell) in table.carried().zip(row) {
                let value = match (cell, column.column_type) {
                    (Cell::Null, _) => Value::Null,
                    (Cell::Text(text), Json) => serde_json::from_str(text)?,
                    (Cell::Text(text), _) => Value::String(text.clone()),
                    (Cell::Int(number), _) => Value::from(*number),
                    (Cell::Bool(value), _) => Value::Bool(*value),
                };
                object.insert(column.name.to_owned(), value);
            }
            rows.push(Value::Object(object));
        }
        Ok(Value::Array(rows))
    }

    /// Appends the rows of table `index` to `out` in `COPY … FROM STDIN` text format.
    pub fn copy_text(&self, index: usize, out: &mut Vec<u8>) {
        for row in &self.tables[index] {
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                match cell {
                    Cell::Null => out.extend_from_slice(b"\\N"),
                    Cell::Text(text) => escape_copy(text, out),
                    Cell::Int(number) => out.extend_from_slice(number.to_string().as_bytes()),
                    Cell::Bool(value) => out.push(if *value { b't' } else { b'f' }),
                }
            }
            out.push(b'\n');
        }
    }
}

/// Text-format COPY escaping: backslash, tab, newline and carriage return.
fn escape_copy(text: &str, out: &mut Vec<u8>) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

/// Where a change came from: its source topic and partition.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The events topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
}

/// A bank aggregate whose read-table rows this module knows.
pub trait BankRows: Aggregate {
    /// Adds the read-table rows (not the aggregate state) of `change` to `rows`.
    fn read_rows(change: &AggregateChange<Self>, rows: &mut Rows);
}

/// Adds every row `changes` lead to: the read tables and the aggregate states.
pub fn add_changes<A: BankRows>(
    changes: &[AggregateChange<A>],
    source: Source<'_>,
    rows: &mut Rows,
) -> anyhow::Result<()> {
    for change in changes {
        A::read_rows(change, rows);
        let after = &change.after;
        rows.tables[4].push(vec![
            A::TYPE.into(),
            change.aggregate_id.as_str().into(),
            (after.versioned.version as i64).into(),
            serde_json::to_string(&after.versioned.state)?.into(),
            serde_json::to_string(&after.recent_commands)?.into(),
            serde_json::to_string(&after.steps_taken)?.into(),
            source.topic.into(),
            i64::from(source.partition).into(),
            change.last_offset().unwrap_or_default().into(),
        ]);
    }
    Ok(())
}

impl BankRows for Account {
    fn read_rows(change: &AggregateChange<Self>, rows: &mut Rows) {
        let state = &change.after.versioned.state;
        if state.status != AccountStatus::NotOpened {
            rows.tables[0].push(vec![
                change.aggregate_id.as_str().into(),
                state.owner_id.as_str().into(),
                state.currency.as_str().into(),
                state.balance.into(),
                label(&state.status).into(),
                (change.after.versioned.version as i64).into(),
                changed_at(change).into(),
            ]);
        }
        for row in ledger_rows(change) {
            rows.tables[1].push(vec![
                row.account_id.into(),
                row.version.into(),
                row.kind.into(),
                row.amount.into(),
                row.balance_after.into(),
                row.transfer_id.into(),
                row.reference.into(),
                row.occurred_at.into(),
            ]);
        }
    }
}

impl BankRows for User {
    fn read_rows(change: &AggregateChange<Self>, rows: &mut Rows) {
        let state = &change.after.versioned.state;
        if is_listed(state) {
            let email = Some(state.email.as_str()).filter(|email| !email.is_empty());
            rows.tables[2].push(vec![
                change.aggregate_id.as_str().into(),
                status_label(state.status).into(),
                email.into(),
                state.pending_email.as_deref().into(),
                state.display_name.as_str().into(),
                state.refusal.as_deref().into(),
                (change.after.versioned.version as i64).into(),
                changed_at(change).into(),
            ]);
        }
    }
}

impl BankRows for Transfer {
    fn read_rows(change: &AggregateChange<Self>, rows: &mut Rows) {
        let state = &change.after.versioned.state;
        if state.status != TransferStatus::NotRequested {
            rows.tables[3].push(vec![
                change.aggregate_id.as_str().into(),
                state.source_account_id.as_str().into(),
                state.target_account_id.as_str().into(),
                state.amount.into(),
                state.currency.as_str().into(),
                label(&state.status).into(),
                state.failure_reason.as_deref().into(),
                state.compensated.into(),
                (change.after.versioned.version as i64).into(),
                changed_at(change).into(),
            ]);
        }
    }
}

impl BankRows for EmailClaim {
    /// E-mail claims live in the aggregate-state table only.
    fn read_rows(_change: &AggregateChange<Self>, _rows: &mut Rows) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upsert_updates_every_column_but_the_key() {
        let sql = USERS.merge_from("s", None);
        assert!(sql.starts_with("INSERT INTO users (user_id, status, email, pending_email, display_name, refusal, version, updated_at) SELECT user_id, status, email, pending_email, display_name, refusal, version, 'epoch'::timestamptz"));
        assert!(sql.ends_with("ON CONFLICT (user_id) DO UPDATE SET status = EXCLUDED.status, email = EXCLUDED.email, pending_email = EXCLUDED.pending_email, display_name = EXCLUDED.display_name, refusal = EXCLUDED.refusal, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at"));
        assert!(!LEDGER.merge_from("s", None).contains("ON CONFLICT"));
    }

    #[test]
    fn copy_text_escapes_separators_and_writes_nulls() {
        let mut rows = Rows::default();
        rows.tables[2].push(vec![
            "a\tb".into(),
            "c\\d\ne".into(),
            Cell::Null,
            Cell::Int(-3),
            Cell::Bool(true),
        ]);
        let mut out = Vec::new();
        rows.copy_text(2, &mut out);
        assert_eq!(out, b"a\\tb\tc\\\\d\\ne\t\\N\t-3\tt\n");
    }

    #[test]
    fn json_rows_carry_json_columns_as_documents() {
        let mut rows = Rows::default();
        rows.tables[4].push(vec![
            "account".into(),
            "a".into(),
            Cell::Int(1),
            r#"{"balance":5}"#.into(),
            "[]".into(),
            r#"{"t.transfer.events/0":[4,0]}"#.into(),
            "t".into(),
            Cell::Int(0),
            Cell::Int(9),
        ]);
        let json = rows.json(4).unwrap();
        assert_eq!(json[0]["state"]["balance"], 5);
        assert_eq!(json[0]["steps_taken"]["t.transfer.events/0"][0], 4);
        assert_eq!(json[0]["source_offset"], 9);
    }
}
