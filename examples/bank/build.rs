//! Embeds the bank's wire contract (every `.avsc` file under `avro/`) into the crate.

fn main() {
    tributary_schema_embed::embed_avro_dir("avro");
}
