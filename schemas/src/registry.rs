//! The schema registry built into every binary: all versions of every record in `schemas/avro`.
//!
//! The wire contract is the `.avsc` files, not Rust code. They are embedded at build time, so a
//! reader can resolve any version a writer may have used, looked up by the CRC-64-AVRO
//! fingerprint that single-object encoding puts in front of every value. The newest version of
//! each record is the one this build writes and the shape every older version is resolved into.

use std::collections::HashMap;
use std::sync::LazyLock;

use apache_avro::Schema;
use apache_avro::rabin::Rabin;
use digest::Digest;

use crate::error::RegistryError;

include!(concat!(env!("OUT_DIR"), "/schema_files.rs"));

/// Largest allocation a decoder may make for one length-prefixed field. Values are Kafka
/// records (1 MiB by default), so a larger length prefix can only come from corrupt input.
const MAX_DECODE_ALLOCATION_BYTES: usize = 16 * 1024 * 1024;

/// One published version of one record schema.
#[derive(Debug)]
pub struct SchemaVersion {
    /// Path of the `.avsc` file relative to `schemas/avro`, e.g. `account/events/Deposited/v2.avsc`.
    pub path: &'static str,
    /// Full Avro name of the record, e.g. `tributary.bank.account.Deposited`.
    pub full_name: String,
    /// Version number taken from the file name (`v2.avsc` → 2).
    pub version: u32,
    /// The parsed schema.
    pub schema: Schema,
    /// CRC-64-AVRO fingerprint of the schema's parsing canonical form, in the little-endian byte
    /// order single-object encoding writes it.
    pub fingerprint: [u8; 8],
}

impl SchemaVersion {
    /// `full_name vN (path)`, the way error messages name a schema.
    pub fn label(&self) -> String {
        format!("{} v{} ({})", self.full_name, self.version, self.path)
    }
}

/// Every embedded schema version, indexed by fingerprint and by record name.
#[derive(Debug)]
pub struct SchemaRegistry {
    versions: Vec<SchemaVersion>,
    by_fingerprint: HashMap<[u8; 8], usize>,
    /// Indices into `versions` per full name, ordered by version.
    history: HashMap<String, Vec<usize>>,
}

static REGISTRY: LazyLock<SchemaRegistry> = LazyLock::new(|| {
    apache_avro::util::max_allocation_bytes(MAX_DECODE_ALLOCATION_BYTES);
    match SchemaRegistry::from_files(SCHEMA_FILES) {
        Ok(registry) => registry,
        // The embedded files are parsed by the `embedded_schemas_form_a_valid_registry` test, so a
        // build whose schemas do not parse cannot pass the test suite.
        Err(error) => panic!("the schemas embedded in this build are invalid: {error}"),
    }
});

/// The registry of the schemas embedded in this build.
pub fn registry() -> &'static SchemaRegistry {
    &REGISTRY
}

