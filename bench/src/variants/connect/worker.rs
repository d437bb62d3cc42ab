//! The Kafka Connect worker as a child process of the bench: `scripts/connect.sh standalone`
//! with the templates beside it (`scripts/connect/*.properties`) filled for this run in a
//! private temporary directory; its state read from its REST API (a task that fails does not
//! end the worker, so the bench must ask), and its progress from the committed offsets of the
//! sink's consumer group on the broker, which it commits only for records it has written.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use tokio::time::Instant;
use tributary_runtime::kafka::KafkaSettings;
use tributary_tests::process::{ServiceProcess, free_port};

use crate::broker::{BROKER_TIMEOUT, Ends};

/// The worker's JVM heap (`CONNECT_HEAP` of `scripts/connect.sh`).
pub const HEAP: &str = "512m";

/// How often the worker's state is asked for while it starts.
const POLL: Duration = Duration::from_millis(200);

/// Lines of a failed task's stack trace that an error shows.
const TRACE_LINES: usize = 30;

/// The one sink connector a worker runs.
#[derive(Debug, Clone)]
pub struct SinkSpec<'a> {
    /// The connector's name; its consumer group is `connect-<name>`.
    pub name: &'a str,
    /// The topics it reads, each named `<prefix>.<table>`.
    pub topics: &'a [String],
    /// The schema holding the tables.
    pub schema: &'a str,
    /// The database, as a `postgres://` URL.
    pub database_url: &'a str,
    /// `tasks.max`.
    pub tasks: usize,
}

impl SinkSpec<'_> {
    /// The sink's consumer group.
    pub fn group(&self) -> String {
        format!("connect-{}", self.name)
    }
}

/// A running worker; killed when dropped.
#[derive(Debug)]
pub struct Worker {
    process: ServiceProcess,
    dir: PathBuf,
    status_path: String,
    tasks: usize,
}

impl Worker {
    /// Fills the templates beside `script` for `spec` and starts `script standalone` on them.
    pub fn start(script: &Path, bootstrap: &str, spec: &SinkSpec<'_>) -> anyhow::Result<Self> {
        let templates = script
            .parent()
            .map(|dir| dir.join("connect"))
            .with_context(|| format!("{} has no directory", script.display()))?;
        let dir = private_dir(spec.name)?;
        let port = free_port();
        let offsets = dir.join("offsets");
        let worker = write_filled(
            &templates.join("worker.properties"),
            &dir.join("worker.properties"),
            &[
                ("BOOTSTRAP", bootstrap),
                ("OFFSETS_FILE", &offsets.to_string_lossy()),
                ("REST_PORT", &port.to_string()),
            ],
        )?;
        let jdbc = Jdbc::from_database_url(spec.database_url)?;
        let sink = write_filled(
            &templates.join("jdbc-sink.properties"),
            &dir.join("jdbc-sink.properties"),
            &[
                ("CONNECTOR_NAME", spec.name),
                ("TOPICS", &spec.topics.join(",")),
                ("SCHEMA", spec.schema),
                ("JDBC_URL", &jdbc.url),
                ("JDBC_USER", &jdbc.user),
                ("JDBC_PASSWORD", &jdbc.password),
                ("TASKS_MAX", &spec.tasks.to_string()),
            ],
        )?;
        let script = script.to_string_lossy();
        let (worker, sink) = (worker.to_string_lossy(), sink.to_string_lossy());
        let env = [("CONNECT_HEAP".to_owned(), HEAP.to_owned())];
        let http: SocketAddr = ([127, 0, 0, 1], port).into();
        // `connect.sh standalone` execs the JVM, so the child's pid is the worker's.
        let process = ServiceProcess::start_listening_on(
            "kafka-connect",
            "bash",
            &[&script, "standalone", &worker, &sink],
            &env,
            http,
        )
        .with_context(|| format!("starting Kafka Connect with {script}"))?;
        Ok(Self {
            process,
            dir,
            status_path: format!("/connectors/{}/status", spec.name),
            tasks: spec.tasks,
        })
    }

