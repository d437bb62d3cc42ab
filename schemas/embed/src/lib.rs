//! Embeds a directory of Avro `.avsc` files into the crate whose build script calls it.
//!
//! A domain's wire contract is its `.avsc` files, not Rust code. Embedding them at build time
//! lets every binary read any version a writer may have used without shipping the files, and
//! adding a schema version needs no code change. This crate has no dependencies, so a build
//! script pays nothing for it.
//!
//! In `build.rs`, inside `fn main`:
//!
//! ```no_run
//! tributary_schema_embed::embed_avro_dir("avro");
//! ```
//!
//! and in the crate, `tributary_schemas::embedded_schema_files!()` is the list of
//! `(path relative to the directory, contents)` pairs that
//! `tributary_schemas::SchemaRegistry::with_protocol` takes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

/// Name of the file written into `OUT_DIR`; `tributary_schemas::embedded_schema_files!`
/// includes it.
pub const GENERATED_FILE: &str = "tributary_schema_files.rs";

/// Embeds every `.avsc` file under `dir` (relative to the crate's manifest directory) and tells
/// Cargo to rebuild when any file under it changes, is added or is removed.
///
/// # Panics
/// When `dir` cannot be read or `OUT_DIR` cannot be written: a build script has no better way
/// to fail, and the message names the directory.
pub fn embed_avro_dir(dir: impl AsRef<Path>) {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.join(dir);
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();

    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
    if let Err(error) = fs::write(out_dir.join(GENERATED_FILE), listing(&root, &files)) {
        panic!("cannot write the embedded schema list into OUT_DIR: {error}");
    }
}

/// The Rust expression `&[(relative path, include_str!(absolute path)), …]`.
fn listing(root: &Path, files: &[PathBuf]) -> String {
    let mut out = String::from("&[\n");
    for file in files {
        let relative = file.strip_prefix(root).unwrap_or(file);
        let relative = relative.to_string_lossy().replace('\\', "/");
        let _ = writeln!(
            out,
            "    ({relative:?}, include_str!({:?})),",
            file.display().to_string()
        );
    }
    out.push(']');
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_names_files_relative_to_the_root_and_includes_them_by_absolute_path() {
        let root = Path::new("/c/avro");
        let files = [root.join("a/Rec/v1.avsc")];
        let listing = listing(root, &files);
        assert_eq!(
            listing,
            "&[\n    (\"a/Rec/v1.avsc\", include_str!(\"/c/avro/a/Rec/v1.avsc\")),\n]"
        );
    }
}
