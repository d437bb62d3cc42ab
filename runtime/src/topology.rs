//! The topics of a pipeline, their partition counts and configurations, and the rule that
//! commands and events share partition numbers.
//!
//! An aggregate's commands and events are keyed by its ID and placed by the same partitioner,
//! so they land on the same partition number only if every command and event topic has the same
//! partition count. The processor relies on that to own an aggregate's commands and its events
//! together; [`Topology::check_partition_counts`] refuses to start otherwise.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::kafka::admin::Preparation;

/// The topic settings of a service binary, flattened into its configuration: which layout
/// it works on, and whether it may create missing topics.
#[derive(Debug, Clone, clap::Args)]
pub struct TopicArgs {
    /// Prefix of every topic name.
    #[arg(long, env = "TRIBUTARY_TOPIC_PREFIX", default_value = "tributary")]
    pub topic_prefix: String,

    /// Partition count of the commands, events and dead-letter topics (checked against the
    /// broker at start-up).
    #[arg(long, env = "TRIBUTARY_PARTITIONS", default_value_t = 8)]
    pub partitions: i32,

    /// Create missing topics at start-up instead of refusing to start.
    #[arg(
        long = "topics-auto-create",
        env = "TOPICS_AUTO_CREATE",
        default_value_t = false
    )]
    pub auto_create: bool,
}

impl TopicArgs {
    /// The layout of a domain with `aggregate_types` under these settings.
    pub fn topology(&self, aggregate_types: &[&str]) -> Topology {
        Topology::new(
            &self.topic_prefix,
            aggregate_types.iter().copied(),
            self.partitions,
        )
    }

    /// What a service does about missing topics at start-up: creates them (replication
    /// factor 1, for local and test brokers) with `TOPICS_AUTO_CREATE`, else only checks.
    pub fn preparation(&self) -> Preparation {
        if self.auto_create {
            Preparation::CreateMissing {
                replication_factor: 1,
            }
        } else {
            Preparation::Check
        }
    }
}

/// One topic the pipeline needs, with how to create it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Topic configuration entries (`cleanup.policy`, `retention.ms`, …).
    pub configs: Vec<(&'static str, &'static str)>,
    /// Whether the topic must have the pipeline's common partition count.
    pub co_partitioned: bool,
}

/// Names and shapes of every topic of one pipeline (one topic prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    aggregate_types: Vec<String>,
    partitions: i32,
}

/// Events are the system of record: never delete them by age or size.
const KEEP_FOREVER: (&str, &str) = ("retention.ms", "-1");
const NO_SIZE_LIMIT: (&str, &str) = ("retention.bytes", "-1");

/// The topic layout does not match what the pipeline needs.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TopologyError {
    /// Topics that must exist do not.
    #[error(
        "topics {missing:?} do not exist: create them (scripts/kafka.sh topics, the Strimzi KafkaTopic resources in deploy/, or TOPICS_AUTO_CREATE=true)"
    )]
    Missing {
        /// Names of the missing topics.
        missing: Vec<String>,
    },
    /// Commands and events topics differ in partition count.
    #[error(
        "commands and events topics must have the same partition count, or an aggregate's commands and events land on different partition numbers: {expected} expected, but {mismatches}; recreate those topics with {expected} partitions (or set TRIBUTARY_PARTITIONS to match the existing ones)"
    )]
    PartitionCountMismatch {
        /// The pipeline's partition count.
        expected: i32,
        /// `topic has N` for each mismatching topic.
        mismatches: String,
    },
}

impl Topology {
    /// The layout for `prefix` (e.g. `tributary`), the aggregate types of the domain, and the
    /// common partition count of commands and events.
    pub fn new(
        prefix: impl Into<String>,
        aggregate_types: impl IntoIterator<Item = impl Into<String>>,
        partitions: i32,
    ) -> Self {
        Self {
            prefix: prefix.into(),
            aggregate_types: aggregate_types.into_iter().map(Into::into).collect(),
            partitions,
        }
    }

    /// The common partition count of commands and events.
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// The aggregate types of the domain.
    pub fn aggregate_types(&self) -> &[String] {
        &self.aggregate_types
    }

    /// `<prefix>.commands`.
    pub fn commands(&self) -> String {
        format!("{}.commands", self.prefix)
    }

    /// `<prefix>.command-replies`.
    pub fn command_replies(&self) -> String {
        format!("{}.command-replies", self.prefix)
    }

    /// `<prefix>.markers`, compacted.
    pub fn markers(&self) -> String {
        format!("{}.markers", self.prefix)
    }

