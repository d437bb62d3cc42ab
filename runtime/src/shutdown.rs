//! Graceful shutdown as one small value handed to every task.
//!
//! A [`Shutdown`] is a cloneable handle: tasks `await` [`Shutdown::requested`] in their
//! `select!` and finish their in-flight work; whoever owns the process calls
//! [`Shutdown::trigger`], or lets [`Shutdown::on_signals`] do it on SIGTERM or SIGINT.

use tokio::sync::watch;

/// A cloneable shutdown handle.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
    receiver: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        let (sender, receiver) = watch::channel(false);
        Self { sender, receiver }
    }

    /// Asks every holder of this handle to stop.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// Whether shutdown has been asked for.
    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Completes once shutdown has been asked for.
    pub async fn requested(&self) {
        let mut receiver = self.receiver.clone();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }

    /// Triggers this handle on the first SIGTERM or SIGINT (Ctrl-C).
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let shutdown = self.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "shutdown requested");
            shutdown.trigger();
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let shutdown = Shutdown::new();
        let waiter = shutdown.clone();
        let task = tokio::spawn(async move { waiter.requested().await });
        assert!(!shutdown.is_requested());
        shutdown.trigger();
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("the waiter finishes after the trigger")
            .unwrap();
        assert!(shutdown.is_requested());
    }
}
