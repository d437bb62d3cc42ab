//! How far the projection has committed, as this process knows it, and the reads waiting for
//! it to get further.
//!
//! Every commit of the projector sends `pg_notify` on the schema's progress channel in its own
//! transaction, so a notification arrives exactly when a commit becomes visible. One listener
//! task per process turns those notifications into an in-memory map (topic, partition) → next
//! offset, held in a `watch` channel that waiting reads subscribe to: a read wakes when a
//! commit lands, never by polling. Notifications are lost while the listener is disconnected,
//! so every (re)connection subscribes first and then re-reads `projector_offsets`; anything
//! committed in between is in the table or in a notification that is still to come.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use thiserror::Error;
use tokio::sync::watch;
use tokio::time::Instant;
use tributary_runtime::Shutdown;

use super::error::{ApiError, NotYetConsistentBody, WriteNotAppliedBody};
use super::token::ConsistencyToken;
use crate::dead_letters::dead_letter_topic;
use tributary_store::{offsets, parked};

/// Committed next offsets of one projection, by (topic, partition).
type Committed = HashMap<(String, i32), i64>;

/// The first wait before subscribing again after the listener failed; doubled up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The progress listener could not be started.
#[derive(Debug, Error)]
pub enum ReadApiError {
    /// LISTEN on the progress channel failed.
    #[error(
        "cannot listen for commit notifications on PostgreSQL channel {channel}: {source}; check that the database is reachable"
    )]
    Listen {
        /// The channel.
        channel: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// Reading `projector_offsets` failed.
    #[error(
        "cannot read the committed offsets of projection {projection} from projector_offsets: {source}; check that the database is reachable and migrated"
    )]
    LoadOffsets {
        /// The projection.
        projection: String,
        /// What the driver said.
        source: sqlx::Error,
    },
}

/// The committed offsets of one projection as notified, and the reads waiting on them.
#[derive(Debug)]
pub(crate) struct Progress {
    projection: String,
    channel: String,
    committed: watch::Sender<Committed>,
}

impl Progress {
    /// Tracks `projection`, whose commits are announced on the progress channel of `schema`.
    pub(crate) fn new(projection: String, schema: &str) -> Self {
        Self {
            projection,
            channel: offsets::progress_channel(schema),
            committed: watch::Sender::new(Committed::new()),
        }
    }

    /// The projection tracked.
    pub(crate) fn projection(&self) -> &str {
        &self.projection
    }

    /// How many reads are waiting for the projection right now (each holds one subscription).
    pub(crate) fn waiting(&self) -> usize {
        self.committed.receiver_count()
    }

    /// Waits until the projection has committed past `token`, at most `bound`, and checks
    /// that it applied the token's event. A read first looks at what this process was told,
    /// then once at the table (the listener may not have heard of an older commit), then waits
    /// for notifications.
    pub(crate) async fn wait_past(
        &self,
        pool: &PgPool,
        token: &ConsistencyToken,
        bound: Duration,
    ) -> Result<(), ApiError> {
        self.wait_until_passed(pool, token, bound).await?;
        self.check_applied(pool, token).await
    }

    /// Waits until the projection has committed past `token`, at most `bound`.
    async fn wait_until_passed(
        &self,
        pool: &PgPool,
        token: &ConsistencyToken,
        bound: Duration,
    ) -> Result<(), ApiError> {
        let deadline = Instant::now() + bound;
        let mut committed = self.committed.subscribe();
        let key = (token.topic.clone(), token.partition);
        let passed = |map: &Committed| map.get(&key).is_some_and(|&n| token.is_passed_by(n));
        if passed(&committed.borrow()) {
            return Ok(());
        }
        let stored = self.stored(pool, token, deadline).await?;
        if stored.is_some_and(|n| token.is_passed_by(n)) {
            return Ok(());
        }
        let woken = tokio::time::timeout_at(deadline, committed.wait_for(passed)).await;
        // The sender lives in `self`, so `wait_for` only ends by passing or by the timeout.
        if woken.is_ok_and(|result| result.is_ok()) {
            return Ok(());
        }
        let notified = committed.borrow().get(&key).copied();
        let body = self.not_yet_consistent(token, notified.max(stored), bound);
        Err(ApiError::NotYetConsistent(Box::new(body)))
    }

