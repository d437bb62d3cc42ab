//! Embeds the pipeline's own records (`avro/protocol`) into the crate; a domain embeds its own
//! records the same way from its own build script.

fn main() {
    tributary_schema_embed::embed_avro_dir("avro");
}
