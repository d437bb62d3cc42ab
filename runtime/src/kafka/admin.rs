//! Topic administration: read partition counts from the broker's metadata and create missing
//! topics with their partition counts and configurations.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use thiserror::Error;

use crate::topology::TopicSpec;

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
