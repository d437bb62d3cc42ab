//! The saga runner: a consumer group on the events topics that turns each step of a saga into
//! the next command.
//!
//! Only valid events cause commands: each owned events partition is followed with a book
//! under the version rule (rebuilt on assignment from the projector's snapshot when the
//! snapshot is not ahead of the runner, else from the partition's start), so a zombie's void
//! record never causes a saga step.
//!
//! Every command carries its cause (`cause` header: this event's partition and offset, and
//! which step of the reaction it is), and the steps of one partition are sent in its order,
//! each acknowledged before the next. An event handled again — after a crash before its offset
//! was committed, a rebalance, or lost consumer offsets that replay the whole partition — so
//! sends commands whose causes the target aggregates have taken steps for already, and the
//! processor recognises them as repeats however many events ago the first ones were decided
//! (see `StepsTaken`). Handling history again therefore never causes a new effect.
//!
//! A record that a newer build reads (its schema is unknown to this one, during a rolling
//! upgrade or after a rollback) is not passed: from it on the runner takes no step for the
//! partition and commits no offset beyond it. Steps must reach their targets in the order of
//! their causes, so a later record's step taken now would make the held record's step look
//! like a repeat once a build that reads it handles it. After a restart with such a build the
//! record and everything after it are handled in order. A record no build reads (no value,
//! garbage, bad headers) blocks only its own aggregate, which takes no step.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use tributary_domain::{Domain, DomainRecord, Saga};
use tributary_runtime::clock::unix_millis;
use tributary_runtime::kafka::SourceRecord;
use tributary_runtime::partition_for_key;
use tributary_schemas::headers::{Cause, CommandHeaders, EventHeaders};
use tributary_schemas::protocol::CommandEnvelope;

use crate::context::CommandSide;
use crate::partitioned::{HandlerFactory, PartitionHandler};
use crate::processor::book::{Book, Folded};
use crate::processor::kinds::BookSource;
use crate::processor::log_tail::LogTail;

/// Starts a [`SagaPartition`] of the domain `D`'s saga for each owned events partition.
pub struct SagaFactory<D> {
    /// The clients and settings of the command side.
    pub shared: Arc<CommandSide>,
    /// The domain whose saga runs.
    pub domain: Arc<D>,
}

impl<D: Domain> HandlerFactory for SagaFactory<D> {
    type Handler = SagaPartition<D>;

    async fn start(
        &self,
        topic: &str,
        partition: i32,
        next_offset: i64,
    ) -> anyhow::Result<SagaPartition<D>> {
        let shared = Arc::clone(&self.shared);
        let domain = Arc::clone(&self.domain);
        SagaPartition::start(shared, domain, topic, partition, next_offset).await
    }
}

/// One owned events partition.
pub struct SagaPartition<D> {
    shared: Arc<CommandSide>,
    domain: Arc<D>,
    aggregate_type: &'static str,
    book: Box<dyn Book>,
}

impl<D: Domain> SagaPartition<D> {
    /// Rebuilds the versions of `partition` of `topic` as of `next_offset`, the runner's
    /// position.
    async fn start(
        shared: Arc<CommandSide>,
        domain: Arc<D>,
        topic: &str,
        partition: i32,
        next_offset: i64,
    ) -> anyhow::Result<Self> {
        let kind = shared
            .kinds
            .iter()
            .find(|kind| shared.topology.events(kind.aggregate_type()) == topic)
            .with_context(|| format!("{topic} is not an events topic of the domain"))?;
        let source = BookSource {
            pool: &shared.pool,
            projection: &shared.projection,
            topic,
            partition,
            recent_commands: 1,
        };
        let loaded = kind.load(source).await?;
        let (book, start) = if loaded.snapshot_offset <= next_offset {
            (loaded.book, loaded.replay_from)
        } else {
            (kind.empty(topic, 1), 0)
        };
        let mut books = HashMap::from([(topic.to_owned(), book)]);
        if next_offset > start {
            let group = format!(
                "{}.saga-tail.{}",
                shared.topology.commands(),
                shared.instance_id
            );
            let mut tail = LogTail::new(
                &shared.kafka,
                &group,
                partition,
                &HashMap::from([(topic.to_owned(), start)]),
            )?;
            tail.read_through(&mut books, &shared.codec, topic, next_offset - 1)
                .await?;
        }
        let book = books.remove(topic).context("the book of the partition")?;
        shared.metrics.rebuilt("saga");
        tracing::info!(
            topic,
            partition,
            next_offset,
            from = start,
            "saga partition rebuilt"
        );
        Ok(Self {
            aggregate_type: kind.aggregate_type(),
            shared,
            domain,
            book,
        })
    }

