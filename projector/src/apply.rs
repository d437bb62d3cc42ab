//! Writing a planned batch to PostgreSQL: one transaction that moves the partition's offset by
//! compare-and-set and writes the aggregate states, the read tables and the newly parked
//! aggregates and the records sent to the dead-letter topic — all of it or nothing.
//!
//! The offset update comes first, so a stale worker is refused before it writes anything and
//! a new owner's claim waits for (and then sees) a batch that is committing. When the database
//! refuses the batch for its data (a constraint or data exception), [`find_faulty_event`]
//! replays it change by change, then event by event, inside savepoints of a transaction that
//! is rolled back, to name the one event at fault; the caller takes it out of the plan and
//! commits the rest.

use sqlx::postgres::PgPool;
use sqlx::{Acquire, PgConnection};
use tributary_domain::Aggregate;

use crate::plan::{AggregateChange, DeadLetter, FaultyEvent, Plan};
use crate::read_model::ReadModel;
use tributary_store::database::{FailureKind, classify};
use tributary_store::offsets::Claim;
use tributary_store::parked::NewDeadLetter;
use tributary_store::{offsets, parked};

/// Which partition a batch belongs to and how far it takes it.
#[derive(Debug, Clone)]
pub struct BatchTarget<'a> {
    /// Projection name.
    pub projection: &'a str,
    /// Aggregate type of the topic.
    pub aggregate_type: &'a str,
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// The worker's claim (epoch and the offset the batch starts from).
    pub claim: Claim,
    /// The offset after the batch's last record.
    pub next_offset: i64,
    /// The channel commits are announced on (see [`offsets::progress_channel`]).
    pub notify_channel: &'a str,
}

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The batch and the new offset are durable.
    Committed,
    /// Another worker claimed the partition: nothing was written.
    Fenced,
}

/// Commits `plan` for `target` in one transaction.
pub async fn commit<R: ReadModel>(
    pool: &PgPool,
    target: &BatchTarget<'_>,
    read_model: &R,
    plan: &Plan<R::Aggregate>,
) -> Result<CommitOutcome, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let advanced = offsets::advance(
        &mut transaction,
        target.projection,
        target.topic,
        target.partition,
        target.claim,
        target.next_offset,
    )
    .await?;
    if !advanced {
        transaction.rollback().await?;
        return Ok(CommitOutcome::Fenced);
    }
    write_changes(&mut transaction, target, read_model, &plan.changes).await?;
    parked::park(
        &mut transaction,
        target.projection,
        target.topic,
        target.partition,
        &plan.newly_parked,
    )
    .await?;
    let letters: Vec<NewDeadLetter<'_>> = plan.dead_letters.iter().map(DeadLetter::row).collect();
    parked::record_dead_letters(
        &mut transaction,
        target.projection,
        target.topic,
        target.partition,
        &letters,
    )
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(target.notify_channel)
        .bind(offsets::progress_payload(
            target.projection,
            target.topic,
            target.partition,
            target.next_offset,
        ))
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(CommitOutcome::Committed)
}

/// Writes aggregate states and read tables for `changes`.
async fn write_changes<R: ReadModel>(
    connection: &mut PgConnection,
    target: &BatchTarget<'_>,
    read_model: &R,
    changes: &[AggregateChange<R::Aggregate>],
) -> Result<(), sqlx::Error> {
    if changes.is_empty() {
        return Ok(());
    }
    write_aggregate_state(connection, target, changes).await?;
    read_model.write(connection, changes).await
}

