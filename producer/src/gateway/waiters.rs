//! The requests waiting for their command's reply, by command ID.
//!
//! A request registers *before* its command is produced, so a reply can never arrive ahead
//! of its waiter. Registration returns a [`Waiter`] guard that takes itself out of the map
//! when it is dropped — after the answer, on a timeout, on a broker error, or when the client
//! goes away and axum drops the handler — so the map holds exactly the requests still waiting.
//!
//! Two requests may wait for the same command ID (a client retrying while its first attempt
//! still waits); a reply goes to all of them, since a repeated command ID has one outcome.
//! Command IDs that stopped waiting are remembered for a while, so that a reply nobody waits
//! for can be told apart — a duplicate, a late one, or one this process never asked for — for
//! the metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;
use tokio::time::Instant;
use tributary_schemas::protocol::CommandReply;

use super::metrics::ReplyResult;

/// How many finished command IDs are remembered to classify replies nobody waits for.
const REMEMBERED: usize = 10_000;

/// The waiting requests of one gateway.
#[derive(Debug, Default)]
pub(super) struct Waiters {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_ticket: u64,
    waiting: HashMap<String, Vec<(u64, oneshot::Sender<CommandReply>)>>,
    finished: HashMap<String, Finished>,
    finished_order: VecDeque<String>,
}

/// How a command ID stopped being waited for.
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
    command_id: String,
    ticket: u64,
    reply: oneshot::Receiver<CommandReply>,
}

impl Waiters {
    /// Registers a request waiting for the reply to `command_id`.
    pub(super) fn register(self: &Arc<Self>, command_id: &str) -> Waiter {
        let (sender, reply) = oneshot::channel();
        let mut state = self.lock();
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        state
            .waiting
            .entry(command_id.to_owned())
            .or_default()
            .push((ticket, sender));
        Waiter {
            waiters: Arc::clone(self),
            command_id: command_id.to_owned(),
            ticket,
            reply,
        }
    }

    /// Hands `reply` to every request waiting for its command, and says what became of it.
    pub(super) fn deliver(&self, reply: CommandReply) -> ReplyResult {
        let mut state = self.lock();
        let Some(senders) = state.waiting.remove(&reply.command_id) else {
            return match state.finished.get(&reply.command_id) {
                Some(Finished::Answered) => ReplyResult::Duplicate,
                Some(Finished::GaveUp) => {
                    state.remember(&reply.command_id, Finished::Answered);
                    ReplyResult::Late
                }
                None => ReplyResult::Unknown,
            };
        };
        state.remember(&reply.command_id, Finished::Answered);
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

    fn withdraw(&self, command_id: &str, ticket: u64) {
        let mut state = self.lock();
        let Some(senders) = state.waiting.get_mut(command_id) else {
            // Already answered: `deliver` took the senders out.
            return;
        };
        senders.retain(|(t, _)| *t != ticket);
        if senders.is_empty() {
            state.waiting.remove(command_id);
            state.remember(command_id, Finished::GaveUp);
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
    fn remember(&mut self, command_id: &str, finished: Finished) {
        if self
            .finished
            .insert(command_id.to_owned(), finished)
            .is_none()
        {
            self.finished_order.push_back(command_id.to_owned());
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
        self.waiters.withdraw(&self.command_id, self.ticket);
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
            aggregate_type: "account".to_owned(),
            aggregate_id: "acc-1".to_owned(),
            outcome: CommandOutcome::Accepted,
            reason: None,
            event: None,
            version: 1,
            replied_at: 0,
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_reply_reaches_every_request_waiting_for_its_command_and_only_those() {
        let waiters = Arc::new(Waiters::default());
        let mut first = waiters.register("c-1");
        let mut retry = waiters.register("c-1");
        let mut other = waiters.register("c-2");
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
    async fn replies_nobody_waits_for_are_told_apart() {
        let waiters = Arc::new(Waiters::default());
        let answered = waiters.register("answered");
        assert_eq!(waiters.deliver(reply("answered")), ReplyResult::Delivered);
        drop(answered);
        assert_eq!(waiters.deliver(reply("answered")), ReplyResult::Duplicate);

        let mut gave_up = waiters.register("gave-up");
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
        let first = waiters.register("c-1");
        let retry = waiters.register("c-1");
        drop(first);
        assert_eq!(waiters.waiting(), 1);
        assert_eq!(waiters.deliver(reply("c-1")), ReplyResult::Delivered);
        drop(retry);
    }

    #[test]
    fn finished_commands_are_forgotten_beyond_the_bound() {
        let waiters = Arc::new(Waiters::default());
        for n in 0..=REMEMBERED {
            drop(waiters.register(&format!("c-{n}")));
        }
        assert_eq!(waiters.deliver(reply("c-0")), ReplyResult::Unknown);
        assert_eq!(
            waiters.deliver(reply(&format!("c-{REMEMBERED}"))),
            ReplyResult::Late
        );
    }
}
