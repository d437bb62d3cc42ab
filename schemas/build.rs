//! Embeds every `.avsc` file under `avro/` into the crate, so the binaries carry the whole
//! wire contract (every published version) and adding a schema version needs no code change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.join("avro");
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();

    let mut out = String::from(
        "/// Every `.avsc` file under `schemas/avro`, as (path relative to it, contents).\n",
    );
    out.push_str("pub(crate) static SCHEMA_FILES: &[(&str, &str)] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file);
        let relative = relative.to_string_lossy().replace('\\', "/");
        let _ = writeln!(
            out,
            "    ({relative:?}, include_str!({:?})),",
            file.display().to_string()
        );
    }
    out.push_str("];\n");

    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
    if let Err(error) = fs::write(out_dir.join("schema_files.rs"), out) {
        panic!("cannot write the embedded schema list into OUT_DIR: {error}");
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => panic!("cannot read schema directory {}: {error}", dir.display()),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "avsc") {
            files.push(path);
        }
    }
}