    /// Waits until the connector and all its tasks are `RUNNING`; an error if one failed, the
    /// worker exited, or `deadline` passed.
    pub async fn wait_running(&mut self, deadline: Instant) -> anyhow::Result<()> {
        loop {
            match self.state().await? {
                SinkState::Running => return Ok(()),
                SinkState::Failed(why) => return Err(self.failure(&why)),
                SinkState::Starting(what) if Instant::now() >= deadline => {
                    return Err(self.failure(&format!("not running in time ({what})")));
                }
                SinkState::Starting(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// An error if the worker exited or the connector or a task failed.
    pub async fn check(&mut self) -> anyhow::Result<()> {
        match self.state().await? {
            SinkState::Failed(why) => Err(self.failure(&why)),
            _ => Ok(()),
        }
    }

    /// `Kafka Connect <version>, <connector class> <version>` as the REST API reports them.
    pub async fn versions(&self) -> String {
        let version = |path: String, pointer: &'static str| {
            let client = &self.process;
            async move {
                let body = client.get(&path).await.ok()?.body;
                let value: Value = serde_json::from_str(&body).ok()?;
                value.pointer(pointer)?.as_str().map(str::to_owned)
            }
        };
        let unknown = || "(unknown version)".to_owned();
        let worker = version("/".to_owned(), "/version")
            .await
            .unwrap_or_else(unknown);
        let connector = version(self.status_path.clone(), "/connector/version")
            .await
            .unwrap_or_else(unknown);
        format!("Kafka Connect {worker} standalone, Debezium JDBC sink {connector}")
    }

    /// Peak resident memory of the JVM in kB, while it runs.
    pub fn peak_rss_kb(&self) -> Option<u64> {
        self.process.peak_rss_kb()
    }

    /// Stops the worker (SIGTERM, then SIGKILL after a grace period) and removes its files;
    /// its log stays.
    pub async fn stop(mut self) {
        self.process.stop(Duration::from_secs(30)).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// The state the REST API reports; not yet known while it does not answer.
    async fn state(&mut self) -> anyhow::Result<SinkState> {
        self.process
            .check_running()
            .context("Kafka Connect exited")?;
        Ok(match self.process.get(&self.status_path).await {
            Ok(response) if response.status == 200 => sink_state(&response.body, self.tasks),
            Ok(response) => SinkState::Starting(format!(
                "GET {} answered {}",
                self.status_path, response.status
            )),
            Err(error) => SinkState::Starting(format!("the REST API does not answer: {error}")),
        })
    }

    fn failure(&self, why: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "the Kafka Connect sink: {why}\nthe worker's log {}:\n{}",
            self.process.log.display(),
            self.process.log_tail()
        )
    }
}

/// A directory only this user can read (the sink's file holds the database password).
fn private_dir(name: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Writes `template` with its `@NAME@` placeholders replaced by `values` to `out`.
fn write_filled(template: &Path, out: &Path, values: &[(&str, &str)]) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(template).with_context(|| {
        format!(
            "reading {} (the Kafka Connect templates of scripts/connect/)",
            template.display()
        )
    })?;
    let filled = fill(&text, values).with_context(|| format!("filling {}", template.display()))?;
    std::fs::write(out, filled).with_context(|| format!("writing {}", out.display()))?;
    Ok(out.to_path_buf())
}

/// `text` with every `@NAME@` placeholder replaced by its value in `values`; an error if
/// one has none.
pub fn fill(text: &str, values: &[(&str, &str)]) -> anyhow::Result<String> {
    let missing: Vec<&str> = placeholders(text)
        .into_iter()
        .filter(|name| !values.iter().any(|(given, _)| given == name))
        .collect();
    if !missing.is_empty() {
        bail!("placeholders without a value: {missing:?}");
    }
    let mut filled = text.to_owned();
    for (name, value) in values {
        filled = filled.replace(&format!("@{name}@"), value);
    }
    Ok(filled)
}

/// The names of the `@NAME@` placeholders (capitals and underscores) in `text`.
fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('@') {
        let after = &rest[start + 1..];
        let length = after
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(after.len());
        if length > 0 && after[length..].starts_with('@') {
            names.push(&after[..length]);
            rest = &after[length + 1..];
        } else {
            rest = after;
        }
    }
    names
}

/// What the REST API says about a sink connector and its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkState {
    /// Not every part runs yet: what is missing.
    Starting(String),
    /// The connector and all its tasks run.
    Running,
    /// The connector or a task failed: which, and the start of its stack trace.
    Failed(String),
}

/// The state in `GET /connectors/<name>/status`'s answer `body`, for a connector of `tasks`
/// tasks.
pub fn sink_state(body: &str, tasks: usize) -> SinkState {
    let Ok(status) = serde_json::from_str::<Value>(body) else {
        return SinkState::Starting(format!("an answer that is not JSON: {body}"));
    };
    let state = |part: &Value| part["state"].as_str().unwrap_or("UNKNOWN").to_owned();
    let failed = |what: String, part: &Value| {
        let trace = part["trace"].as_str().unwrap_or("(no trace)");
        let head: Vec<&str> = trace.lines().take(TRACE_LINES).collect();
        SinkState::Failed(format!("{what} FAILED:\n{}", head.join("\n")))
    };
    let connector = &status["connector"];
    if state(connector) == "FAILED" {
        return failed("the connector".to_owned(), connector);
    }
    let listed = status["tasks"].as_array().cloned().unwrap_or_default();
    for task in &listed {
        if state(task) == "FAILED" {
            return failed(format!("task {}", task["id"]), task);
        }
    }
    let running = listed.iter().filter(|t| state(t) == "RUNNING").count();
    if state(connector) == "RUNNING" && running == tasks {
        SinkState::Running
    } else {
        SinkState::Starting(format!(
            "connector {}, {running} of {tasks} tasks running",
            state(connector)
        ))
    }
}

/// The JDBC form of a `postgres://` URL, for the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jdbc {
    /// `jdbc:postgresql://host:port/database?…`.
    pub url: String,
    /// The user.
    pub user: String,
    /// The password, empty when there is none.
    pub password: String,
}

