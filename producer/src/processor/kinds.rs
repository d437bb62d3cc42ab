//! The aggregate types a processor handles, and how each one's book is loaded: the only place
//! the processor meets aggregate types, each learnt from the domain's
//! [`Domain::visit_aggregates`] as a type parameter and kept behind [`AggregateKind`].

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use sqlx::postgres::PgPool;
use tributary_domain::{Aggregate, AggregateVisitor, Domain};
use tributary_store::snapshot::{self, LoadError, PartitionSnapshot};

use super::book::{AggregateBook, Book};

/// What a book is loaded from: the projector's tables, and the partition to load.
#[derive(Debug, Clone, Copy)]
pub struct BookSource<'a> {
    /// PostgreSQL pool on the projector's schema.
    pub pool: &'a PgPool,
    /// The projection whose snapshot and offsets are read.
    pub projection: &'a str,
    /// The events topic of the aggregate type.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// Commands remembered per aggregate for de-duplication.
    pub recent_commands: usize,
}

/// A book loaded from the snapshot, with where the log must be read from to complete it.
pub struct LoadedBook {
    /// The book, as of the snapshot.
    pub book: Box<dyn Book>,
    /// The snapshot's offset: the state of every aggregate that is not parked is as of here.
    pub snapshot_offset: i64,
    /// The offset to follow the log from: `snapshot_offset`, or earlier when parked
    /// aggregates' events must be re-read.
    pub replay_from: i64,
}

/// One aggregate type of the domain.
pub trait AggregateKind: Send + Sync {
    /// The aggregate type.
    fn aggregate_type(&self) -> &'static str;

    /// A book of `topic` with no aggregates (for reading a partition from its start).
    fn empty(&self, topic: &str, recent_commands: usize) -> Box<dyn Book>;

    /// Loads the partition's book from the snapshot.
    fn load<'a>(
        &'a self,
        source: BookSource<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<LoadedBook, LoadError>> + Send + 'a>>;
}

/// The kind of aggregate `A`.
pub struct Kind<A>(PhantomData<fn() -> A>);

impl<A> Default for Kind<A> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<A: Aggregate> AggregateKind for Kind<A> {
    fn aggregate_type(&self) -> &'static str {
        A::TYPE
    }

    fn empty(&self, topic: &str, recent_commands: usize) -> Box<dyn Book> {
        Box::new(AggregateBook::<A>::new(
            topic,
            PartitionSnapshot::empty(),
            recent_commands,
        ))
    }

    fn load<'a>(
        &'a self,
        source: BookSource<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<LoadedBook, LoadError>> + Send + 'a>> {
        Box::pin(async move {
            let snapshot = snapshot::load_partition::<A>(
                source.pool,
                source.projection,
                A::TYPE,
                source.topic,
                source.partition,
            )
            .await?;
            let snapshot_offset = snapshot.next_offset;
            let replay_from = snapshot.replay_from();
            let book = AggregateBook::new(source.topic, snapshot, source.recent_commands);
            Ok(LoadedBook {
                book: Box::new(book),
                snapshot_offset,
                replay_from,
            })
        })
    }
}

/// The kinds of every aggregate type of `domain`, in its order.
pub fn kinds_of<D: Domain>(domain: &D) -> Vec<Box<dyn AggregateKind>> {
    struct Kinds(Vec<Box<dyn AggregateKind>>);
    impl AggregateVisitor for Kinds {
        fn visit<A: Aggregate>(&mut self) {
            self.0.push(Box::new(Kind::<A>::default()));
        }
    }
    let mut kinds = Kinds(Vec::new());
    domain.visit_aggregates(&mut kinds);
    kinds.0
}
