//! What the processor and the saga runner of one process share: clients, the topic layout,
//! the snapshot database and the domain's aggregate types. Both rebuild books from the same
//! snapshot and write to the same topics, so one value serves both roles.

use rdkafka::producer::FutureProducer;
use sqlx::postgres::PgPool;
use tributary_runtime::Topology;
use tributary_runtime::kafka::KafkaSettings;
use tributary_schemas::Codec;

use crate::metrics::ProducerMetrics;
use crate::processor::kinds::AggregateKind;

/// The clients and settings every partition task of the command side uses.
pub struct CommandSide {
    /// Kafka client settings.
    pub kafka: KafkaSettings,
    /// The topic layout.
    pub topology: Topology,
    /// PostgreSQL pool on the projector's schema (snapshots).
    pub pool: PgPool,
    /// Projection whose snapshot the books start from.
    pub projection: String,
    /// The domain's aggregate types.
    pub kinds: Vec<Box<dyn AggregateKind>>,
    /// Codec of values.
    pub codec: Codec,
    /// Producer of events, replies and saga commands.
    pub producer: FutureProducer,
    /// Commands the processor's books remember per aggregate, to answer repeats.
    pub recent_commands: usize,
    /// This process, for the tail consumers' group IDs.
    pub instance_id: String,
    /// Metrics.
    pub metrics: ProducerMetrics,
}

impl CommandSide {
    /// The events topics of the domain's aggregate types (what the saga runner follows).
    pub fn event_topics(&self) -> Vec<String> {
        self.kinds
            .iter()
            .map(|kind| self.topology.events(kind.aggregate_type()))
            .collect()
    }
}