    /// `<prefix>.<aggregate>.events`.
    pub fn events(&self, aggregate_type: &str) -> String {
        format!("{}.{aggregate_type}.events", self.prefix)
    }

    /// `<prefix>.<aggregate>.events.dlq`.
    pub fn dead_letters(&self, aggregate_type: &str) -> String {
        format!("{}.dlq", self.events(aggregate_type))
    }

    /// Every topic with its partition count and configuration.
    pub fn topics(&self) -> Vec<TopicSpec> {
        let spec = |name: String, partitions, configs: Vec<_>, co_partitioned| TopicSpec {
            name,
            partitions,
            configs,
            co_partitioned,
        };
        let mut topics = vec![
            spec(
                self.commands(),
                self.partitions,
                vec![("retention.ms", "604800000")],
                true,
            ),
            spec(
                self.command_replies(),
                self.partitions,
                vec![("retention.ms", "86400000")],
                false,
            ),
            spec(
                self.markers(),
                1,
                vec![("cleanup.policy", "compact")],
                false,
            ),
        ];
        for aggregate_type in &self.aggregate_types {
            topics.push(spec(
                self.events(aggregate_type),
                self.partitions,
                vec![KEEP_FOREVER, NO_SIZE_LIMIT],
                true,
            ));
            topics.push(spec(
                self.dead_letters(aggregate_type),
                self.partitions,
                vec![KEEP_FOREVER, NO_SIZE_LIMIT],
                true,
            ));
        }
        topics
    }

    /// Checks observed partition counts (topic → count, as the broker's metadata reports them)
    /// against the layout: every topic exists and co-partitioned topics share the count.
    pub fn check_partition_counts(
        &self,
        observed: &BTreeMap<String, i32>,
    ) -> Result<(), TopologyError> {
        self.check_topics(observed, |_| true)
    }

    /// Like [`Topology::check_partition_counts`], for the topics `uses` selects (a service
    /// checks the topics it reads and writes).
    pub fn check_topics(
        &self,
        observed: &BTreeMap<String, i32>,
        uses: impl Fn(&TopicSpec) -> bool,
    ) -> Result<(), TopologyError> {
        let topics: Vec<TopicSpec> = self.topics().into_iter().filter(|t| uses(t)).collect();
        let missing: Vec<String> = topics
            .iter()
            .filter(|topic| !observed.contains_key(&topic.name))
            .map(|topic| topic.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(TopologyError::Missing { missing });
        }
        let mismatches: Vec<String> = topics
            .iter()
            .filter(|topic| topic.co_partitioned)
            .filter_map(|topic| {
                let count = observed.get(&topic.name).copied()?;
                (count != self.partitions).then(|| format!("{} has {count}", topic.name))
            })
            .collect();
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(TopologyError::PartitionCountMismatch {
                expected: self.partitions,
                mismatches: mismatches.join(", "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        Topology::new("t", ["counter", "user"], 8)
    }

    fn all_at(count: i32) -> BTreeMap<String, i32> {
        topology()
            .topics()
            .into_iter()
            .map(|t| {
                let partitions = if t.co_partitioned {
                    count
                } else {
                    t.partitions
                };
                (t.name, partitions)
            })
            .collect()
    }

    #[test]
    fn names_follow_the_prefix() {
        let t = topology();
        assert_eq!(t.commands(), "t.commands");
        assert_eq!(t.events("counter"), "t.counter.events");
        assert_eq!(t.dead_letters("counter"), "t.counter.events.dlq");
        assert_eq!(t.markers(), "t.markers");
        let markers = t
            .topics()
            .into_iter()
            .find(|s| s.name == "t.markers")
            .unwrap();
        assert_eq!(markers.configs, vec![("cleanup.policy", "compact")]);
    }

    #[test]
    fn matching_counts_pass() {
        assert_eq!(topology().check_partition_counts(&all_at(8)), Ok(()));
    }

    #[test]
    fn a_differing_events_topic_is_named() {
        let mut observed = all_at(8);
        observed.insert("t.user.events".to_owned(), 4);
        let error = topology().check_partition_counts(&observed).unwrap_err();
        assert_eq!(
            error,
            TopologyError::PartitionCountMismatch {
                expected: 8,
                mismatches: "t.user.events has 4".to_owned()
            }
        );
        assert!(
            error
                .to_string()
                .contains("recreate those topics with 8 partitions")
        );
    }

    #[test]
    fn missing_topics_are_named() {
        let mut observed = all_at(8);
        observed.remove("t.commands");
        let error = topology().check_partition_counts(&observed).unwrap_err();
        assert_eq!(
            error,
            TopologyError::Missing {
                missing: vec!["t.commands".to_owned()]
            }
        );
    }
}
