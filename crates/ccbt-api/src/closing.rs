//! The daemon's "stopping now" signal for long-lived responses. A graceful HTTP shutdown waits
//! for every response in flight to finish; the event stream never finishes on its own, and a
//! media player may hold a file stream open for hours, so both end early when the API closes
//! (and the event stream's hold on the session goes with it).

use std::future::Future;

use futures_util::Stream;
use futures_util::StreamExt as _;
use tokio::sync::watch;

/// Set once, when the daemon begins to stop; every clone sees it.
#[derive(Clone, Debug)]
pub struct Closing(watch::Sender<bool>);

impl Default for Closing {
    fn default() -> Self {
        Closing(watch::channel(false).0)
    }
}

impl Closing {
    /// Ends the long-lived responses now open and any opened from now on.
    pub fn close(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`Closing::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the API closes (at once when it already has).
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.0.subscribe();
        async move {
            // An error means every sender is gone: nothing can close it any more, and nothing
            // keeps the response either, so ending is right then too.
            let _ = receiver.wait_for(|closed| *closed).await;
        }
    }

    /// `stream` until the API closes.
    pub fn guard<S: Stream + Send + 'static>(
        &self,
        stream: S,
    ) -> impl Stream<Item = S::Item> + Send + 'static {
        stream.take_until(self.closed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_guarded_stream_ends_when_closed() {
        let closing = Closing::default();
        let mut stream = Box::pin(closing.guard(futures_util::stream::pending::<u8>()));
        let reader = tokio::spawn(async move { stream.next().await });
        closing.close();
        assert_eq!(reader.await.unwrap(), None);
        assert!(closing.is_closed());
        // Opened after the close: ends at once.
        let mut late = Box::pin(closing.guard(futures_util::stream::pending::<u8>()));
        assert_eq!(late.next().await, None);
    }
}
