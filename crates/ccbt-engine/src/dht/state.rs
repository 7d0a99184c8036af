//! `dht.dat`: the node id and routing table kept across runs.
//!
//! A bencoded dictionary `{"id": <20 bytes>, "nodes": <compact nodes, 26 bytes each>, "v": 1}`;
//! bencode rather than JSON because the compact node format of BEP 5 already fits it and the
//! engine has the codec. Writes are atomic (temp file, fsync, rename) so a crash mid-save leaves
//! the previous file intact.

use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ccbt_bencode::{OwnedValue, Value};
use ccbt_dht::krpc::{decode_nodes, encode_nodes, CompactNode};
use ccbt_dht::routing::is_valid_node_addr;
use ccbt_dht::NodeId;

/// File name inside `state_dir`.
pub(crate) const STATE_FILE: &str = "dht.dat";
/// Format version written in `v`.
const VERSION: i64 = 1;
/// Larger files are not ours (a full table of 160 buckets of 8 is about 33 KB).
const MAX_FILE_LEN: u64 = 1 << 20;
/// Nodes restored at most.
const MAX_NODES: usize = 4096;

/// What `dht.dat` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SavedState {
    /// Our node id, kept so that other nodes' routing tables stay valid across restarts.
    pub(crate) id: NodeId,
    /// Routing-table nodes (IPv4 only, as the node itself).
    pub(crate) nodes: Vec<(NodeId, SocketAddr)>,
}

/// Why `dht.dat` could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateError {
    /// Reading failed (other than the file being absent).
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The content is not a state file of ours.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The path of the state file in `state_dir`.
pub(crate) fn state_path(state_dir: &Path) -> PathBuf {
    state_dir.join(STATE_FILE)
}

/// Encodes `state` (IPv6 nodes, which the node never holds, are skipped).
pub(crate) fn encode(state: &SavedState) -> Vec<u8> {
    let nodes: Vec<CompactNode> = state
        .nodes
        .iter()
        .filter_map(|&(id, addr)| match addr {
            SocketAddr::V4(addr) => Some(CompactNode { id, addr }),
            SocketAddr::V6(_) => None,
        })
        .collect();
    OwnedValue::dict()
        .with("id", state.id.0.to_vec())
        .with("nodes", encode_nodes(&nodes))
        .with("v", VERSION)
        .to_bytes()
}

/// Decodes a state file; `Err` names what is wrong. Invalid node addresses are dropped.
pub(crate) fn decode(bytes: &[u8]) -> Result<SavedState, &'static str> {
    let value = ccbt_bencode::decode(bytes).map_err(|_| "not bencode")?;
    let dict = value.as_dict().ok_or("not a dictionary")?;
    if dict.get(b"v").and_then(Value::as_int) != Some(VERSION) {
        return Err("unknown version");
    }
    let id = dict.get(b"id").and_then(Value::as_bytes).ok_or("missing id")?;
    let id = NodeId(id.try_into().map_err(|_| "id is not 20 bytes")?);
    let nodes = dict.get(b"nodes").and_then(Value::as_bytes).ok_or("missing nodes")?;
    let nodes = decode_nodes(nodes).map_err(|_| "nodes is not a multiple of 26 bytes")?;
    let nodes = nodes
        .into_iter()
        .map(|n| (n.id, SocketAddr::V4(n.addr)))
        .filter(|(node, addr)| *node != id && is_valid_node_addr(addr))
        .take(MAX_NODES)
        .collect();
    Ok(SavedState { id, nodes })
}

/// Loads the state file; `Ok(None)` when there is none. Blocking: run it on the blocking pool.
pub(crate) fn load(path: &Path) -> Result<Option<SavedState>, StateError> {
    let read_err = |source| StateError::Read { path: path.to_owned(), source };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(StateError::Corrupt { path: path.to_owned(), reason: "file too large" });
    }
    decode(&bytes).map(Some).map_err(|reason| StateError::Corrupt { path: path.to_owned(), reason })
}

/// Writes `bytes` to `path` atomically: a temp file next to it, fsync, rename. Blocking: run it
/// on the blocking pool.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: do not leave a half-written temp file behind.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SavedState {
        SavedState {
            id: NodeId([7; 20]),
            nodes: vec![
                (NodeId([1; 20]), "127.0.0.1:6881".parse().unwrap()),
                (NodeId([2; 20]), "10.1.2.3:51413".parse().unwrap()),
            ],
        }
    }

    #[test]
    fn round_trip() {
        let state = sample();
        assert_eq!(decode(&encode(&state)), Ok(state));
    }

    #[test]
    fn rejects_garbage_and_wrong_shapes() {
        assert!(decode(b"").is_err());
        assert!(decode(b"not bencode at all").is_err());
        assert!(decode(b"le").is_err());
        assert_eq!(decode(b"d2:id3:abc5:nodes0:1:vi1ee"), Err("id is not 20 bytes"));
        let mut bytes = encode(&sample());
        // Cut inside the nodes string: no longer valid bencode.
        bytes.truncate(bytes.len() - 10);
        assert!(decode(&bytes).is_err());
        let wrong_version = OwnedValue::dict()
            .with("id", vec![0u8; 20])
            .with("nodes", Vec::<u8>::new())
            .with("v", 99i64)
            .to_bytes();
        assert_eq!(decode(&wrong_version), Err("unknown version"));
    }

    #[test]
    fn drops_invalid_nodes_and_our_own_id() {
        let mut state = sample();
        state.nodes.push((NodeId([3; 20]), "0.0.0.0:6881".parse().unwrap()));
        state.nodes.push((NodeId([4; 20]), "1.2.3.4:0".parse().unwrap()));
        state.nodes.push((state.id, "1.2.3.4:1".parse().unwrap()));
        assert_eq!(decode(&encode(&state)), Ok(sample()));
    }

    #[test]
    fn write_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir.path().join("nested"));
        assert!(load(&path).unwrap().is_none());
        write_atomic(&path, &encode(&sample())).unwrap();
        assert_eq!(load(&path).unwrap(), Some(sample()));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(matches!(load(&path), Err(StateError::Corrupt { .. })));
    }
}
