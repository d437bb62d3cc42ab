//! What the in-process processor tests share: a command side on a test pipeline's topics and
//! schema, and commands handed to a partition processor as the commands topic would deliver
//! them.

use std::sync::Arc;

use tributary_bank::records::account::AccountCommand;
use tributary_domain::Domain;
use tributary_producer::context::CommandSide;
use tributary_producer::processor::kinds::kinds_of;
use tributary_producer::processor::partition::{Handled, PartitionProcessor};
use tributary_runtime::kafka::SourceRecord;
use tributary_runtime::partition_for_key;
use tributary_schemas::RecordSet;
use tributary_schemas::protocol::CommandEnvelope;
use tributary_tests::pipeline::TestPipeline;
use tributary_tests::{database_url, kafka, producer, unique_name};

/// A command side of projection `bank` on `pipeline`, its schema migrated.
pub async fn command_side(pipeline: &TestPipeline) -> Arc<CommandSide> {
    let pool =
        tributary_store::database::connect(&database_url(), &pipeline.schema, "processor-test", 4)
            .await
            .expect("connect to PostgreSQL");
    tributary_store::database::migrate_engine(&pool, &pipeline.schema)
        .await
        .expect("migrate the test schema");
    Arc::new(CommandSide {
        kafka: kafka(),
        topology: pipeline.topology.clone(),
        pool,
        projection: "bank".to_owned(),
        kinds: kinds_of(&tributary_bank::Bank),
        codec: tributary_bank::Bank.codec(),
        producer: producer(&[]),
        recent_commands: 32,
        instance_id: unique_name("processor"),
        metrics: tributary_producer::metrics::ProducerMetrics::new(prometheus::Registry::new()),
    })
}

/// The commands record of `command` for `account`, on the partition its key places it on
/// among `partitions`.
pub fn account_command(
    account: &str,
    command_id: &str,
    command: impl Into<AccountCommand>,
    partitions: i32,
) -> SourceRecord {
    let command: AccountCommand = command.into();
    command_record("account", account, command_id, &command, partitions)
}

/// The commands record of `command` for aggregate `aggregate_id` of `aggregate_type`, on the
/// partition its key places it on among `partitions`.
pub fn command_record(
    aggregate_type: &str,
    aggregate_id: &str,
    command_id: &str,
    command: &impl RecordSet,
    partitions: i32,
) -> SourceRecord {
    let codec = tributary_bank::codec();
    let envelope = CommandEnvelope {
        command_id: command_id.to_owned(),
        correlation_id: command_id.to_owned(),
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        issued_at: 1,
        reply_to: None,
        deadline: None,
        command: command.encode(&codec).expect("the command encodes"),
    };
    SourceRecord {
        topic: "commands".to_owned(),
        partition: partition_for_key(aggregate_id.as_bytes(), partitions),
        offset: 0,
        key: Some(aggregate_id.as_bytes().to_vec()),
        value: Some(codec.encode(&envelope).expect("the envelope encodes")),
        headers: Vec::new(),
        timestamp_ms: None,
    }
}

/// Handles `record` and returns its answer.
pub async fn handle(processor: &mut PartitionProcessor, record: &SourceRecord) -> Handled {
    processor
        .handle(record)
        .await
        .expect("the partition handles the command")
        .expect("a command envelope")
}
