//! BEP 44 items through the DHT task: `get` and `put` requests from [`DhtHandle`] and their
//! answers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ccbt_dht::item::{Item, ItemError, PUBLIC_KEY_LEN};
use ccbt_dht::{DhtNode, LookupId, NodeId};
use tokio::sync::oneshot;

use super::driver::Command;
use super::DhtHandle;

/// What a `get` looks for.
#[derive(Clone, Debug)]
pub(crate) enum Wanted {
    /// The immutable item of this target (SHA-1 of its value).
    Immutable([u8; 20]),
    /// The mutable item of this key and salt.
    Mutable { k: [u8; PUBLIC_KEY_LEN], salt: Vec<u8> },
}

/// A caller waiting for the end of a get or put.
#[derive(Debug)]
pub(super) enum Waiter {
    Get(oneshot::Sender<Option<Item>>),
    Put(oneshot::Sender<PutOutcome>),
}

/// How a BEP 44 `put` went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutOutcome {
    /// Where the item lives (SHA-1 of the value, or of key and salt).
    pub target: [u8; 20],
    /// Nodes that stored it.
    pub stored: usize,
    /// Nodes that refused it, with their KRPC error code (302: they hold a higher `seq`; 301:
    /// `cas` mismatch; 206: they found the signature invalid).
    pub refused: Vec<(SocketAddr, i64)>,
    /// Nodes asked to store it: the closest that answered the `get` with a token.
    pub asked: usize,
}

/// Why a DHT item request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DhtItemError {
    /// The session runs without the DHT (`enable_dht` off, or it could not start).
    #[error("the dht is not running")]
    NoDht,
    /// The item is not valid (too big, bad salt, not canonical bencode, ...).
    #[error("invalid dht item")]
    Invalid(#[source] ItemError),
    /// The lookup did not end within the deadline.
    #[error("the dht lookup did not finish within {0:?}")]
    Timeout(Duration),
    /// The DHT stopped (session shutting down) before answering.
    #[error("the dht stopped before the lookup ended")]
    Stopped,
}

pub(super) fn start_get(node: &mut DhtNode, now: Instant, wanted: Wanted) -> LookupId {
    match wanted {
        Wanted::Immutable(target) => node.get_immutable(now, NodeId(target)),
        Wanted::Mutable { k, salt } => node.get_mutable(now, k, &salt),
    }
}

impl DhtHandle {
    /// Runs a BEP 44 `get` lookup; `Ok(None)` when no node has the item. Mutable items come
    /// back checked (key, salt, signature), the highest `seq` found.
    pub(crate) async fn get_item(
        &self,
        wanted: Wanted,
        deadline: Duration,
    ) -> Result<Option<Item>, DhtItemError> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::GetItem { wanted, reply }).await.map_err(|_| DhtItemError::Stopped)?;
        match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(item)) => Ok(item),
            Ok(Err(_)) => Err(DhtItemError::Stopped),
            Err(_) => Err(DhtItemError::Timeout(deadline)),
        }
    }

    /// Stores `item` on the nodes closest to its target (a `get` lookup, then `put`).
    pub(crate) async fn put_item(
        &self,
        item: Item,
        cas: Option<i64>,
        deadline: Duration,
    ) -> Result<PutOutcome, DhtItemError> {
        item.validate().map_err(DhtItemError::Invalid)?;
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::PutItem { item, cas, reply }).await.map_err(|_| DhtItemError::Stopped)?;
        match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(DhtItemError::Stopped),
            Err(_) => Err(DhtItemError::Timeout(deadline)),
        }
    }
}
