//! A digest of every read table of a schema, so variants that wrote the same events in
//! different ways can be shown to have written the same tables.
//!
//! Each table is reduced to its row count and the MD5 of its rows as text, in key order.
//! The only column left out is `aggregate_state.updated_at`, which the projector sets to the
//! time of its transaction; every other column, timestamps included, follows from the events.
//! Its `json` columns are digested as `jsonb`, so the same values written as differently
//! spaced text compare equal.

use sqlx::postgres::PgPool;

/// One table's digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableDigest {
    /// The table.
    pub table: &'static str,
    /// Its rows.
    pub rows: i64,
    /// MD5 of its rows as text, in key order.
    pub md5: String,
}

/// Each table with the columns and order it is digested by.
const DIGESTED: [(&str, &str, &str); 5] = [
    ("accounts", "*", "account_id"),
    ("account_ledger", "*", "account_id, version"),
    ("users", "*", "user_id"),
    ("transfers", "*", "transfer_id"),
    (
        "aggregate_state",
        "aggregate_type, aggregate_id, version, state::jsonb, recent_commands::jsonb, steps_taken::jsonb, source_topic, source_partition, source_offset",
        "aggregate_type, aggregate_id",
    ),
];

/// The digest of every read table in the pool's schema.
pub async fn digest(pool: &PgPool) -> Result<Vec<TableDigest>, sqlx::Error> {
    let mut digests = Vec::with_capacity(DIGESTED.len());
    for (table, columns, order) in DIGESTED {
        // Table and column names are the constants above.
        let sql = format!(
            "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY {order})), '')
             FROM (SELECT {columns} FROM {table}) AS t"
        );
        let (rows, md5): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await?;
        digests.push(TableDigest { table, rows, md5 });
    }
    Ok(digests)
}