    /// Once the projection has passed `token`: whether it applied the token's event or sent it
    /// to the dead-letter topic, in which case no read table holds the write. Both are
    /// committed in the same transaction, so once the offset is past the event the answer is
    /// final until an operator replays the dead letters.
    async fn check_applied(&self, pool: &PgPool, token: &ConsistencyToken) -> Result<(), ApiError> {
        let letter = parked::dead_lettered_at(
            pool,
            &self.projection,
            &token.topic,
            token.partition,
            token.offset,
        )
        .await?;
        match letter {
            None => Ok(()),
            Some(letter) => Err(ApiError::WriteNotApplied(Box::new(
                self.write_not_applied(token, letter),
            ))),
        }
    }

    /// The answer to a read whose token names a dead-lettered event.
    fn write_not_applied(
        &self,
        token: &ConsistencyToken,
        letter: parked::DeadLetteredRecord,
    ) -> WriteNotAppliedBody {
        let aggregate = match &letter.aggregate_id {
            Some(id) => format!("of aggregate {id} "),
            None => String::new(),
        };
        let error = format!(
            "projection {} did not apply the event {aggregate}at {token} ({}: {}); it is in {}, so the read tables do not hold this write and will not until an operator recovers the aggregate (see \"Handle the DLQ\" in docs/OPERATIONS.md); retrying the read does not help",
            self.projection,
            letter.reason,
            letter.error,
            dead_letter_topic(&token.topic),
        );
        WriteNotAppliedBody {
            error,
            projection: self.projection.clone(),
            topic: token.topic.clone(),
            partition: token.partition,
            offset: token.offset,
            aggregate_id: letter.aggregate_id,
            reason: letter.reason,
        }
    }

    /// The committed next offset of the token's partition in the table; `None` if it was
    /// never committed, or if the table did not answer before `deadline` (the read then times
    /// out with what the notifications said).
    async fn stored(
        &self,
        pool: &PgPool,
        token: &ConsistencyToken,
        deadline: Instant,
    ) -> Result<Option<i64>, sqlx::Error> {
        let holder = offsets::holder(pool, &self.projection, &token.topic, token.partition);
        match tokio::time::timeout_at(deadline, holder).await {
            Ok(holder) => Ok(holder?.map(|holder| holder.next_offset)),
            Err(_elapsed) => Ok(None),
        }
    }

    /// The answer to a read whose token was not passed within `waited`.
    fn not_yet_consistent(
        &self,
        token: &ConsistencyToken,
        committed_next_offset: Option<i64>,
        waited: Duration,
    ) -> NotYetConsistentBody {
        let (projection, wanted) = (&self.projection, token.offset);
        let partition = format!("{}:{}", token.topic, token.partition);
        let waited = waited.as_millis();
        let error = match committed_next_offset {
            Some(next) => format!(
                "projection {projection} has applied {partition} up to offset {} and not yet offset {wanted} after waiting {waited} ms; retry the request later",
                next - 1
            ),
            None => format!(
                "projection {projection} has not applied anything from {partition} yet, so not offset {wanted} after waiting {waited} ms; retry the request later, and check that the token's topic is one this projection reads"
            ),
        };
        NotYetConsistentBody {
            error,
            projection: projection.clone(),
            topic: token.topic.clone(),
            partition: token.partition,
            committed_next_offset,
            wanted_offset: wanted,
        }
    }

    /// Subscribes to the progress channel on a connection of its own, then loads the table:
    /// in this order, so that no commit falls between the two.
    pub(crate) async fn subscribe(&self, pool: &PgPool) -> Result<PgListener, ReadApiError> {
        let listen_error = |source| ReadApiError::Listen {
            channel: self.channel.clone(),
            source,
        };
        // A pool of its own, so the listener neither takes a connection from the reads nor
        // waits behind them; PgListener reconnects through it.
        let own_pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(pool.connect_options().as_ref().clone());
        let mut listener = PgListener::connect_with(&own_pool)
            .await
            .map_err(listen_error)?;
        listener.listen(&self.channel).await.map_err(listen_error)?;
        self.reload(pool)
            .await
            .map_err(|source| ReadApiError::LoadOffsets {
                projection: self.projection.clone(),
                source,
            })?;
        Ok(listener)
    }

