//! The evolution rule of the contract: every published version of a record can read data
//! written with the version before it (Avro backward compatibility), so consumers can be
//! upgraded before producers and old data on the topics stays readable forever.
//!
//! The test suite runs [`check_histories`] over the protocol's schemas, and a domain's test suite
//! runs it over its own (one line: `assert!(check_histories(registry).is_empty())`); a change that
//! breaks the rule fails the build with the two files and the field named.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};

use crate::registry::{SchemaRegistry, SchemaVersion};

/// A newer version that cannot read data of the version before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Path of the older `.avsc` (the writer).
    pub older: String,
    /// Path of the newer `.avsc` (the reader).
    pub newer: String,
    /// What breaks, naming the field where the checker does.
    pub reason: String,
}

impl std::fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cannot read data written with {}: {} (add new fields with a default, never change a field's type or remove a field without a default; publish the change as a new version file)",
            self.newer, self.older, self.reason
        )
    }
}

/// Checks that `newer` can read everything `older` wrote.
pub fn check_pair(older: &SchemaVersion, newer: &SchemaVersion) -> Result<(), Incompatibility> {
    let failure = |reason: String| Incompatibility {
        older: older.path.clone(),
        newer: newer.path.clone(),
        reason,
    };
    match SchemaCompatibility::can_read(&older.schema, &newer.schema) {
        Ok(Compatibility::Full) => Ok(()),
        Ok(Compatibility::Partial) => Err(failure(
            "only partially compatible: some values of the older version (an enum symbol or union branch the newer one lacks) cannot be read".to_owned(),
        )),
        Err(error) => Err(failure(describe(&error))),
    }
}

/// Checks every consecutive pair of versions of every record in `registry`, and that each file
/// sits in the folder named after its record.
pub fn check_histories(registry: &SchemaRegistry) -> Vec<Incompatibility> {
    let mut problems = Vec::new();
    for name in registry.record_names() {
        let history: Vec<&SchemaVersion> = registry.history(name).collect();
        for version in &history {
            if let Some(problem) = misplaced(version) {
                problems.push(problem);
            }
        }
        for pair in history.windows(2) {
            if let Err(problem) = check_pair(pair[0], pair[1]) {
                problems.push(problem);
            }
        }
    }
    problems
}

fn misplaced(version: &SchemaVersion) -> Option<Incompatibility> {
    let simple_name = version.full_name.rsplit('.').next().unwrap_or_default();
    let folder = version.path.rsplit('/').nth(1).unwrap_or_default();
    (folder != simple_name).then(|| Incompatibility {
        older: version.path.clone(),
        newer: version.path.clone(),
        reason: format!(
            "the file holds record {} but sits in folder {folder}: keep each record's versions in a folder named after it",
            version.full_name
        ),
    })
}

/// The checker's error with its chain of causes, which is where the field name is.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::protocol_registry;

    #[test]
    fn every_protocol_schema_history_is_backward_compatible() {
        let problems = check_histories(protocol_registry());
        let report: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            report.is_empty(),
            "incompatible schema changes:\n{}",
            report.join("\n")
        );
    }

    #[test]
    fn the_protocol_ships_a_real_evolution() {
        let evolved: Vec<&str> = protocol_registry()
            .record_names()
            .into_iter()
            .filter(|name| protocol_registry().history(name).count() > 1)
            .collect();
        assert!(
            evolved.contains(&"tributary.protocol.CommandReply"),
            "{evolved:?}"
        );
    }

    fn history(v1: &'static str, v2: &'static str) -> SchemaRegistry {
        SchemaRegistry::from_files([("x/Rec/v1.avsc", v1), ("x/Rec/v2.avsc", v2)]).unwrap()
    }

    #[test]
    fn a_field_added_without_default_is_refused_naming_file_and_field() {
        let registry = history(
            r#"{"type":"record","name":"Rec","fields":[{"name":"a","type":"long"}]}"#,
            r#"{"type":"record","name":"Rec","fields":[{"name":"a","type":"long"},{"name":"note","type":"string"}]}"#,
        );
        let problems = check_histories(&registry);
        assert_eq!(problems.len(), 1);
        let text = problems[0].to_string();
        assert!(
            text.starts_with("x/Rec/v2.avsc cannot read data written with x/Rec/v1.avsc"),
            "{text}"
        );
        assert!(text.contains("'note'"), "{text}");
    }

    #[test]
    fn a_changed_field_type_is_refused_naming_the_field() {
        let registry = history(
            r#"{"type":"record","name":"Rec","fields":[{"name":"amount","type":"string"}]}"#,
            r#"{"type":"record","name":"Rec","fields":[{"name":"amount","type":"long"}]}"#,
        );
        let problems = check_histories(&registry);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].reason.contains("'amount'"),
            "{}",
            problems[0].reason
        );
    }

    #[test]
    fn a_file_in_the_wrong_folder_is_refused() {
        let registry = SchemaRegistry::from_files([(
            "x/Other/v1.avsc",
            r#"{"type":"record","name":"Rec","fields":[]}"#,
        )])
        .unwrap();
        let problems = check_histories(&registry);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].reason.contains("folder Other"));
    }
}
