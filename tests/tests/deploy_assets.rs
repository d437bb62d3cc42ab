//! `deploy/` may only refer to what the binaries have: every metric the Prometheus rules and the
//! Grafana dashboard use is one the binaries declare, every environment variable the manifests
//! and compose file set is one a binary reads, every probe path is one the binaries serve, and
//! the Strimzi topics are the layout the binaries check at start-up. When the code changes a
//! name, these tests fail naming the file and the name.
//!
//! They read the files as text (no YAML parser: the shapes checked are simple and ours), so
//! they need no tools and run in every `cargo test`. `scripts/deploy-check.sh` adds what needs
//! tools: rendering the overlays, schema validation, checkov, promtool, and a real Prometheus
//! scraping the running binaries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tributary_runtime::kafka::config::PASSTHROUGH_PREFIX;
use tributary_runtime::topology::Topology;
use tributary_tests::repo_root;

/// Every metric name the binaries export.
fn exported_metrics() -> BTreeSet<&'static str> {
    tributary_projector::metrics::METRIC_NAMES
        .iter()
        .chain(tributary_producer::metrics::METRIC_NAMES)
        .chain(tributary_producer::gateway::metrics::METRIC_NAMES)
        .copied()
        .collect()
}

/// Metrics of other exporters that the rules use on purpose.
const FOREIGN_METRICS: &[&str] = &[
    // kube-state-metrics: TributaryPodsNotReady.
    "kube_deployment_status_replicas_unavailable",
    // Prometheus itself: TributaryTargetDown.
    "up",
];

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// Files under `dir` (recursively) whose name ends with one of `extensions`.
fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if extensions
                .iter()
                .any(|ext| path.to_string_lossy().ends_with(ext))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Maximal runs of `[a-z0-9_:]` that start with `prefix`.
fn words_starting_with(text: &str, prefix: &str) -> BTreeSet<String> {
    let is_word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':';
    let mut words = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        let word: String = rest[at..].chars().take_while(|&c| is_word(c)).collect();
        if !before.is_some_and(is_word) {
            words.insert(word.clone());
        }
        rest = &rest[at + prefix.len()..];
    }
    words
}

/// A histogram's series carry `_bucket`, `_sum` and `_count` after the declared name.
fn base_metric(name: &str, declared: &BTreeSet<&str>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && declared.contains(base)
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

fn rules_file() -> PathBuf {
    repo_root().join("deploy/prometheus/rules/tributary.rules.yaml")
}

/// Names the rule file records (`- record: NAME`).
fn recorded_names() -> BTreeSet<String> {
    read(&rules_file())
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- record:"))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// The repository path every alert's `runbook_url` starts with. Kustomize replaces it with the
/// overlay's `tributary-runbooks` base, the URL where an operator hosts this file
/// (`deploy/k8s/components/prometheus-rules`): the rule file holds no host, so it names no
/// placeholder and every copy of the repository resolves it.
const RUNBOOK_REF: &str = "docs/OPERATIONS.md";

/// GitHub's (and GitLab's) anchor for a Markdown heading: lower case, punctuation other than
/// `-` and `_` dropped, spaces turned into `-`.
fn heading_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// `(alert, runbook_url)` of each alert of the rule file, in order; `None` where an alert has
/// no runbook_url.
fn alert_runbooks() -> Vec<(String, Option<String>)> {
    let mut alerts: Vec<(String, Option<String>)> = Vec::new();
    let mut in_alert = false;
    for line in read(&rules_file()).lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            alerts.push((name.trim().to_owned(), None));
            in_alert = true;
        } else if trimmed.starts_with("- record:") || trimmed.starts_with("- name:") {
            in_alert = false;
        } else if let Some(url) = trimmed.strip_prefix("runbook_url:")
            && in_alert
            && let Some(last) = alerts.last_mut()
        {
            last.1 = Some(url.trim().trim_matches('"').to_owned());
        }
    }
    alerts
}

