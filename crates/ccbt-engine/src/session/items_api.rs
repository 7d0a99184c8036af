//! BEP 44 items (arbitrary data in the DHT) and the BEP 46 use of them, on the library API.

use std::time::Duration;

use ccbt_dht::item::{mutable_target, Item, MutableItem, SigningKey, PUBLIC_KEY_LEN};

use super::Session;
use crate::dht::items::{DhtItemError, PutOutcome, Wanted};

impl Session {
    /// Publishes `value` (one bencoded value of at most 1000 bytes, e.g.
    /// [`ccbt_dht::bep46::encode_info_hash_value`]) as the mutable item of `key` and `salt`
    /// with sequence number `seq`: signed here, then a `get` lookup and `put` to the closest
    /// nodes. Each new version needs a higher `seq`; nodes holding a higher one refuse it
    /// (code 302 in [`PutOutcome::refused`]). Re-put hourly: nodes drop items after 2 hours.
    /// Fails after `deadline` at the latest.
    pub async fn dht_put_mutable(
        &self,
        key: &SigningKey,
        salt: &[u8],
        value: Vec<u8>,
        seq: i64,
        deadline: Duration,
    ) -> Result<PutOutcome, DhtItemError> {
        let item = key.sign_item(salt, seq, value).map_err(DhtItemError::Invalid)?;
        self.dht_put_item(Item::Mutable(item), None, deadline).await
    }

    /// The mutable item of public key `k` and `salt` with the highest sequence number the
    /// closest nodes hold, its signature checked; `None` if none has it.
    pub async fn dht_get_mutable(
        &self,
        k: [u8; PUBLIC_KEY_LEN],
        salt: &[u8],
        deadline: Duration,
    ) -> Result<Option<MutableItem>, DhtItemError> {
        let dht = self.inner.dht.as_ref().ok_or(DhtItemError::NoDht)?;
        let wanted = Wanted::Mutable { k, salt: salt.to_vec() };
        Ok(match dht.get_item(wanted, deadline).await? {
            Some(Item::Mutable(m)) if m.target() == mutable_target(&k, salt) => Some(m),
            _ => None,
        })
    }

    /// Stores `value` (bencoded, at most 1000 bytes) as an immutable item; it lives under
    /// [`PutOutcome::target`] = SHA-1(value).
    pub async fn dht_put_immutable(
        &self,
        value: Vec<u8>,
        deadline: Duration,
    ) -> Result<PutOutcome, DhtItemError> {
        self.dht_put_item(Item::Immutable(value), None, deadline).await
    }

    /// The immutable item stored under `target` (its value, checked to hash to `target`).
    pub async fn dht_get_immutable(
        &self,
        target: [u8; 20],
        deadline: Duration,
    ) -> Result<Option<Vec<u8>>, DhtItemError> {
        let dht = self.inner.dht.as_ref().ok_or(DhtItemError::NoDht)?;
        Ok(match dht.get_item(Wanted::Immutable(target), deadline).await? {
            Some(Item::Immutable(v)) => Some(v),
            _ => None,
        })
    }

    /// Stores any item: one signed elsewhere, or one found by a get and put again to keep it
    /// alive (BEP 44 lets anyone re-put a mutable item unchanged). `cas` (mutable only): store
    /// only where the current sequence number is this one.
    pub async fn dht_put_item(
        &self,
        item: Item,
        cas: Option<i64>,
        deadline: Duration,
    ) -> Result<PutOutcome, DhtItemError> {
        let dht = self.inner.dht.as_ref().ok_or(DhtItemError::NoDht)?;
        dht.put_item(item, cas, deadline).await
    }
}
