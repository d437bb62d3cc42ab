//! A pipeline of its own for each test: a unique topic prefix with all the topics of the
//! layout, and a unique PostgreSQL schema, so tests run in parallel against one broker and
//! one database.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::postgres::PgPool;
use tributary_runtime::Topology;
use tributary_runtime::kafka::admin::{self, Preparation};
use tributary_runtime::kafka::offsets::end_offsets;
use tributary_schemas::protocol::ProjectionMarker;

use crate::process::ServiceProcess;
use crate::{BROKER_TIMEOUT, consumer, database_url, kafka, unique_name};

/// Topics and a schema that belong to one test.
#[derive(Debug, Clone)]
pub struct TestPipeline {
    /// Topic prefix, unique to the test.
    pub prefix: String,
    /// PostgreSQL schema, unique to the test.
    pub schema: String,
    /// The topic layout under the prefix.
    pub topology: Topology,
}

impl TestPipeline {
    /// Creates every topic of the bank layout under a fresh prefix, with `partitions`
    /// partitions for commands and events.
    pub async fn create(name: &str, partitions: i32) -> Self {
        Self::create_for(name, &tributary_bank::AGGREGATE_TYPES, partitions).await
    }

    /// Creates every topic of the layout of a domain with `aggregate_types` under a fresh
    /// prefix, with `partitions` partitions for commands and events.
    pub async fn create_for(name: &str, aggregate_types: &[&str], partitions: i32) -> Self {
        let prefix = unique_name(name);
        let schema = format!("t_{}", prefix.rsplit('.').next().unwrap_or_default());
        let topology = Topology::new(&prefix, aggregate_types.iter().copied(), partitions);
        let config = kafka().admin().expect("admin client configuration");
        let create = Preparation::CreateMissing {
            replication_factor: 1,
        };
        admin::prepare_topics(&config, &topology, |_| true, create, BROKER_TIMEOUT)
            .await
            .unwrap_or_else(|error| panic!("creating the topics of {prefix}: {error}"));
        Self {
            prefix,
            schema,
            topology,
        }
    }

    /// Environment for a service process of this pipeline (the projector's and the
    /// producer's variables are the same).
    pub fn projector_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
                kafka().bootstrap_servers().to_owned(),
            ),
            ("DATABASE_URL".to_owned(), database_url()),
            ("PROJECTOR_SCHEMA".to_owned(), self.schema.clone()),
            ("TRIBUTARY_TOPIC_PREFIX".to_owned(), self.prefix.clone()),
            (
                "TRIBUTARY_PARTITIONS".to_owned(),
                self.topology.partitions().to_string(),
            ),
            ("LOG_FORMAT".to_owned(), "text".to_owned()),
        ]
    }

    /// Starts `binary` (the projector) with `projector run` and this pipeline's environment
    /// plus `extra` variables.
    pub fn start_projector(&self, binary: &str, extra: &[(&str, &str)]) -> ServiceProcess {
        self.start_service("projector", binary, &["run"], "PROJECTOR_HTTP_ADDR", extra)
    }

    /// Starts `binary` (the producer) in `mode` (`all`, `gateway`, `processor`, `saga`) with
    /// this pipeline's environment plus `extra` variables.
    pub fn start_producer(
        &self,
        binary: &str,
        mode: &str,
        extra: &[(&str, &str)],
    ) -> ServiceProcess {
        self.start_service(mode, binary, &[mode], "PRODUCER_HTTP_ADDR", extra)
    }

    /// Starts `binary args` as `name` with this pipeline's environment plus `extra`
    /// variables, its HTTP address in `http_env`; panics, with the reason, if it cannot start.
    pub fn start_service(
        &self,
        name: &str,
        binary: &str,
        args: &[&str],
        http_env: &str,
        extra: &[(&str, &str)],
    ) -> ServiceProcess {
        let mut env = self.projector_env();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        ServiceProcess::start(name, binary, args, &env, http_env)
            .unwrap_or_else(|error| panic!("{error:#}"))
    }

    /// A pool on the test's schema (created if missing).
    pub async fn pool(&self) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with(
                database_url()
                    .parse::<sqlx::postgres::PgConnectOptions>()
                    .expect("DATABASE_URL parses")
                    .options([("search_path", self.schema.as_str())]),
            )
            .await
            .expect("connect to the test database")
    }

    /// The end offset of every partition of `topic`.
    pub fn end_offsets(&self, topic: &str) -> BTreeMap<i32, i64> {
        let probe = consumer(&unique_name("probe"), &[]);
        let ends = end_offsets(&probe, topic, 0..self.topology.partitions(), BROKER_TIMEOUT)
            .expect("end offsets");
        ends.into_iter()
            .enumerate()
            .map(|(partition, end)| (partition as i32, end))
            .collect()
    }

    /// Drops the test's schema.
    pub async fn drop_schema(&self, pool: &PgPool) {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.schema
        )))
        .execute(pool)
        .await;
    }
}