/// Upserts the folded state of every changed aggregate.
async fn write_aggregate_state<A: Aggregate>(
    connection: &mut PgConnection,
    target: &BatchTarget<'_>,
    changes: &[AggregateChange<A>],
) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = changes.iter().map(|c| c.aggregate_id.as_str()).collect();
    let versions: Vec<i64> = changes
        .iter()
        .map(|c| c.after.versioned.version as i64)
        .collect();
    let states = changes
        .iter()
        .map(|c| serde_json::to_string(&c.after.versioned.state))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    let recent_commands = changes
        .iter()
        .map(|c| serde_json::to_string(&c.after.recent_commands))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    let steps_taken = changes
        .iter()
        .map(|c| serde_json::to_string(&c.after.steps_taken))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    let offsets: Vec<i64> = changes
        .iter()
        .map(|c| c.last_offset().unwrap_or(target.claim.next_offset))
        .collect();
    sqlx::query(
        "INSERT INTO aggregate_state (aggregate_type, aggregate_id, version, state,
                                      recent_commands, steps_taken, source_topic,
                                      source_partition, source_offset, updated_at)
         SELECT $1, id, version, state::json, recent::json, steps::json, $2, $3,
                source_offset, now()
         FROM UNNEST($4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[],
                     $9::bigint[])
              AS u(id, version, state, recent, steps, source_offset)
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET
             version = EXCLUDED.version, state = EXCLUDED.state,
             recent_commands = EXCLUDED.recent_commands, steps_taken = EXCLUDED.steps_taken,
             source_topic = EXCLUDED.source_topic, source_partition = EXCLUDED.source_partition,
             source_offset = EXCLUDED.source_offset, updated_at = EXCLUDED.updated_at",
    )
    .bind(target.aggregate_type)
    .bind(target.topic)
    .bind(target.partition)
    .bind(&ids)
    .bind(&versions)
    .bind(&states)
    .bind(&recent_commands)
    .bind(&steps_taken)
    .bind(&offsets)
    .execute(connection)
    .await?;
    Ok(())
}

/// Finds the first event of `plan` the database refuses for its data, by replaying the
/// changes one by one and then the refused change's events one prefix at a time, in
/// savepoints of a transaction that is always rolled back. Constraints are checked at each
/// statement rather than at commit, so deferred ones are caught too. `None` means every
/// change was accepted on its own.
pub async fn find_faulty_event<R: ReadModel>(
    pool: &PgPool,
    target: &BatchTarget<'_>,
    read_model: &R,
    plan: &Plan<R::Aggregate>,
    recent_commands: usize,
) -> Result<Option<FaultyEvent>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
        .execute(&mut *transaction)
        .await?;
    for (index, change) in plan.changes.iter().enumerate() {
        let refused = try_in_savepoint(&mut transaction, target, read_model, change).await?;
        let Some(_) = refused else { continue };
        for event in 0..change.events.len() {
            let prefix = AggregateChange::fold(
                change.aggregate_id.clone(),
                change.before.clone(),
                change.events[..=event].to_vec(),
                recent_commands,
            );
            let refused = try_in_savepoint(&mut transaction, target, read_model, &prefix).await?;
            if let Some((reason, error)) = refused {
                transaction.rollback().await?;
                return Ok(Some(FaultyEvent {
                    change: index,
                    event,
                    reason,
                    error,
                }));
            }
        }
    }
    transaction.rollback().await?;
    Ok(None)
}

/// Writes one change inside a savepoint that is then rolled back; returns the data error, if
/// the database refused it for its data. Any other error is returned as an error.
async fn try_in_savepoint<R: ReadModel>(
    connection: &mut PgConnection,
    target: &BatchTarget<'_>,
    read_model: &R,
    change: &AggregateChange<R::Aggregate>,
) -> Result<Option<(&'static str, String)>, sqlx::Error> {
    let mut savepoint = connection.begin().await?;
    let result = write_changes(
        &mut savepoint,
        target,
        read_model,
        std::slice::from_ref(change),
    )
    .await;
    savepoint.rollback().await?;
    match result {
        Ok(()) => Ok(None),
        Err(error) if classify(&error) == FailureKind::EventFault => {
            Ok(Some((data_fault_label(&error), error.to_string())))
        }
        Err(error) => Err(error),
    }
}

/// `constraint_violation` (SQLSTATE class 23) or `data_exception` (class 22).
pub fn data_fault_label(error: &sqlx::Error) -> &'static str {
    let code = error.as_database_error().and_then(|e| e.code());
    match code.as_deref().and_then(|c| c.get(..2)) {
        Some("23") => "constraint_violation",
        _ => "data_exception",
    }
}