    /// Follows the notifications of `listener` until `shutdown`, subscribing again whenever
    /// the connection fails.
    pub(crate) async fn run(&self, pool: PgPool, mut listener: PgListener, shutdown: Shutdown) {
        loop {
            let lost = tokio::select! {
                () = shutdown.requested() => return,
                lost = self.follow(&mut listener, &pool) => lost,
            };
            tracing::warn!(
                channel = %self.channel,
                error = %lost,
                "lost the commit notifications of the read API; subscribing again"
            );
            match self.resubscribe(&pool, &shutdown).await {
                Some(again) => listener = again,
                None => return,
            }
        }
    }

    /// Applies notifications until the listener fails; returns the failure.
    async fn follow(&self, listener: &mut PgListener, pool: &PgPool) -> sqlx::Error {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => self.apply(notification.payload()),
                // The connection dropped and PgListener has reconnected: what was committed
                // meanwhile was not notified, so it is read from the table.
                Ok(None) => {
                    if let Err(error) = self.reload(pool).await {
                        return error;
                    }
                }
                Err(error) => return error,
            }
        }
    }

    /// Subscribes on a new listener, retrying with backoff; `None` on shutdown or once the
    /// reads' pool has been closed.
    async fn resubscribe(&self, pool: &PgPool, shutdown: &Shutdown) -> Option<PgListener> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            if pool.is_closed() {
                return None;
            }
            match self.subscribe(pool).await {
                Ok(listener) => return Some(listener),
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "read API cannot follow commits")
                }
            }
            tokio::select! {
                () = shutdown.requested() => return None,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Replaces what is known with the table, which holds every commit made so far.
    async fn reload(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let committed = offsets::committed_offsets(pool, &self.projection).await?;
        self.committed.send_replace(committed);
        Ok(())
    }

    /// Records one notification if it is about this projection.
    fn apply(&self, payload: &str) {
        let Some((projection, topic, partition, next_offset)) =
            offsets::parse_progress_payload(payload)
        else {
            tracing::debug!(payload, "ignoring a malformed commit notification");
            return;
        };
        if projection == self.projection {
            self.record(topic, partition, next_offset);
        }
    }

    /// Raises the known offset of a partition; waiters are woken only when it moved.
    fn record(&self, topic: String, partition: i32, next_offset: i64) {
        self.committed.send_if_modified(|committed| {
            let known = committed.entry((topic, partition)).or_insert(i64::MIN);
            let raised = next_offset > *known;
            *known = (*known).max(next_offset);
            raised
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_of_other_projections_and_older_offsets_are_ignored() {
        let progress = Progress::new("shop".to_owned(), "s");
        let mut committed = progress.committed.subscribe();
        progress.apply(&offsets::progress_payload("shop", "t", 0, 10));
        progress.apply(&offsets::progress_payload("other", "t", 0, 99));
        progress.apply(&offsets::progress_payload("shop", "t", 0, 7));
        progress.apply("not a payload");
        assert_eq!(
            committed.borrow_and_update().get(&("t".to_owned(), 0)),
            Some(&10)
        );
    }

    #[test]
    fn the_timeout_answer_says_how_far_the_projection_got() {
        let progress = Progress::new("shop".to_owned(), "s");
        let token: ConsistencyToken = "t:2:57".parse().unwrap();
        let body = progress.not_yet_consistent(&token, Some(42), Duration::from_millis(300));
        assert_eq!(body.committed_next_offset, Some(42));
        assert_eq!(body.wanted_offset, 57);
        assert!(body.error.contains("up to offset 41"), "{}", body.error);
        assert!(body.error.contains("retry"), "{}", body.error);
        let never = progress.not_yet_consistent(&token, None, Duration::from_millis(300));
        assert!(never.error.contains("has not applied anything from t:2"));
    }
}