impl Jdbc {
    /// The sink's connection to the database of `database_url` (its query parameters, such as
    /// `sslmode`, are not carried over). pgjdbc sends a JDBC batch of upserts as multi-row
    /// statements (`reWriteBatchedInserts`), which the sink's reduction buffer makes safe.
    pub fn from_database_url(database_url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(database_url)
            .context("DATABASE_URL is not a URL (postgres://user@host:port/database)")?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            bail!(
                "DATABASE_URL must be a postgres:// URL for the Connect sink, not a {}:// one",
                parsed.scheme()
            );
        }
        let host = parsed
            .host_str()
            .context("DATABASE_URL names no host; the Connect sink needs one")?;
        let port = parsed.port().unwrap_or(5432);
        let database = parsed.path().trim_start_matches('/');
        if database.is_empty() {
            bail!("DATABASE_URL names no database; the Connect sink needs one");
        }
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .context("DATABASE_URL's user or password is not UTF-8 once decoded")
        };
        Ok(Self {
            url: format!("jdbc:postgresql://{host}:{port}/{database}?reWriteBatchedInserts=true"),
            user: decode(parsed.username())?,
            password: decode(parsed.password().unwrap_or_default())?,
        })
    }
}

/// How far a sink's consumer group has committed, against where its topics end.
pub struct GroupProgress {
    consumer: BaseConsumer,
    partitions: TopicPartitionList,
    ends: Ends,
}

