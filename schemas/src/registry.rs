//! A schema registry: every published version of every record a codec can read and write.
//!
//! The wire contract is the `.avsc` files, not Rust code. A domain hands its files to
//! [`SchemaRegistry::with_protocol`] (embedded at build time with `tributary-schema-embed` and
//! [`embedded_schema_files!`](crate::embedded_schema_files), or read from a directory at start-up
//! with [`SchemaRegistry::load_dir`]), so a reader can resolve any version a writer may have
//! used, looked up by the CRC-64-AVRO fingerprint that single-object encoding puts in front of
//! every value. The newest version of each record is the one the codec writes and the shape
//! every older version is resolved into. The pipeline's own records (`avro/protocol`) are
//! embedded in this crate and part of every domain's registry.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use apache_avro::Schema;
use apache_avro::rabin::Rabin;
use digest::Digest;

use crate::error::RegistryError;

/// The pipeline's own records: every `.avsc` file under `schemas/avro`, as (path relative to
/// it, contents).
static PROTOCOL_FILES: &[(&str, &str)] = crate::embedded_schema_files!();

/// Largest allocation a decoder may make for one length-prefixed field. Values are Kafka
/// records (1 MiB by default), so a larger length prefix can only come from corrupt input.
const MAX_DECODE_ALLOCATION_BYTES: usize = 16 * 1024 * 1024;

/// One published version of one record schema.
#[derive(Debug)]
pub struct SchemaVersion {
    /// Path of the `.avsc` file relative to its schema directory, e.g.
    /// `account/events/Deposited/v2.avsc`.
    pub path: String,
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

/// A set of schema versions, indexed by fingerprint and by record name.
#[derive(Debug)]
pub struct SchemaRegistry {
    versions: Vec<SchemaVersion>,
    by_fingerprint: HashMap<[u8; 8], usize>,
    /// Indices into `versions` per full name, ordered by version.
    history: HashMap<String, Vec<usize>>,
}

static PROTOCOL: LazyLock<&'static SchemaRegistry> = LazyLock::new(|| {
    match SchemaRegistry::from_files(PROTOCOL_FILES.iter().copied()) {
        Ok(registry) => registry.leak(),
        // The embedded files are parsed by the `protocol_schemas_form_a_valid_registry` test, so
        // a build whose schemas do not parse cannot pass the test suite.
        Err(error) => panic!("the protocol schemas embedded in this build are invalid: {error}"),
    }
});

/// The registry of the pipeline's own records alone (command envelope, reply, refusal, marker):
/// enough for tools that read only those, like a marker consumer.
pub fn protocol_registry() -> &'static SchemaRegistry {
    *PROTOCOL
}

/// The pipeline's own `.avsc` files, as (path relative to `schemas/avro`, contents).
pub fn protocol_schema_files() -> &'static [(&'static str, &'static str)] {
    PROTOCOL_FILES
}