/// `(level, title)` of each Markdown heading of `text`, outside fenced code blocks.
fn markdown_headings(text: &str) -> Vec<(usize, String)> {
    let mut headings = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        if !fenced
            && level > 0
            && let Some(title) = line[level..].strip_prefix(' ')
        {
            headings.push((level, title.trim().to_owned()));
        }
    }
    headings
}

#[test]
fn every_alert_links_to_its_own_section_of_the_operations_guide() {
    let headings = markdown_headings(&read(&repo_root().join(RUNBOOK_REF)));
    // The runbooks are the level-3 sections of `## Alerts`.
    let mut sections = BTreeSet::new();
    let mut in_alerts = false;
    for (level, title) in &headings {
        match level {
            1 | 2 => in_alerts = *level == 2 && title == "Alerts",
            3 if in_alerts => {
                sections.insert(title.clone());
            }
            _ => {}
        }
    }
    let alerts = alert_runbooks();
    assert!(
        alerts.len() >= 5,
        "the rule scan found too few alerts: {alerts:?}"
    );

    let mut problems = Vec::new();
    for (alert, url) in &alerts {
        let anchor = heading_anchor(alert);
        let expected = format!("{RUNBOOK_REF}#{anchor}");
        match url {
            None => problems.push(format!("{alert}: no runbook_url")),
            Some(url) if *url != expected => problems.push(format!(
                "{alert}: runbook_url {url:?}, expected {expected:?}"
            )),
            Some(_) => {}
        }
        if !sections.contains(alert) {
            problems.push(format!(
                "{alert}: {RUNBOOK_REF} has no `### {alert}` section under `## Alerts`"
            ));
        }
        let same_anchor = headings
            .iter()
            .filter(|(_, title)| heading_anchor(title) == anchor)
            .count();
        if same_anchor > 1 {
            problems.push(format!(
                "{alert}: {same_anchor} headings of {RUNBOOK_REF} have the anchor #{anchor}; the link reaches only the first (later ones become #{anchor}-1, ...)"
            ));
        }
    }
    let alert_names: BTreeSet<&str> = alerts.iter().map(|(name, _)| name.as_str()).collect();
    for section in &sections {
        if !alert_names.contains(section.as_str()) {
            problems.push(format!(
                "{RUNBOOK_REF}: `### {section}` under `## Alerts` is no alert of {}",
                rules_file().display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "runbook links and sections disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn rules_and_dashboards_use_only_metrics_the_binaries_export() {
    let declared = exported_metrics();
    let recorded = recorded_names();
    let mut sources = vec![rules_file()];
    sources.extend(files(&repo_root().join("deploy/grafana"), &[".json"]));
    sources.extend(files(
        &repo_root().join("deploy/prometheus/tests"),
        &[".yaml"],
    ));
    let mut unknown = Vec::new();
    let mut used = BTreeSet::new();
    for path in &sources {
        let text = read(path);
        for name in words_starting_with(&text, "tributary_") {
            let base = base_metric(&name, &declared);
            if !declared.contains(base.as_str()) {
                unknown.push(format!("{}: {name}", path.display()));
            }
            used.insert(base);
        }
        for name in words_starting_with(&text, "tributary:") {
            if !recorded.contains(&name) {
                unknown.push(format!("{}: {name} (no rule records it)", path.display()));
            }
        }
        for line in text.lines() {
            for foreign in words_starting_with(line, "kube_") {
                if !FOREIGN_METRICS.contains(&foreign.as_str()) {
                    unknown.push(format!(
                        "{}: {foreign} (not in FOREIGN_METRICS)",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "deploy/ uses metrics the binaries do not export (their METRIC_NAMES lists):\n{}",
        unknown.join("\n")
    );
    // The dashboard and rules are worth something only if they actually use the metrics:
    // guard against the scan silently finding nothing.
    assert!(used.len() >= 15, "only {used:?} found");
}

/// Every environment variable a binary declares (`env = "..."` in its clap structs): the
/// projector and producer, the database settings both take from the store crate, and
/// `tributary-admin` of the runtime crate.
fn declared_env_vars() -> BTreeSet<String> {
    let root = repo_root();
    let mut names = BTreeSet::new();
    for dir in ["projector/src", "producer/src", "store/src", "runtime/src"] {
        for path in files(&root.join(dir), &[".rs"]) {
            let text = read(&path);
            let mut rest = text.as_str();
            while let Some(at) = rest.find("env = \"") {
                rest = &rest[at + 7..];
                if let Some(end) = rest.find('"') {
                    names.insert(rest[..end].to_owned());
                }
            }
        }
    }
    // Read by the logging set-up rather than declared with clap (runtime/src/telemetry.rs).
    names.insert("RUST_LOG".to_owned());
    assert!(
        names.contains("DATABASE_URL") && names.contains("SHUTDOWN_GRACE_MS"),
        "the scan of env = \"...\" found too little: {names:?}"
    );
    names
}

fn is_env_name(word: &str) -> bool {
    word.len() > 1
        && word.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Environment variable names set for Tributary's processes in the Kubernetes manifests:
/// `env` entries (`- name: UPPER_CASE`), the ConfigMap's `config.env` and the overlays'
/// `literals`.
fn manifest_env_vars() -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let k8s = repo_root().join("deploy/k8s");
    for path in files(&k8s, &[".yaml", ".env"]) {
        let text = read(&path);
        let where_ = path.display().to_string();
        for line in text.lines() {
            let line = line.trim();
            let candidate = if path.extension().is_some_and(|e| e == "env") {
                line.split_once('=').map(|(name, _)| name)
            } else if let Some(name) = line.strip_prefix("- name:") {
                Some(name.trim())
            } else if let Some(literal) = line.strip_prefix("- ") {
                literal.split_once('=').map(|(name, _)| name)
            } else {
                None
            };
            if let Some(name) = candidate.filter(|name| is_env_name(name)) {
                found
                    .entry(name.to_owned())
                    .or_default()
                    .insert(where_.clone());
            }
        }
    }
    found
}

/// Environment variable names compose gives to Tributary's services: the `x-*-env` groups and
/// the `environment` of the services that run the Tributary image.
fn compose_env_vars() -> BTreeSet<String> {
    let text = read(&repo_root().join("deploy/compose.yaml"));
    let ours = [
        "topics",
        "migrate",
        "projector",
        "gateway",
        "processor",
        "saga",
    ];
    let mut names = BTreeSet::new();
    let mut top = String::new();
    let mut service = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let key = line.trim().split(':').next().unwrap_or_default().to_owned();
        match indent {
            0 => top = key.clone(),
            2 => service = key.clone(),
            _ => {}
        }
        let in_ours = top.starts_with("x-") && top.ends_with("-env")
            || top == "services" && ours.contains(&service.as_str());
        if in_ours && indent >= 2 && is_env_name(&key) {
            names.insert(key);
        }
    }
    assert!(
        names.contains("KAFKA_BOOTSTRAP_SERVERS"),
        "the compose scan found nothing: {names:?}"
    );
    names
}

#[test]
fn manifests_and_compose_set_only_variables_a_binary_reads() {
    let declared = declared_env_vars();
    let known = |name: &str| declared.contains(name) || name.starts_with(PASSTHROUGH_PREFIX);
    let manifests = manifest_env_vars();
    let mut unknown: Vec<String> = manifests
        .iter()
        .filter(|(name, _)| !known(name))
        .map(|(name, files)| format!("{name} (in {files:?})"))
        .collect();
    unknown.extend(
        compose_env_vars()
            .into_iter()
            .filter(|name| !known(name))
            .map(|name| format!("{name} (in deploy/compose.yaml)")),
    );
    assert!(
        unknown.is_empty(),
        "deploy/ sets variables no binary reads (no `env = \"...\"` in projector/, producer/ or runtime/, and not {PASSTHROUGH_PREFIX}*):\n{}",
        unknown.join("\n")
    );
    for required in [
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "SHUTDOWN_GRACE_MS",
    ] {
        assert!(
            manifests.contains_key(required),
            "the manifests no longer set {required}"
        );
    }
}

#[test]
fn probes_ask_paths_the_binaries_serve() {
    let http = read(&repo_root().join("runtime/src/http.rs"));
    let mut asked = BTreeSet::new();
    for path in files(&repo_root().join("deploy/k8s"), &[".yaml"]) {
        // Kustomizations' JSON patches have `path:` lines too: they are not probes.
        if path.ends_with("kustomization.yaml") {
            continue;
        }
        for line in read(&path).lines() {
            if let Some(probe) = line.trim().strip_prefix("path: /") {
                asked.insert(format!("/{probe}"));
            }
        }
    }
    assert_eq!(
        asked,
        BTreeSet::from([
            "/healthz".to_owned(),
            "/metrics".to_owned(),
            "/readyz".to_owned()
        ]),
        "the manifests ask other paths than /healthz, /readyz and /metrics"
    );
    for path in &asked {
        assert!(
            http.contains(&format!(".route(\"{path}\"")),
            "runtime/src/http.rs no longer serves {path}, which deploy/k8s asks"
        );
    }
}

/// One KafkaTopic of the Strimzi component, as written.
#[derive(Debug, Default)]
struct KafkaTopic {
    name: String,
    partitions: i32,
    config: BTreeMap<String, String>,
}

fn strimzi_topics() -> Vec<KafkaTopic> {
    let path = repo_root().join("deploy/k8s/components/strimzi-topics/topics.yaml");
    let mut topics = Vec::new();
    for document in read(&path).split("\n---\n") {
        let mut topic = KafkaTopic::default();
        let mut in_config = false;
        for line in document.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || trimmed.is_empty() {
                continue;
            }
            if let Some(name) = trimmed.strip_prefix("topicName:") {
                topic.name = name.trim().to_owned();
            } else if let Some(count) = trimmed.strip_prefix("partitions:") {
                topic.partitions = count.trim().parse().unwrap_or_else(|error| {
                    panic!("{}: partitions {count:?}: {error}", path.display())
                });
            } else if trimmed == "config:" {
                in_config = true;
            } else if in_config && line.starts_with("    ") {
                let (key, value) = trimmed
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{}: config line {trimmed:?}", path.display()));
                topic.config.insert(
                    key.trim().to_owned(),
                    value.trim().trim_matches('"').to_owned(),
                );
            } else {
                in_config = false;
            }
        }
        assert!(
            !topic.name.is_empty(),
            "{}: a KafkaTopic without spec.topicName",
            path.display()
        );
        topics.push(topic);
    }
    topics
}

#[test]
fn strimzi_topics_are_the_layout_the_binaries_check() {
    let config = read(&repo_root().join("deploy/k8s/base/config.env"));
    let setting = |key: &str| {
        config
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("deploy/k8s/base/config.env does not set {key}"))
            .to_owned()
    };
    let prefix = setting("TRIBUTARY_TOPIC_PREFIX");
    let partitions: i32 = setting("TRIBUTARY_PARTITIONS")
        .parse()
        .expect("TRIBUTARY_PARTITIONS is a number");
    let expected =
        Topology::new(prefix.as_str(), tributary_bank::AGGREGATE_TYPES, partitions).topics();
    let written = strimzi_topics();

    let expected_names: BTreeSet<&str> = expected.iter().map(|t| t.name.as_str()).collect();
    let written_names: BTreeSet<&str> = written.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        written_names, expected_names,
        "the KafkaTopics differ from runtime/src/topology.rs for prefix {prefix}"
    );
    for spec in &expected {
        let topic = written
            .iter()
            .find(|t| t.name == spec.name)
            .expect("names compared above");
        assert_eq!(
            topic.partitions, spec.partitions,
            "KafkaTopic {} has {} partitions, the binaries expect {}",
            spec.name, topic.partitions, spec.partitions
        );
        for (key, value) in &spec.configs {
            assert_eq!(
                topic.config.get(*key).map(String::as_str),
                Some(*value),
                "KafkaTopic {} must set {key}={value} (runtime/src/topology.rs)",
                spec.name
            );
        }
    }
}

/// `tributary-admin` has no default domain: every file that runs it for the bank names the
/// bank's aggregate types, and names them all (a missing one would leave its events topic
/// uncreated and the services refusing to start).
#[test]
fn every_topic_layout_for_the_bank_names_its_aggregate_types() {
    let expected = tributary_bank::AGGREGATE_TYPES.join(",");
    for (file, prefix) in [
        (
            "scripts/lib.sh",
            "TRIBUTARY_AGGREGATES=\"${TRIBUTARY_AGGREGATES:-",
        ),
        ("deploy/compose.yaml", "TRIBUTARY_AGGREGATES: "),
        ("deploy/k8s/components/topics-job/job.yaml", "value: "),
    ] {
        let text = read(&repo_root().join(file));
        let named = text
            .lines()
            .map(str::trim)
            .skip_while(|line| {
                file.ends_with("job.yaml") && !line.ends_with("TRIBUTARY_AGGREGATES")
            })
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{file} does not set TRIBUTARY_AGGREGATES"));
        let named = named.trim_end_matches("}\"").trim_matches('"');
        assert_eq!(named, expected, "TRIBUTARY_AGGREGATES in {file}");
    }
}

#[test]
fn autoscaling_stops_at_the_partition_count() {
    let config = read(&repo_root().join("deploy/k8s/base/config.env"));
    let partitions: u32 = config
        .lines()
        .find_map(|line| line.strip_prefix("TRIBUTARY_PARTITIONS="))
        .and_then(|count| count.parse().ok())
        .expect("config.env sets TRIBUTARY_PARTITIONS");
    let scaled = read(&repo_root().join("deploy/k8s/base/scaledobjects.yaml"));
    let maxima: Vec<u32> = scaled
        .lines()
        .filter_map(|line| line.trim().strip_prefix("maxReplicaCount:"))
        .map(|count| count.trim().parse().expect("maxReplicaCount is a number"))
        .collect();
    assert_eq!(
        maxima.len(),
        2,
        "one ScaledObject each for projector and processor"
    );
    for max in maxima {
        assert!(
            max <= partitions,
            "maxReplicaCount {max} exceeds the {partitions} partitions: the extra consumers would idle"
        );
    }
}

/// The text between `start` and the next `end` on the first line of `text` holding `start`.
fn value_after<'a>(text: &'a str, start: &str, end: char) -> Option<&'a str> {
    let line = text.lines().find(|line| line.contains(start))?;
    let rest = &line[line.find(start)? + start.len()..];
    Some(rest.split(end).next().unwrap_or(rest).trim())
}

#[test]
fn compose_runs_the_kafka_version_the_scripts_test_on() {
    let root = repo_root();
    let pom = read(&root.join("scripts/kafka/pom.xml"));
    let lib = read(&root.join("scripts/lib.sh"));
    let compose = read(&root.join("deploy/compose.yaml"));
    let pinned = value_after(&pom, "<kafka.version>", '<').expect("kafka.version in the pom");
    let scripts = value_after(&lib, "KAFKA_VERSION=\"", '"').expect("KAFKA_VERSION in lib.sh");
    let image = value_after(&compose, "image: apache/kafka:", ' ').expect("apache/kafka image");
    assert_eq!(
        scripts, pinned,
        "scripts/lib.sh and scripts/kafka/pom.xml pin different Kafka versions"
    );
    assert_eq!(
        image, pinned,
        "deploy/compose.yaml runs apache/kafka:{image}, the scripts test on {pinned}"
    );
}