impl GroupProgress {
    /// Watches `group` on the partitions of `ends` (a consumer of the group that never joins
    /// it, only reads its committed offsets).
    pub fn new(settings: &KafkaSettings, group: &str, ends: &Ends) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = settings
            .consumer(group)?
            .create()
            .with_context(|| format!("creating a reader of {group}'s offsets"))?;
        let mut partitions = TopicPartitionList::new();
        for (topic, partition) in ends.keys() {
            partitions.add_partition(topic, *partition);
        }
        Ok(Self {
            consumer,
            partitions,
            ends: ends.clone(),
        })
    }

    /// Every partition whose committed offset is still below its end, as `topic/partition at
    /// committed of end`; blocks for a broker round trip.
    pub fn behind(&self) -> anyhow::Result<Vec<String>> {
        let committed = self
            .consumer
            .committed_offsets(self.partitions.clone(), BROKER_TIMEOUT)
            .context("reading the Connect sink's committed offsets")?;
        let mut behind = Vec::new();
        for element in committed.elements() {
            let end = self
                .ends
                .get(&(element.topic().to_owned(), element.partition()))
                .copied()
                .unwrap_or_default();
            let at = match element.offset() {
                Offset::Offset(at) => at,
                _ => 0,
            };
            if at < end {
                behind.push(format!(
                    "{}/{} at {at} of {end}",
                    element.topic(),
                    element.partition()
                ));
            }
        }
        Ok(behind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_filled_and_a_missing_value_is_an_error() {
        let template = "# @NAME@ is the connector\nname=@NAME@\nurl=@URL@ # me@HOST\n";
        let filled = fill(template, &[("NAME", "n"), ("URL", "u@H@")]).unwrap();
        assert_eq!(filled, "# n is the connector\nname=n\nurl=u@H@ # me@HOST\n");
        let error = fill(template, &[("NAME", "n")]).unwrap_err().to_string();
        assert!(error.contains("URL"), "{error}");
    }

    #[test]
    fn a_failed_task_is_reported_with_its_trace() {
        let body = r#"{"name":"s","connector":{"state":"RUNNING"},"tasks":[
            {"id":0,"state":"RUNNING"},{"id":1,"state":"FAILED","trace":"org.x.Boom: no\n\tat a.b"}]}"#;
        let SinkState::Failed(why) = sink_state(body, 2) else {
            panic!("not failed");
        };
        assert!(why.starts_with("task 1 FAILED:\norg.x.Boom: no"), "{why}");
    }

    #[test]
    fn a_sink_runs_once_every_task_does() {
        let running = r#"{"connector":{"state":"RUNNING"},"tasks":[{"id":0,"state":"RUNNING"}]}"#;
        assert_eq!(sink_state(running, 1), SinkState::Running);
        assert!(matches!(sink_state(running, 2), SinkState::Starting(_)));
        let created = r#"{"connector":{"state":"RUNNING"},"tasks":[]}"#;
        assert!(matches!(sink_state(created, 1), SinkState::Starting(_)));
    }

    #[test]
    fn a_database_url_becomes_a_jdbc_url_with_batched_upserts() {
        let jdbc = Jdbc::from_database_url(
            "postgres://bench:p%40ss@db.local:6543/tributary?sslmode=disable",
        )
        .unwrap();
        assert_eq!(
            jdbc.url,
            "jdbc:postgresql://db.local:6543/tributary?reWriteBatchedInserts=true"
        );
        assert_eq!(
            (jdbc.user.as_str(), jdbc.password.as_str()),
            ("bench", "p@ss")
        );
        let local = Jdbc::from_database_url("postgres://postgres@127.0.0.1/tributary").unwrap();
        assert_eq!(
            local.url,
            "jdbc:postgresql://127.0.0.1:5432/tributary?reWriteBatchedInserts=true"
        );
        assert_eq!(local.password, "");
        assert!(Jdbc::from_database_url("postgres://postgres@127.0.0.1:5432").is_err());
    }
}