/// The committed offsets of `projection` in the test schema: (topic, partition) → next offset.
pub async fn committed(pool: &PgPool, projection: &str) -> BTreeMap<(String, i32), i64> {
    sqlx::query_as::<_, (String, i32, i64)>(
        "SELECT topic, partition, next_offset FROM projector_offsets WHERE projection = $1",
    )
    .bind(projection)
    .fetch_all(pool)
    .await
    .map(|rows| rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
    .unwrap_or_default()
}

/// Waits until `projection` has committed every partition of `topic` up to `ends`.
pub async fn wait_for_catch_up(
    pool: &PgPool,
    projection: &str,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let committed = committed(pool, projection).await;
        let behind: Vec<String> = ends
            .iter()
            .filter(|(partition, end)| {
                **end > 0
                    && committed
                        .get(&(topic.to_owned(), **partition))
                        .copied()
                        .unwrap_or(0)
                        < **end
            })
            .map(|(partition, end)| {
                format!(
                    "partition {partition}: {} of {end}",
                    committed
                        .get(&(topic.to_owned(), *partition))
                        .copied()
                        .unwrap_or(0)
                )
            })
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the projection did not catch up on {topic} within {timeout:?}: {}",
            behind.join(", ")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every marker on the pipeline's markers topic in the order written, read until `done` holds
/// for what was read (failing after the broker timeout with `what`), then until the topic has
/// been quiet for half a second.
pub fn read_markers(
    pipeline: &TestPipeline,
    what: &str,
    done: impl Fn(&[ProjectionMarker]) -> bool,
) -> Vec<ProjectionMarker> {
    let reader = consumer(&unique_name("markers"), &[]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&pipeline.topology.markers(), 0, Offset::Beginning)
        .expect("a valid assignment");
    reader
        .assign(&assignment)
        .expect("assign the markers topic");
    let codec = tributary_bank::codec();
    let mut markers = Vec::new();
    let read = |timeout: Duration, markers: &mut Vec<ProjectionMarker>| -> bool {
        let mut any = false;
        while let Some(message) = reader.poll(timeout) {
            let message = message.expect("reading the markers");
            let payload = message.payload().expect("markers have values");
            markers.push(codec.decode_record(payload).expect("markers decode"));
            any = true;
        }
        any
    };
    crate::wait_until(BROKER_TIMEOUT, what, || {
        read(Duration::from_millis(200), &mut markers);
        done(&markers)
    });
    while read(Duration::from_millis(500), &mut markers) {}
    markers
}

/// Fails unless the markers of every key, in the order written, never go back: neither in
/// next offset nor in (epoch, next offset).
pub fn assert_markers_monotonic(markers: &[ProjectionMarker]) {
    let mut by_key: BTreeMap<String, Vec<&ProjectionMarker>> = BTreeMap::new();
    for marker in markers {
        by_key.entry(marker.key()).or_default().push(marker);
    }
    for (key, written) in by_key {
        for pair in written.windows(2) {
            assert!(
                !pair[0].supersedes(pair[1]) && pair[1].next_offset >= pair[0].next_offset,
                "markers of {key} went back: {:?}",
                written
                    .iter()
                    .map(|m| (m.epoch, m.next_offset))
                    .collect::<Vec<_>>()
            );
        }
    }
}
