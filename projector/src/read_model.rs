//! The one trait a domain implements per aggregate type to get read tables: write a batch's
//! changes with a few set-based statements.
//!
//! The engine hands a read model the folded changes of a batch — per aggregate, its state
//! before, the events applied in order and its state after — inside the batch's transaction,
//! after the offset compare-and-set succeeded. A read model writes them with one statement per
//! table (`INSERT … SELECT FROM UNNEST(…)`), never one per event. The aggregate-state table is
//! written by the engine for every aggregate type.

use std::future::Future;

use serde::Serialize;
use sqlx::PgConnection;
use tributary_domain::Aggregate;

use crate::plan::AggregateChange;

/// Read tables of one aggregate type.
pub trait ReadModel: Send + Sync + 'static {
    /// The aggregate whose events feed the tables.
    type Aggregate: Aggregate;

    /// Writes the changes of one batch (at most one per aggregate).
    fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a [AggregateChange<Self::Aggregate>],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;
}

/// A read model with no tables: the aggregate is kept only in the aggregate-state table.
#[derive(Debug)]
pub struct NoReadTables<A>(std::marker::PhantomData<fn() -> A>);

impl<A> Default for NoReadTables<A> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<A: Aggregate> ReadModel for NoReadTables<A> {
    type Aggregate = A;

    async fn write<'a>(
        &'a self,
        _connection: &'a mut PgConnection,
        _changes: &'a [AggregateChange<A>],
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

/// The serde name of a unit enum value (`AccountStatus::NotOpened` → `not_opened`): the
/// label status columns store, identical to the JSON snapshot's.
pub fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(error) => format!("unlabelled ({error})"),
    }
}

/// The instant of the last event of a change, milliseconds since the Unix epoch.
pub fn changed_at<A: Aggregate>(change: &AggregateChange<A>) -> i64 {
    change
        .events
        .last()
        .map(|e| e.headers.occurred_at)
        .unwrap_or_default()
}
