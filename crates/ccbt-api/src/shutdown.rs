//! The server's stop, told to the answers that would otherwise never end: an event stream
//! lasts as long as the session, and a graceful shutdown waits for every open answer, so one
//! connected dashboard would hold `ccbt daemon stop` up for good. [`Shutdown::wait`] resolves
//! once the daemon fires its [`ShutdownTrigger`]; the stream then ends and the shutdown goes on.

use std::sync::Arc;

use tokio::sync::watch;

/// What long-lived answers wait on.
#[derive(Clone, Debug)]
pub struct Shutdown {
    signal: watch::Receiver<bool>,
    /// [`Shutdown::never`]'s own sender, kept so that its signal stays open and unfired.
    _never: Option<Arc<watch::Sender<bool>>>,
}

/// The daemon's end: fired when it starts to stop.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// A trigger and the signal it fires.
pub fn shutdown_signal() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown { signal: rx, _never: None })
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        // No receiver left is fine: nothing waits.
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// A signal that never fires (an embedded API whose owner stops it some other way).
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        Shutdown { signal: rx, _never: Some(Arc::new(tx)) }
    }

    /// Resolves once the trigger fires (or right away if it has); pends for good when the
    /// trigger is dropped unfired.
    pub async fn wait(mut self) {
        loop {
            if *self.signal.borrow_and_update() {
                return;
            }
            if self.signal.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_resolves_once_fired() {
        let (trigger, shutdown) = shutdown_signal();
        let waiting = tokio::spawn(shutdown.clone().wait());
        trigger.fire();
        waiting.await.unwrap();
        // A late waiter sees the fired state at once.
        shutdown.wait().await;
        let never = Shutdown::never();
        let pending = futures_util::FutureExt::now_or_never(never.wait());
        assert!(pending.is_none());
    }
}
