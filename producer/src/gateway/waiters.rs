//! The requests waiting for their command's reply, by aggregate and command ID.
//!
//! A command ID is only unique within its aggregate: two clients may use the same ID for
//! commands to different aggregates, and each must get its own aggregate's outcome, so a
//! reply is matched on the aggregate it names as well as on its command ID.
//!
//! A request registers *before* its command is produced, so a reply can never arrive ahead
//! of its waiter. Registration returns a [`Waiter`] guard that takes itself out of the map
//! when it is dropped — after the answer, on a timeout, on a broker error, or when the client
//! goes away and axum drops the handler — so the map holds exactly the requests still waiting.
//!
//! Two requests may wait for the same command of the same aggregate (a client retrying while
//! its first attempt still waits); a reply goes to all of them, since a repeated command has
//! one outcome. Commands that stopped waiting are remembered for a while, so that a reply nobody waits
//! for can be told apart — a duplicate, a late one, or one this process never asked for — for
//! the metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;
use tokio::time::Instant;
use tributary_schemas::protocol::CommandReply;

use super::metrics::ReplyResult;

/// What a reply is matched on: the aggregate and the command ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ReplyKey {
    aggregate_type: String,
    aggregate_id: String,
    command_id: String,
}

impl ReplyKey {
    /// The key of the command `command_id` for aggregate `aggregate_type`/`aggregate_id`.
    pub(super) fn new(aggregate_type: &str, aggregate_id: &str, command_id: &str) -> Self {
        Self {
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            command_id: command_id.to_owned(),
        }
    }

    fn of(reply: &CommandReply) -> Self {
        Self::new(
            &reply.aggregate_type,
            &reply.aggregate_id,
            &reply.command_id,
        )
    }
}

/// How many finished commands are remembered to classify replies nobody waits for.
const REMEMBERED: usize = 10_000;

/// The waiting requests of one gateway.
#[derive(Debug, Default)]
pub(super) struct Waiters {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_ticket: u64,
    waiting: HashMap<ReplyKey, Vec<(u64, oneshot::Sender<CommandReply>)>>,
    finished: HashMap<ReplyKey, Finished>,
    finished_order: VecDeque<ReplyKey>,
}

/// How a command stopped being waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finished {
    /// Its reply was delivered.
    Answered,
    /// Every request waiting for it gave up before a reply came.
    GaveUp,
}

/// One request's registration; dropping it withdraws it.
#[derive(Debug)]
pub(super) struct Waiter {
    waiters: Arc<Waiters>,
    key: ReplyKey,
    ticket: u64,
    reply: oneshot::Receiver<CommandReply>,
}

impl Waiters {
    /// Registers a request waiting for the reply to the command `key` names.
    pub(super) fn register(self: &Arc<Self>, key: ReplyKey) -> Waiter {
        let (sender, reply) = oneshot::channel();
        let mut state = self.lock();
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        state
            .waiting
            .entry(key.clone())
            .or_default()
            .push((ticket, sender));
        Waiter {
            waiters: Arc::clone(self),
            key,
            ticket,
            reply,
        }
    }

    /// Hands `reply` to every request waiting for its command, and says what became of it.
    pub(super) fn deliver(&self, reply: CommandReply) -> ReplyResult {
        let key = ReplyKey::of(&reply);
        let mut state = self.lock();
        let Some(senders) = state.waiting.remove(&key) else {
            return match state.finished.get(&key) {
                Some(Finished::Answered) => ReplyResult::Duplicate,
                Some(Finished::GaveUp) => {
                    state.remember(key, Finished::Answered);
                    ReplyResult::Late
                }
                None => ReplyResult::Unknown,
            };
        };
        state.remember(key, Finished::Answered);
        for (_, sender) in senders {
            // The receiver lives in a `Waiter`, which takes its sender out of the map (under
            // this lock) before it goes away; a send can only fail if the receiver was dropped
            // without its guard, and then nobody is left to tell.
            let _ = sender.send(reply.clone());
        }
        ReplyResult::Delivered
    }

    /// How many requests are waiting.
    pub(super) fn waiting(&self) -> usize {
        self.lock().waiting.values().map(Vec::len).sum()
    }

