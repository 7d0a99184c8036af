//! The daemon's follows on disk: `xet_follows.json` in the state folder, one record per
//! follow, rewritten whole and atomically (temporary file, fsync, rename, like the
//! checkpoints) whenever a follow is added, removed or switches version. A file that cannot
//! be read is moved aside to `xet_follows.json.damaged`, so a later write does not bury it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ccbt_core::InfoHash;
use ccbt_engine::bep46::{decode_hex, encode_hex};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The file's name in the state folder.
pub const FOLLOWS_FILE: &str = "xet_follows.json";

/// The format of the file; a newer one is refused (as damaged) rather than misread.
const FORMAT: u32 = 1;

/// What a follow needs to start again after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FollowRecord {
    pub id: String,
    pub public_key: [u8; 32],
    pub salt: Vec<u8>,
    pub dir: PathBuf,
    pub poll_secs: u64,
    /// The item's sequence number of the version in use (0 while unknown).
    pub seq: i64,
    /// The id the item names the version in use by (None until a link's first lookup).
    pub info_hash: Option<InfoHash>,
    /// Peers to try for the current version.
    pub peers: Vec<SocketAddr>,
}

/// Why the file could not be read.
#[derive(Debug, Error)]
pub enum FollowFileError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    format: u32,
    follows: Vec<RecordBody>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    id: String,
    /// 64 hex digits.
    public_key: String,
    /// Hex (empty for none).
    salt: String,
    dir: PathBuf,
    poll_secs: u64,
    seq: i64,
    /// 40 hex digits.
    info_hash: Option<String>,
    #[serde(default)]
    peers: Vec<SocketAddr>,
}

/// The records of `path`; none when the file does not exist.
pub(crate) fn load(path: &Path) -> Result<Vec<FollowRecord>, FollowFileError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(FollowFileError::Read { path: path.to_owned(), source }),
    };
    let damaged = |reason: String| FollowFileError::Damaged { path: path.to_owned(), reason };
    let body: FileBody = serde_json::from_slice(&text).map_err(|e| damaged(e.to_string()))?;
    if body.format != FORMAT {
        return Err(damaged(format!("format {} is not {FORMAT}", body.format)));
    }
    let mut records: Vec<FollowRecord> = Vec::with_capacity(body.follows.len());
    for record in body.follows {
        let id = record.id.clone();
        let record = decode(record).map_err(|reason| damaged(format!("follow {id}: {reason}")))?;
        if records.iter().any(|r| r.id == record.id) {
            return Err(damaged(format!("follow {id} is there twice")));
        }
        records.push(record);
    }
    Ok(records)
}

fn decode(r: RecordBody) -> Result<FollowRecord, String> {
    let public_key = decode_hex(&r.public_key)
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or("public_key is not 64 hex digits")?;
    let salt = decode_hex(&r.salt).filter(|s| s.len() <= 64).ok_or("salt is not at most 64 hex bytes")?;
    if !r.dir.is_absolute() {
        return Err(format!("dir {} is not absolute", r.dir.display()));
    }
    if !(1..=crate::follow_views::MAX_POLL_SECS).contains(&r.poll_secs) {
        return Err(format!("poll_secs {} is out of range", r.poll_secs));
    }
    let info_hash = match r.info_hash {
        None => None,
        Some(hex) => Some(hex.parse::<InfoHash>().map_err(|_| "info_hash is not 40 hex digits")?),
    };
    Ok(FollowRecord {
        id: r.id,
        public_key,
        salt,
        dir: r.dir,
        poll_secs: r.poll_secs,
        seq: r.seq,
        info_hash,
        peers: r.peers,
    })
}

/// Replaces `path` with `records`, durably.
pub(crate) fn save(path: &Path, records: &[FollowRecord]) -> Result<(), FollowFileError> {
    let body = FileBody {
        format: FORMAT,
        follows: records
            .iter()
            .map(|r| RecordBody {
                id: r.id.clone(),
                public_key: encode_hex(&r.public_key),
                salt: encode_hex(&r.salt),
                dir: r.dir.clone(),
                poll_secs: r.poll_secs,
                seq: r.seq,
                info_hash: r.info_hash.map(|ih| ih.to_hex()),
                peers: r.peers.clone(),
            })
            .collect(),
    };
    let write = |reason: String| FollowFileError::Write { path: path.to_owned(), reason };
    let text = serde_json::to_vec_pretty(&body).map_err(|e| write(e.to_string()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| write(e.to_string()))?;
    }
    ccbt_engine::checkpoints::write_atomically(path, &text).map_err(|e| write(e.to_string()))
}

/// Where a damaged file is moved.
pub(crate) fn damaged_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".damaged");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> FollowRecord {
        FollowRecord {
            id: id.into(),
            public_key: [7; 32],
            salt: b"org/set".to_vec(),
            dir: "/data/set".into(),
            poll_secs: 600,
            seq: 3,
            info_hash: Some(InfoHash([9; 20])),
            peers: vec!["127.0.0.1:6881".parse().unwrap()],
        }
    }

    #[test]
    fn records_round_trip_and_a_missing_file_is_no_follow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FOLLOWS_FILE);
        assert_eq!(load(&path).unwrap(), Vec::new());
        let mut second = record("b");
        (second.info_hash, second.salt) = (None, Vec::new());
        save(&path, &[record("a"), second.clone()]).unwrap();
        assert_eq!(load(&path).unwrap(), vec![record("a"), second]);
    }

    #[test]
    fn damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FOLLOWS_FILE);
        for (text, says) in [
            ("{not json", "is damaged"),
            ("{\"format\": 2, \"follows\": []}", "format 2"),
            (
                "{\"format\":1,\"follows\":[{\"id\":\"x\",\"public_key\":\"00\",\"salt\":\"\",\"dir\":\"/d\",\"poll_secs\":1,\"seq\":0,\"info_hash\":null}]}",
                "public_key is not 64 hex digits",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = load(&path).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        let mut relative = record("r");
        relative.dir = "data".into();
        save(&path, &[relative]).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("is not absolute"));
        save(&path, &[record("a"), record("a")]).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("there twice"));
        assert_eq!(damaged_path(&path), dir.path().join("xet_follows.json.damaged"));
    }
}