    /// The commands a valid event causes, sent and acknowledged.
    async fn react(&self, record: &SourceRecord) -> anyhow::Result<()> {
        let (Some(id), Some(value)) = (record.aggregate_id(), record.value.as_deref()) else {
            return Ok(());
        };
        let headers = EventHeaders::parse(record.header_pairs())?;
        let Some(event) = D::Event::decode(self.aggregate_type, &self.shared.codec, value) else {
            return Ok(());
        };
        let steps = self
            .domain
            .saga()
            .react(id, headers.aggregate_version, &event?);
        for (index, step) in (0u32..).zip(steps) {
            let cause = Cause {
                topic: record.topic.clone(),
                partition: record.partition,
                offset: record.offset,
                step: index,
            };
            self.send(
                &headers,
                cause,
                &step.aggregate_id,
                &step.command_id.to_string(),
                &step.command,
            )
            .await?;
        }
        Ok(())
    }

    /// Sends one step and waits until the broker has it, so the steps of the partition reach
    /// each aggregate in the order of their causes.
    async fn send(
        &self,
        event: &EventHeaders,
        cause: Cause,
        aggregate_id: &str,
        command_id: &str,
        command: &D::Command,
    ) -> anyhow::Result<()> {
        let codec = &self.shared.codec;
        let envelope = CommandEnvelope {
            command_id: command_id.to_owned(),
            correlation_id: event.correlation_id.clone(),
            aggregate_type: command.aggregate_type().to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            issued_at: unix_millis(),
            reply_to: None,
            deadline: None,
            command: command.encode(codec)?,
        };
        let value = codec.encode(&envelope)?;
        let headers = CommandHeaders {
            command_id: command_id.to_owned(),
            reply_to: None,
            deadline: None,
            cause: Some(cause),
        };
        let pairs = headers.to_pairs();
        let kafka_headers = pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v),
            })
        });
        let topic = self.shared.topology.commands();
        let partition =
            partition_for_key(aggregate_id.as_bytes(), self.shared.topology.partitions());
        let record = FutureRecord::to(&topic)
            .partition(partition)
            .key(aggregate_id)
            .payload(&value)
            .headers(kafka_headers);
        self.shared
            .producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(error, _)| error)
            .context("cannot send a saga command")?;
        self.shared
            .metrics
            .saga_command_sent(command.aggregate_type());
        Ok(())
    }
}

impl<D: Domain> SagaPartition<D> {
    /// Folds one record of the events partition and, when it is a valid event, sends the
    /// commands the saga reacts with.
    async fn handle(&mut self, record: &SourceRecord) -> anyhow::Result<()> {
        match self.book.fold(&self.shared.codec, record) {
            Folded::Valid if self.book.held_at().is_some() => Ok(()),
            Folded::Valid => self.react(record).await,
            Folded::Void | Folded::InSnapshot => Ok(()),
            Folded::Blocked {
                aggregate_id,
                blocked,
                newly,
            } => {
                if newly && blocked.awaits_newer_build {
                    blocked.warn(
                        record,
                        &aggregate_id,
                        "no saga step is taken for this partition from here on",
                    );
                } else if newly {
                    blocked.warn(record, &aggregate_id, "no saga step is taken for it");
                }
                Ok(())
            }
            Folded::Unreadable(reason) => {
                tracing::warn!(
                    topic = record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    reason,
                    "unreadable event: no saga step taken; the projector dead-letters it"
                );
                Ok(())
            }
        }
    }
}

impl<D: Domain> PartitionHandler for SagaPartition<D> {
    async fn handle_batch(&mut self, records: &[SourceRecord]) -> anyhow::Result<()> {
        for record in records {
            self.handle(record).await?;
        }
        Ok(())
    }

    fn reread_from(&self) -> Option<i64> {
        self.book.held_at()
    }
}
