//! A digest of every read table of a schema, so variants that wrote the same events in
//! different ways can be shown to have written the same tables.
//!
//! Each table is reduced to its row count and the MD5 of its rows as text, in key order.
//! The only column left out is `aggregate_state.updated_at`, which the projector sets to the
//! time of its transaction; every other column, timestamps included, follows from the events.
//! Its `json` columns are digested as `jsonb`, so the same values written as differently
//! spaced text compare equal.

use sqlx::postgres::PgPool;

use crate::rows::AGGREGATE_STATE;

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

/// The digest of every table the projection writes in the pool's schema.
pub async fn digest(pool: &PgPool) -> Result<Vec<TableDigest>, sqlx::Error> {
    digest_of(pool, |_| true).await
}

/// The digest of the read tables only (not `aggregate_state`, the projector's own
/// bookkeeping), for a writer that fills nothing else.
pub async fn digest_read_tables(pool: &PgPool) -> Result<Vec<TableDigest>, sqlx::Error> {
    digest_of(pool, |table| table != AGGREGATE_STATE.name).await
}

async fn digest_of(
    pool: &PgPool,
    include: impl Fn(&str) -> bool,
) -> Result<Vec<TableDigest>, sqlx::Error> {
    let mut digests = Vec::with_capacity(DIGESTED.len());
    for (table, columns, order) in DIGESTED.into_iter().filter(|(t, _, _)| include(t)) {
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

/// The tables of `digest` that differ from (or are missing in) `reference`; tables
/// `reference` has and `digest` does not are not compared.
pub fn differing(digest: &[TableDigest], reference: &[TableDigest]) -> Vec<&'static str> {
    digest
        .iter()
        .filter(|table| !reference.contains(table))
        .map(|table| table.table)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(table: &'static str, rows: i64) -> TableDigest {
        TableDigest {
            table,
            rows,
            md5: format!("md5-{rows}"),
        }
    }

    #[test]
    fn only_the_tables_a_digest_has_are_compared() {
        let reference = [table("accounts", 3), table("aggregate_state", 5)];
        assert!(differing(&[table("accounts", 3)], &reference).is_empty());
        assert_eq!(differing(&[table("accounts", 4)], &reference), ["accounts"]);
        assert_eq!(differing(&[table("users", 0)], &reference), ["users"]);
    }
}
