//! Embeds the shop's wire contract (`avro/`) and rebuilds when a read-table migration changes.

fn main() {
    tributary_schema_embed::embed_avro_dir("avro");
    println!("cargo:rerun-if-changed=migrations");
}
