//! The switch journal (docs/xet.md, "Following: the switch"): one small file,
//! `DIR/.ccbt-xet-staging/switch.journal`, written (atomically, synced) before the first step
//! of a switch's commit that changes anything, and deleted once the new torrent is in the
//! session. It holds what the commit needs to run again from the start after the process
//! died in the middle: the new version's torrent (its info dictionary and layers), the old
//! one's (to know which old files to delete), the item's sequence number and the id the
//! staging folder is named by. Every step of the commit can be run twice (a file already
//! moved is no longer in the staging folder; deleting a missing file is no error), so the
//! journal does not need to say how far the moves went.

use std::path::{Path, PathBuf};

use ccbt_bencode::OwnedValue;
use ccbt_core::InfoHash;
use ccbt_metainfo::Torrent;

use super::xet_switch::STAGING_DIR;

/// The journal's name inside the staging folder of the dataset's folder.
pub(super) const JOURNAL_FILE: &str = "switch.journal";
/// The format written; another one is refused rather than misread.
const FORMAT: i64 = 1;

/// A switch under way.
#[derive(Clone, Debug)]
pub(super) struct Journal {
    /// The id the item names the new version by (the staging folder's name).
    pub ih: InfoHash,
    /// The item's sequence number of the new version.
    pub seq: i64,
    pub new: Torrent,
    /// The version being replaced, when the session still had it.
    pub old: Option<Torrent>,
}

impl Journal {
    /// The staging folder the new version was fetched into.
    pub fn staging(&self, dir: &Path) -> PathBuf {
        dir.join(STAGING_DIR).join(self.ih.to_hex())
    }
}

pub(super) fn path(dir: &Path) -> PathBuf {
    dir.join(STAGING_DIR).join(JOURNAL_FILE)
}

/// Writes the journal of `dir` durably, replacing any.
pub(super) fn write(dir: &Path, journal: &Journal) -> Result<(), String> {
    let mut body = OwnedValue::dict()
        .with("format", FORMAT)
        .with("ih", journal.ih.0.to_vec())
        .with("seq", journal.seq)
        .with("new", torrent_bytes(&journal.new));
    if let Some(old) = &journal.old {
        body.insert("old", torrent_bytes(old));
    }
    let path = path(dir);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    ccbt_checkpoint::write_atomically(&path, &body.to_bytes())
        .map_err(|e| format!("cannot write the switch journal {}: {e}", path.display()))
}

/// The journal of `dir`, if a switch was under way. A journal that cannot be read is an error
/// (it stays, for a person to look at: the files of `DIR` are each whole either way).
pub(super) fn read(dir: &Path) -> Result<Option<Journal>, String> {
    let path = path(dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read the switch journal {}: {e}", path.display())),
    };
    decode(&bytes)
        .map(Some)
        .map_err(|reason| format!("the switch journal {} is damaged: {reason}", path.display()))
}

/// Deletes the journal of `dir` (the switch is done); a journal left behind is finished
/// again at the next start, which changes nothing.
pub(super) fn remove(dir: &Path) {
    let path = path(dir);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "xet follow: cannot delete the switch journal")
        }
    }
}

fn decode(bytes: &[u8]) -> Result<Journal, String> {
    let value = ccbt_bencode::decode(bytes).map_err(|e| e.to_string())?;
    let int = |key: &str| value.get(key.as_bytes()).and_then(|v| v.as_int());
    let raw = |key: &str| value.get(key.as_bytes()).and_then(|v| v.as_bytes());
    if int("format") != Some(FORMAT) {
        return Err(format!("format {:?} is not {FORMAT}", int("format")));
    }
    let ih = raw("ih").and_then(|b| <[u8; 20]>::try_from(b).ok()).ok_or("no 20-byte ih")?;
    let seq = int("seq").ok_or("no seq")?;
    let torrent = |b: &[u8]| Torrent::from_bytes(b).map_err(|e| e.to_string());
    let new = torrent(raw("new").ok_or("no new torrent")?)?;
    let old = raw("old").map(torrent).transpose()?;
    Ok(Journal { ih: InfoHash(ih), seq, new, old })
}

/// A .torrent of `torrent`: its info dictionary, piece layers and Xet chunk manifests (what
/// [`Torrent::from_parts_with_xet`] reads back).
fn torrent_bytes(torrent: &Torrent) -> Vec<u8> {
    let mut out = b"d4:info".to_vec();
    out.extend_from_slice(&torrent.info_bytes);
    // Keys in sorted order: "info" < "piece layers" < "xet layers".
    if !torrent.piece_layers.is_empty() {
        out.extend_from_slice(b"12:piece layers");
        out.extend_from_slice(&torrent.piece_layers_bencoded());
    }
    if !torrent.xet_layers.is_empty() {
        out.extend_from_slice(b"10:xet layers");
        out.extend_from_slice(&torrent.xet_layers_bencoded());
    }
    out.push(b'e');
    out
}

#[cfg(test)]
mod tests {
    use ccbt_metainfo::{MetaVersion, TorrentBuilder};

    use super::*;

    fn torrent(name: &str) -> Torrent {
        let builder = TorrentBuilder {
            version: MetaVersion::V1,
            name: name.into(),
            files: vec![(vec!["a.bin".into()], 20_000)],
            piece_length: 16384,
            piece_hashes: vec![[3; 20]; 2],
            ..TorrentBuilder::default()
        };
        Torrent::from_bytes(&builder.build().unwrap()).unwrap()
    }

    #[test]
    fn a_journal_round_trips_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let journal =
            Journal { ih: InfoHash([5; 20]), seq: 7, new: torrent("new"), old: Some(torrent("old")) };
        write(dir.path(), &journal).unwrap();
        let back = read(dir.path()).unwrap().expect("the journal");
        assert_eq!((back.ih, back.seq), (journal.ih, 7));
        assert_eq!(back.new.info_hash, journal.new.info_hash);
        assert_eq!(back.old.map(|t| t.info_hash), Some(torrent("old").info_hash));
        assert_eq!(back.new.name, "new");
        assert_eq!(
            journal.staging(dir.path()),
            dir.path().join(STAGING_DIR).join(InfoHash([5; 20]).to_hex())
        );

        std::fs::write(path(dir.path()), b"d6:formati2ee").unwrap();
        assert!(read(dir.path()).unwrap_err().contains("is damaged"));
        remove(dir.path());
        remove(dir.path());
        assert!(read(dir.path()).unwrap().is_none());
    }
}
