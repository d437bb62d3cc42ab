//! A projection: a named set of source topics, each feeding one read model. The engine is
//! generic over the read model; this is where the generic worker is tied to a topic, so the
//! consumer can start the right worker for any assigned partition.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tributary_bank::email_claim::EmailClaim;
use tributary_domain::Aggregate;
use tributary_runtime::Topology;

use crate::bank::{AccountReadModel, TransferReadModel, UserReadModel};
use crate::read_model::{NoReadTables, ReadModel};
use crate::worker::{Shared, Worker, WorkerSetup};

/// One source topic of a projection: knows its name and starts its workers.
pub trait SourceTopic: Send + Sync + 'static {
    /// The topic name.
    fn topic(&self) -> &str;

    /// The aggregate type whose events the topic carries.
    fn aggregate_type(&self) -> &'static str;

    /// Starts the worker of one assigned partition on `runtime`.
    fn spawn_worker(
        &self,
        runtime: &Handle,
        shared: Arc<Shared>,
        setup: WorkerSetup,
    ) -> JoinHandle<()>;
}

/// A topic whose events feed read model `R`.
pub struct ReadModelTopic<R> {
    topic: String,
    read_model: Arc<R>,
}

impl<R: ReadModel> ReadModelTopic<R> {
    /// The events topic of `R`'s aggregate type in `topology`.
    pub fn new(topology: &Topology, read_model: R) -> Self {
        Self {
            topic: topology.events(<R::Aggregate as Aggregate>::TYPE),
            read_model: Arc::new(read_model),
        }
    }
}

impl<R: ReadModel> SourceTopic for ReadModelTopic<R> {
    fn topic(&self) -> &str {
        &self.topic
    }

    fn aggregate_type(&self) -> &'static str {
        <R::Aggregate as Aggregate>::TYPE
    }

    fn spawn_worker(
        &self,
        runtime: &Handle,
        shared: Arc<Shared>,
        setup: WorkerSetup,
    ) -> JoinHandle<()> {
        let worker = Worker::new(shared, Arc::clone(&self.read_model), setup);
        runtime.spawn(worker.run())
    }
}

/// The reference bank projection: accounts with their ledger, users, transfers, and e-mail
/// claims (kept in the aggregate-state table only).
pub fn bank_topics(topology: &Topology) -> Vec<Arc<dyn SourceTopic>> {
    vec![
        Arc::new(ReadModelTopic::new(topology, AccountReadModel)),
        Arc::new(ReadModelTopic::new(
            topology,
            NoReadTables::<EmailClaim>::default(),
        )),
        Arc::new(ReadModelTopic::new(topology, UserReadModel)),
        Arc::new(ReadModelTopic::new(topology, TransferReadModel)),
    ]
}