    fn withdraw(&self, key: &ReplyKey, ticket: u64) {
        let mut state = self.lock();
        let Some(senders) = state.waiting.get_mut(key) else {
            // Already answered: `deliver` took the senders out.
            return;
        };
        senders.retain(|(t, _)| *t != ticket);
        if senders.is_empty() {
            state.waiting.remove(key);
            state.remember(key.clone(), Finished::GaveUp);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked while holding it; every update
        // of the state is a single map operation that leaves it consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn remember(&mut self, key: ReplyKey, finished: Finished) {
        if self.finished.insert(key.clone(), finished).is_none() {
            self.finished_order.push_back(key);
        }
        while self.finished_order.len() > REMEMBERED {
            if let Some(oldest) = self.finished_order.pop_front() {
                self.finished.remove(&oldest);
            }
        }
    }
}

impl Waiter {
    /// The reply, or `None` if none arrived by `deadline`.
    pub(super) async fn reply_by(&mut self, deadline: Instant) -> Option<CommandReply> {
        match tokio::time::timeout_at(deadline, &mut self.reply).await {
            Ok(Ok(reply)) => Some(reply),
            // The sender is only dropped after sending or when the gateway is gone.
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.waiters.withdraw(&self.key, self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tributary_schemas::protocol::CommandOutcome;

    use super::*;

    fn reply(command_id: &str) -> CommandReply {
        CommandReply {
            command_id: command_id.to_owned(),
            aggregate_type: "counter".to_owned(),
            aggregate_id: "c-1".to_owned(),
            outcome: CommandOutcome::Accepted,
            reason: None,
            reused_for: None,
            event: None,
            version: 1,
            replied_at: 0,
        }
    }

    fn key(command_id: &str) -> ReplyKey {
        ReplyKey::new("counter", "c-1", command_id)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_reply_reaches_every_request_waiting_for_its_command_and_only_those() {
        let waiters = Arc::new(Waiters::default());
        let mut first = waiters.register(key("c-1"));
        let mut retry = waiters.register(key("c-1"));
        let mut other = waiters.register(key("c-2"));
        assert_eq!(waiters.waiting(), 3);
        assert_eq!(waiters.deliver(reply("c-1")), ReplyResult::Delivered);
        assert_eq!(first.reply_by(soon()).await, Some(reply("c-1")));
        assert_eq!(retry.reply_by(soon()).await, Some(reply("c-1")));
        let now = Instant::now();
        assert_eq!(other.reply_by(now).await, None);
        assert_eq!(waiters.waiting(), 1);
        drop((first, retry, other));
        assert_eq!(waiters.waiting(), 0);
    }

    #[tokio::test]
    async fn a_reply_reaches_only_the_requests_for_its_aggregate() {
        let waiters = Arc::new(Waiters::default());
        let mut mine = waiters.register(key("c-1"));
        let mut theirs = waiters.register(ReplyKey::new("counter", "c-2", "c-1"));
        assert_eq!(waiters.deliver(reply("c-1")), ReplyResult::Delivered);
        assert_eq!(mine.reply_by(soon()).await, Some(reply("c-1")));
        assert_eq!(theirs.reply_by(Instant::now()).await, None);
        assert_eq!(waiters.waiting(), 1);
    }

    #[tokio::test]
    async fn replies_nobody_waits_for_are_told_apart() {
        let waiters = Arc::new(Waiters::default());
        let answered = waiters.register(key("answered"));
        assert_eq!(waiters.deliver(reply("answered")), ReplyResult::Delivered);
        drop(answered);
        assert_eq!(waiters.deliver(reply("answered")), ReplyResult::Duplicate);

        let mut gave_up = waiters.register(key("gave-up"));
        assert_eq!(gave_up.reply_by(Instant::now()).await, None);
        drop(gave_up);
        assert_eq!(waiters.waiting(), 0);
        assert_eq!(waiters.deliver(reply("gave-up")), ReplyResult::Late);
        assert_eq!(waiters.deliver(reply("gave-up")), ReplyResult::Duplicate);

        assert_eq!(waiters.deliver(reply("never")), ReplyResult::Unknown);
    }

    #[test]
    fn one_request_giving_up_leaves_the_others_waiting() {
        let waiters = Arc::new(Waiters::default());
        let first = waiters.register(key("c-1"));
        let retry = waiters.register(key("c-1"));
        drop(first);
        assert_eq!(waiters.waiting(), 1);
        assert_eq!(waiters.deliver(reply("c-1")), ReplyResult::Delivered);
        drop(retry);
    }

    #[test]
    fn finished_commands_are_forgotten_beyond_the_bound() {
        let waiters = Arc::new(Waiters::default());
        for n in 0..=REMEMBERED {
            drop(waiters.register(key(&format!("c-{n}"))));
        }
        assert_eq!(waiters.deliver(reply("c-0")), ReplyResult::Unknown);
        assert_eq!(
            waiters.deliver(reply(&format!("c-{REMEMBERED}"))),
            ReplyResult::Late
        );
    }
}