impl SchemaRegistry {
    /// Builds a registry from `(path, contents)` pairs, checking that paths end in `vN.avsc`,
    /// that each file holds a named record, and that no two files share a fingerprint or a
    /// (name, version) pair.
    pub fn from_files(files: &[(&'static str, &str)]) -> Result<Self, RegistryError> {
        let mut versions = Vec::with_capacity(files.len());
        for (path, json) in files {
            versions.push(parse_version(path, json)?);
        }
        versions.sort_by(|a, b| (&a.full_name, a.version).cmp(&(&b.full_name, b.version)));

        let mut by_fingerprint = HashMap::new();
        let mut history: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, version) in versions.iter().enumerate() {
            if let Some(previous) = by_fingerprint.insert(version.fingerprint, index) {
                return Err(RegistryError::DuplicateFingerprint {
                    first: versions[previous].path,
                    second: version.path,
                });
            }
            let indices = history.entry(version.full_name.clone()).or_default();
            if let Some(&last) = indices.last()
                && versions[last].version == version.version
            {
                return Err(RegistryError::DuplicateVersion {
                    first: versions[last].path,
                    second: version.path,
                });
            }
            indices.push(index);
        }
        Ok(Self {
            versions,
            by_fingerprint,
            history,
        })
    }

    /// Every schema version, ordered by name and then version.
    pub fn versions(&self) -> &[SchemaVersion] {
        &self.versions
    }

    /// The version whose fingerprint is `fingerprint`, if this build knows it.
    pub fn by_fingerprint(&self, fingerprint: &[u8; 8]) -> Option<&SchemaVersion> {
        self.by_fingerprint
            .get(fingerprint)
            .map(|&index| &self.versions[index])
    }

    /// The newest version of the record `full_name`: the one this build writes and reads into.
    pub fn latest(&self, full_name: &str) -> Option<&SchemaVersion> {
        self.history
            .get(full_name)
            .and_then(|indices| indices.last())
            .map(|&index| &self.versions[index])
    }

    /// All versions of `full_name`, oldest first.
    pub fn history(&self, full_name: &str) -> impl Iterator<Item = &SchemaVersion> {
        self.history
            .get(full_name)
            .into_iter()
            .flatten()
            .map(|&index| &self.versions[index])
    }

    /// The full names of every record, sorted.
    pub fn record_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.history.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

fn parse_version(path: &'static str, json: &str) -> Result<SchemaVersion, RegistryError> {
    let version = version_from_path(path)?;
    let schema = Schema::parse_str(json).map_err(|error| RegistryError::Unparsable {
        path,
        reason: error.to_string(),
    })?;
    let full_name = match &schema {
        Schema::Record(record) => record.name.fullname(None),
        _ => return Err(RegistryError::NotARecord { path }),
    };
    let fingerprint: [u8; 8] = Rabin::digest(canonical_form(&schema).as_bytes()).into();
    Ok(SchemaVersion {
        path,
        full_name,
        version,
        schema,
        fingerprint,
    })
}

/// The schema's Parsing Canonical Form as the Avro specification defines it, which is what
/// fingerprints are computed over.
///
/// `apache-avro` strips `logicalType` but then leaves `{"type":"long"}` where the [PRIMITIVE]
/// rule requires `"long"`, so its fingerprints of schemas with logical types differ from those
/// of the Java implementation and fastavro (the interop tests caught it). The stripped form can
/// only contain `{"type":"<primitive>"}` through that omission (docs and defaults are gone and
/// names cannot contain braces or quotes), so reducing it here completes the rule.
pub fn canonical_form(schema: &Schema) -> String {
    const PRIMITIVES: [&str; 8] = [
        "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    ];
    let mut canonical = schema.canonical_form();
    for primitive in PRIMITIVES {
        canonical = canonical.replace(
            &format!("{{\"type\":\"{primitive}\"}}"),
            &format!("\"{primitive}\""),
        );
    }
    canonical
}

fn version_from_path(path: &'static str) -> Result<u32, RegistryError> {
    path.rsplit('/')
        .next()
        .and_then(|file| file.strip_prefix('v'))
        .and_then(|rest| rest.strip_suffix(".avsc"))
        .and_then(|number| number.parse().ok())
        .ok_or(RegistryError::BadFileName { path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schemas_form_a_valid_registry() {
        let registry = SchemaRegistry::from_files(SCHEMA_FILES);
        assert!(registry.is_ok(), "{registry:?}");
        assert_eq!(
            registry.map(|r| r.versions().len()).ok(),
            Some(SCHEMA_FILES.len())
        );
    }

    #[test]
    fn newest_version_is_the_latest() {
        let latest = registry().latest("tributary.bank.account.Deposited");
        assert_eq!(latest.map(|v| v.version), Some(2));
        let history: Vec<u32> = registry()
            .history("tributary.bank.account.Deposited")
            .map(|v| v.version)
            .collect();
        assert_eq!(history, vec![1, 2]);
    }

    #[test]
    fn canonical_form_reduces_logical_types_to_their_primitive() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"R","namespace":"n","doc":"d","fields":[
                {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"},"doc":"x"},
                {"name":"maybe","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null}]}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_form(&schema),
            r#"{"name":"n.R","type":"record","fields":[{"name":"at","type":"long"},{"name":"maybe","type":["null","long"]}]}"#
        );
    }

    #[test]
    fn file_name_without_version_is_refused_by_name() {
        let files = [(
            "account/events/Bad/latest.avsc",
            "{\"type\":\"record\",\"name\":\"Bad\",\"fields\":[]}",
        )];
        let error = SchemaRegistry::from_files(&files)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "schema file account/events/Bad/latest.avsc is not named vN.avsc: name each published version v1.avsc, v2.avsc, …"
            )
        );
    }

    #[test]
    fn two_files_with_the_same_schema_are_refused() {
        let json = "{\"type\":\"record\",\"name\":\"Same\",\"fields\":[]}";
        let files = [("a/Same/v1.avsc", json), ("b/Same/v1.avsc", json)];
        let error = SchemaRegistry::from_files(&files)
            .err()
            .map(|e| e.to_string());
        assert!(
            error.is_some_and(|e| e.contains("a/Same/v1.avsc") && e.contains("b/Same/v1.avsc"))
        );
    }
}
