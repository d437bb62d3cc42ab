//! A projection: a named set of source topics, each feeding one read model, with the read
//! model's migrations and routes. The engine is generic over the [`Projection`]; a
//! [`SourceTopic`] is where the generic worker is tied to a topic, so the consumer can start
//! the right worker for any assigned partition.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tributary_domain::{Aggregate, Domain};
use tributary_runtime::Topology;
use tributary_store::migrations::MigrationSet;

use crate::read_api::ReadRoutes;
use crate::read_model::ReadModel;
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

/// A projection a team writes: which topics feed which read models, the read models' own
/// migrations, and the routes that read them. `tributary_projector::run(config, projection)`
/// runs it; the bank's is `tributary_bank::read_model::BankProjection`.
pub trait Projection: Send + Sync + 'static {
    /// The domain whose events the projection reads.
    type Domain: Domain;

    /// The domain: its schemas decode the events, its aggregate types name the topics.
    fn domain(&self) -> &Self::Domain;

    /// One source per events topic read, each feeding one read model.
    fn sources(&self, topology: &Topology) -> Vec<Arc<dyn SourceTopic>>;

    /// The read tables' migrations, with a history table of their own; `None` for a
    /// projection that keeps aggregates in the engine's aggregate-state table only.
    fn migrations(&self) -> Option<MigrationSet>;

    /// The routes that read the tables, and their OpenAPI description.
    fn read_routes(&self) -> ReadRoutes;
}