impl SchemaRegistry {
    /// Builds a registry from `(path, contents)` pairs, checking that paths end in `vN.avsc`,
    /// that each file holds a named record, and that no two files share a fingerprint or a
    /// (name, version) pair.
    pub fn from_files<P, C>(files: impl IntoIterator<Item = (P, C)>) -> Result<Self, RegistryError>
    where
        P: AsRef<str>,
        C: AsRef<str>,
    {
        apache_avro::util::max_allocation_bytes(MAX_DECODE_ALLOCATION_BYTES);
        let mut versions = Vec::new();
        for (path, json) in files {
            versions.push(parse_version(path.as_ref(), json.as_ref())?);
        }
        versions.sort_by(|a, b| (&a.full_name, a.version).cmp(&(&b.full_name, b.version)));

        let mut by_fingerprint = HashMap::new();
        let mut history: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, version) in versions.iter().enumerate() {
            if let Some(previous) = by_fingerprint.insert(version.fingerprint, index) {
                return Err(RegistryError::DuplicateFingerprint {
                    first: versions[previous].path.clone(),
                    second: version.path.clone(),
                });
            }
            let indices = history.entry(version.full_name.clone()).or_default();
            if let Some(&last) = indices.last()
                && versions[last].version == version.version
            {
                return Err(RegistryError::DuplicateVersion {
                    first: versions[last].path.clone(),
                    second: version.path.clone(),
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

    /// The pipeline's own records together with a domain's `files`: the registry a domain's
    /// codec needs, since the same codec frames commands, envelopes, events and markers.
    pub fn with_protocol<P, C>(
        files: impl IntoIterator<Item = (P, C)>,
    ) -> Result<Self, RegistryError>
    where
        P: AsRef<str>,
        C: AsRef<str>,
    {
        let protocol = PROTOCOL_FILES
            .iter()
            .map(|(path, json)| ((*path).to_owned(), (*json).to_owned()));
        let domain = files
            .into_iter()
            .map(|(path, json)| (path.as_ref().to_owned(), json.as_ref().to_owned()));
        Self::from_files(protocol.chain(domain))
    }

    /// Reads every `.avsc` file under `dir` (recursively) at run time, for a deployment that
    /// ships its schemas beside the binary rather than inside it. Paths are relative to `dir`.
    pub fn load_dir(dir: &Path) -> Result<Vec<(String, String)>, RegistryError> {
        let mut files = Vec::new();
        read_avsc_files(dir, dir, &mut files)?;
        files.sort();
        Ok(files)
    }

    /// Keeps the registry for the rest of the process. A codec borrows schema versions from its
    /// registry in every decoded value, and a process builds its registry once at start-up, so
    /// a `'static` borrow costs nothing and keeps [`Decoded`](crate::Decoded) free of lifetimes.
    pub fn leak(self) -> &'static Self {
        Box::leak(Box::new(self))
    }

    /// Every schema version, ordered by name and then version.
    pub fn versions(&self) -> &[SchemaVersion] {
        &self.versions
    }

    /// The version whose fingerprint is `fingerprint`, if this registry has it.
    pub fn by_fingerprint(&self, fingerprint: &[u8; 8]) -> Option<&SchemaVersion> {
        self.by_fingerprint
            .get(fingerprint)
            .map(|&index| &self.versions[index])
    }

    /// The newest version of the record `full_name`: the one a codec writes and reads into.
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

fn read_avsc_files(
    root: &Path,
    dir: &Path,
    files: &mut Vec<(String, String)>,
) -> Result<(), RegistryError> {
    let unreadable = |path: &Path, error: std::io::Error| RegistryError::Unreadable {
        path: path.display().to_string(),
        reason: error.to_string(),
    };
    for entry in std::fs::read_dir(dir).map_err(|error| unreadable(dir, error))? {
        let path = entry.map_err(|error| unreadable(dir, error))?.path();
        if path.is_dir() {
            read_avsc_files(root, &path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "avsc") {
            let json = std::fs::read_to_string(&path).map_err(|error| unreadable(&path, error))?;
            let relative = path.strip_prefix(root).unwrap_or(&path);
            files.push((relative.to_string_lossy().replace('\\', "/"), json));
        }
    }
    Ok(())
}

fn parse_version(path: &str, json: &str) -> Result<SchemaVersion, RegistryError> {
    let version = version_from_path(path)?;
    let schema = Schema::parse_str(json).map_err(|error| RegistryError::Unparsable {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    let full_name = match &schema {
        Schema::Record(record) => record.name.fullname(None),
        _ => {
            return Err(RegistryError::NotARecord {
                path: path.to_owned(),
            });
        }
    };
    let fingerprint: [u8; 8] = Rabin::digest(canonical_form(&schema).as_bytes()).into();
    Ok(SchemaVersion {
        path: path.to_owned(),
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

fn version_from_path(path: &str) -> Result<u32, RegistryError> {
    path.rsplit('/')
        .next()
        .and_then(|file| file.strip_prefix('v'))
        .and_then(|rest| rest.strip_suffix(".avsc"))
        .and_then(|number| number.parse().ok())
        .ok_or_else(|| RegistryError::BadFileName {
            path: path.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD_V1: &str = r#"{"type":"record","name":"Rec","namespace":"t","fields":[]}"#;
    const RECORD_V2: &str = r#"{"type":"record","name":"Rec","namespace":"t","fields":[
        {"name":"note","type":["null","string"],"default":null}]}"#;

    #[test]
    fn protocol_schemas_form_a_valid_registry() {
        let registry = SchemaRegistry::from_files(PROTOCOL_FILES.iter().copied());
        assert!(registry.is_ok(), "{registry:?}");
        assert_eq!(
            registry.map(|r| r.versions().len()).ok(),
            Some(PROTOCOL_FILES.len())
        );
        assert!(
            protocol_registry()
                .latest("tributary.protocol.CommandEnvelope")
                .is_some()
        );
    }

    #[test]
    fn newest_version_is_the_latest() {
        let registry = SchemaRegistry::from_files([
            ("t/Rec/v2.avsc", RECORD_V2),
            ("t/Rec/v1.avsc", RECORD_V1),
        ])
        .unwrap();
        assert_eq!(registry.latest("t.Rec").map(|v| v.version), Some(2));
        let history: Vec<u32> = registry.history("t.Rec").map(|v| v.version).collect();
        assert_eq!(history, vec![1, 2]);
    }

    #[test]
    fn a_domain_registry_holds_the_protocol_and_the_domain_records() {
        let registry = SchemaRegistry::with_protocol([("t/Rec/v1.avsc", RECORD_V1)]).unwrap();
        assert!(registry.latest("t.Rec").is_some());
        assert!(registry.latest("tributary.protocol.CommandReply").is_some());
        assert_eq!(registry.versions().len(), PROTOCOL_FILES.len() + 1);
    }

    #[test]
    fn a_directory_is_read_recursively_with_paths_relative_to_it() {
        let dir = std::env::temp_dir().join(format!("tributary-registry-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("t/Rec")).unwrap();
        std::fs::write(dir.join("t/Rec/v1.avsc"), RECORD_V1).unwrap();
        std::fs::write(dir.join("t/README.md"), "not a schema").unwrap();
        let files = SchemaRegistry::load_dir(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            files,
            vec![("t/Rec/v1.avsc".to_owned(), RECORD_V1.to_owned())]
        );
    }

    #[test]
    fn a_missing_directory_is_named_in_the_error() {
        let error = SchemaRegistry::load_dir(Path::new("/nonexistent/avro"))
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| {
            e.starts_with("cannot read schema file or directory /nonexistent/avro:")
        }),);
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
            "counter/events/Bad/latest.avsc",
            "{\"type\":\"record\",\"name\":\"Bad\",\"fields\":[]}",
        )];
        let error = SchemaRegistry::from_files(files)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "schema file counter/events/Bad/latest.avsc is not named vN.avsc: name each published version v1.avsc, v2.avsc, …"
            )
        );
    }

    #[test]
    fn two_files_with_the_same_schema_are_refused() {
        let json = "{\"type\":\"record\",\"name\":\"Same\",\"fields\":[]}";
        let files = [("a/Same/v1.avsc", json), ("b/Same/v1.avsc", json)];
        let error = SchemaRegistry::from_files(files)
            .err()
            .map(|e| e.to_string());
        assert!(
            error.is_some_and(|e| e.contains("a/Same/v1.avsc") && e.contains("b/Same/v1.avsc"))
        );
    }
}
