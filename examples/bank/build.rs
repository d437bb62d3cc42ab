//! Embeds the bank's wire contract (every `.avsc` file under `avro/`) into the crate, and
//! rebuilds when a read-table migration (`migrations/`, embedded by `sqlx::migrate!`) changes.

fn main() {
    tributary_schema_embed::embed_avro_dir("avro");
    println!("cargo:rerun-if-changed=migrations");
}
