//! Topic administration: read partition counts from the broker's metadata, create missing
//! topics with their partition counts and configurations, and check a pipeline's layout
//! against what the broker holds (what every service does at start-up).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use thiserror::Error;

use crate::topology::{TopicSpec, Topology, TopologyError};

/// Talking to the broker about topics failed.
#[derive(Debug, Error)]
pub enum AdminError {
    /// The broker did not answer a metadata request.
    #[error(
        "cannot read topic metadata from {bootstrap} within {timeout:?}: {source}; check that the broker is running and KAFKA_BOOTSTRAP_SERVERS points at it"
    )]
    Metadata {
        /// The configured broker list.
        bootstrap: String,
        /// How long it waited.
        timeout: Duration,
        /// The client's error.
        source: KafkaError,
    },
    /// The broker refused to create a topic.
    #[error("cannot create topic {topic}: {reason}")]
    Create {
        /// The topic.
        topic: String,
        /// The broker's answer.
        reason: String,
    },
    /// The client could not be built from the configuration.
    #[error("invalid Kafka client configuration: {0}")]
    Client(#[source] KafkaError),
    /// The broker's topics do not match the layout.
    #[error(transparent)]
    Layout(#[from] TopologyError),
}

/// Partition counts of every topic the broker knows (internal topics included).
pub fn partition_counts(
    config: &ClientConfig,
    timeout: Duration,
) -> Result<BTreeMap<String, i32>, AdminError> {
    let consumer: BaseConsumer = config.create().map_err(AdminError::Client)?;
    let metadata =
        consumer
            .fetch_metadata(None, timeout)
            .map_err(|source| AdminError::Metadata {
                bootstrap: config
                    .get("bootstrap.servers")
                    .unwrap_or_default()
                    .to_owned(),
                timeout,
                source,
            })?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|topic| topic.error().is_none())
        .map(|topic| (topic.name().to_owned(), topic.partitions().len() as i32))
        .collect())
}

/// Creates every topic of `specs` that does not exist yet; existing topics are left as they
/// are (their partition counts are checked separately). Returns the names it created.
pub async fn create_missing_topics(
    config: &ClientConfig,
    specs: &[TopicSpec],
    replication_factor: i32,
    timeout: Duration,
) -> Result<Vec<String>, AdminError> {
    let existing = partition_counts(config, timeout)?;
    let missing: Vec<&TopicSpec> = specs
        .iter()
        .filter(|spec| !existing.contains_key(&spec.name))
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let admin: AdminClient<DefaultClientContext> = config.create().map_err(AdminError::Client)?;
    let new_topics: Vec<NewTopic> = missing
        .iter()
        .map(|spec| {
            spec.configs.iter().fold(
                NewTopic::new(
                    &spec.name,
                    spec.partitions,
                    TopicReplication::Fixed(replication_factor),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(AdminError::Client)?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(topic) => created.push(topic),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(AdminError::Create {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(created)
}

/// How often [`prepare_topics`] reads the metadata again while topics it created appear.
const METADATA_POLL: Duration = Duration::from_millis(100);

/// What [`prepare_topics`] should do about the topics a service needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preparation {
    /// Only check that they exist with the right partition counts.
    Check,
    /// Create the missing ones (with this replication factor), then check.
    CreateMissing {
        /// Replication factor of the topics it creates.
        replication_factor: i32,
    },
}

/// Prepares the topics of `topology` that `uses` selects (a service's own, or all of them):
/// creates the missing ones when `preparation` says so, then checks that every one exists
/// and that co-partitioned topics have the layout's partition count. A topic just created
/// takes a moment to appear in the metadata, so the check is repeated until it holds or
/// `timeout` has passed. Returns the names it created, each also logged.
pub async fn prepare_topics(
    config: &ClientConfig,
    topology: &Topology,
    uses: impl Fn(&TopicSpec) -> bool,
    preparation: Preparation,
    timeout: Duration,
) -> Result<Vec<String>, AdminError> {
    let mut created = Vec::new();
    if let Preparation::CreateMissing { replication_factor } = preparation {
        let specs: Vec<TopicSpec> = topology.topics().into_iter().filter(|s| uses(s)).collect();
        created = create_missing_topics(config, &specs, replication_factor, timeout).await?;
        for topic in &created {
            tracing::info!(topic, "created topic");
        }
    }
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let observed = partition_counts(config, timeout)?;
        match topology.check_topics(&observed, &uses) {
            Ok(()) => return Ok(created),
            Err(_) if !created.is_empty() && std::time::Instant::now() < deadline => {
                tokio::time::sleep(METADATA_POLL).await;
            }
            Err(mismatch) => return Err(mismatch.into()),
        }
    }
}
