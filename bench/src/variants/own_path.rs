//! The projector's own path without the broker: the library's batch loop — load the batch's
//! aggregates, plan (decode, version rule, fold), commit with the offset compare-and-set —
//! over records already fetched into memory.
//!
//! It is what `projector/src/worker.rs` does for each batch, with the worker's batch size and
//! one task per partition sharing a pool of the projector's default size, so the figure is the
//! projector's limit on this database. Left out are only the steps after a commit that do
//! not hold the batch up in the worker either (group offset commit, marker).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::postgres::PgPool;
use tributary_bank::email_claim::EmailClaim;
use tributary_bank::read_model::{AccountReadModel, TransferReadModel, UserReadModel};
use tributary_domain::Aggregate;
use tributary_projector::apply::{self, BatchTarget, CommitOutcome};
use tributary_projector::plan;
use tributary_projector::read_model::{NoReadTables, ReadModel};
use tributary_runtime::Topology;
use tributary_store::snapshot;

use super::BankType;
use crate::broker::Fetched;
use tributary_store::{offsets, parked};

/// The settings the projector's workers run with.
#[derive(Debug, Clone)]
pub struct OwnPathSettings {
    /// Projection name (keys the offsets).
    pub projection: String,
    /// The schema, for the commit notification channel.
    pub schema: String,
    /// Most records per batch (`PROJECTOR_BATCH_MAX_EVENTS`).
    pub batch_max_events: usize,
    /// Command IDs kept per aggregate (`TRIBUTARY_RECENT_COMMANDS`).
    pub recent_commands: usize,
}

/// Runs every partition's batches concurrently; returns the time until the last committed.
pub async fn run(
    pool: &PgPool,
    topology: &Topology,
    fetched: Arc<Fetched>,
    settings: Arc<OwnPathSettings>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (topic, partition) in fetched.keys() {
        let kind = BankType::of_topic(topology, topic)?;
        let key = (topic.clone(), *partition);
        let (pool, fetched, settings) = (pool.clone(), Arc::clone(&fetched), Arc::clone(&settings));
        tasks.push(tokio::spawn(async move {
            let partition = Partition {
                pool: &pool,
                settings: &settings,
                topic: &key.0,
                partition: key.1,
                records: &fetched[&key],
            };
            match kind {
                BankType::Account => partition.run(AccountReadModel).await,
                BankType::EmailClaim => partition.run(NoReadTables::<EmailClaim>::default()).await,
                BankType::User => partition.run(UserReadModel).await,
                BankType::Transfer => partition.run(TransferReadModel).await,
            }
        }));
    }
    for task in tasks {
        task.await.context("a partition task panicked")??;
    }
    Ok(started.elapsed())
}

/// One partition's records and where they go.
struct Partition<'a> {
    pool: &'a PgPool,
    settings: &'a OwnPathSettings,
    topic: &'a str,
    partition: i32,
    records: &'a [tributary_runtime::kafka::SourceRecord],
}

impl Partition<'_> {
    async fn run<R: ReadModel>(self, read_model: R) -> anyhow::Result<()> {
        let codec = tributary_bank::codec();
        let settings = self.settings;
        let aggregate_type = <R::Aggregate as Aggregate>::TYPE;
        let notify_channel = offsets::progress_channel(&settings.schema);
        let mut claim = offsets::claim(
            self.pool,
            &settings.projection,
            self.topic,
            self.partition,
            "bench-own-path",
        )
        .await?;
        let mut parked = parked::parked_in_partition(
            self.pool,
            &settings.projection,
            self.topic,
            self.partition,
        )
        .await?;
        for batch in self.records.chunks(settings.batch_max_events.max(1)) {
            let ids = plan::aggregate_ids(batch);
            let stored =
                snapshot::load_aggregates::<R::Aggregate>(self.pool, aggregate_type, &ids).await?;
            let plan = plan::plan(
                &codec,
                batch,
                &stored,
                &mut parked,
                settings.recent_commands,
            );
            let next_offset = batch.last().map_or(claim.next_offset, |r| r.offset + 1);
            let target = BatchTarget {
                projection: &settings.projection,
                aggregate_type,
                topic: self.topic,
                partition: self.partition,
                claim,
                next_offset,
                notify_channel: &notify_channel,
            };
            match apply::commit(self.pool, &target, &read_model, &plan).await? {
                CommitOutcome::Committed => claim.next_offset = next_offset,
                CommitOutcome::Fenced => {
                    bail!(
                        "{}/{} was claimed by someone else",
                        self.topic,
                        self.partition
                    )
                }
            }
        }
        Ok(())
    }
}
