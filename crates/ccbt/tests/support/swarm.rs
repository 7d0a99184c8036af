//! Reading what the peers of a real swarm say they moved: the `--stats-file` of the libtorrent
//! helpers (tests/interop/ltstats.py) and the totals line `ccbt download` prints last.

use std::path::Path;

/// Payload bytes exchanged with one connection, as the libtorrent side counted them (a lower
/// bound when the other side closed the connection; see ltstats.py).
#[derive(Clone, Debug)]
pub struct PeerBytes {
    pub ip: String,
    pub port: u16,
    /// Payload received from the peer.
    pub down: u64,
    /// Payload sent to the peer.
    pub up: u64,
    pub client: String,
}

/// One libtorrent helper's `--stats-file`: exact torrent totals and per-connection bytes.
#[derive(Clone, Debug, Default)]
pub struct LtStats {
    pub total_download: u64,
    pub total_upload: u64,
    pub redundant: u64,
    pub failed: u64,
    pub peers: Vec<PeerBytes>,
}

impl LtStats {
    /// Reads a stats file; panics with its text when a line does not parse.
    pub fn read(path: &Path) -> LtStats {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let mut stats = LtStats::default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| -> u64 {
                fields.get(i).and_then(|f| f.parse().ok()).unwrap_or_else(|| {
                    panic!("{}: bad line {line:?}", path.display());
                })
            };
            match fields[0] {
                "total_download" => stats.total_download = num(1),
                "total_upload" => stats.total_upload = num(1),
                "redundant" => stats.redundant = num(1),
                "failed" => stats.failed = num(1),
                "peer" => stats.peers.push(PeerBytes {
                    ip: fields.get(1).copied().unwrap_or_default().to_owned(),
                    port: u16::try_from(num(2)).expect("port"),
                    down: num(3),
                    up: num(4),
                    client: fields.get(5..).map(|c| c.join(" ")).unwrap_or_default(),
                }),
                _ => panic!("{}: unknown line {line:?}", path.display()),
            }
        }
        stats
    }

    /// Payload received from connections with `ip`.
    pub fn down_from(&self, ip: &str) -> u64 {
        self.peers.iter().filter(|p| p.ip == ip).map(|p| p.down).sum()
    }

    /// Payload sent to connections with `ip`.
    pub fn up_to(&self, ip: &str) -> u64 {
        self.peers.iter().filter(|p| p.ip == ip).map(|p| p.up).sum()
    }
}

/// The exact byte counts of the totals line `ccbt download` prints last:
/// `NAME: downloaded 1.00 GiB (N bytes), uploaded ... (N bytes), wasted ... (N bytes)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CcbtTotals {
    pub downloaded: u64,
    pub uploaded: u64,
    pub wasted: u64,
}

/// The last totals line in `stdout`, if any.
pub fn ccbt_totals(stdout: &str) -> Option<CcbtTotals> {
    let line =
        stdout.lines().rev().find(|l| l.contains(": downloaded ") && l.contains(" bytes), uploaded "))?;
    // `... uploaded 3.00 MiB (3145728 bytes), ...` → 3145728
    let exact = |what: &str| -> Option<u64> {
        let after = line.rsplit(&format!(" {what} ")).next()?;
        after.split_once('(')?.1.split_once(" bytes)")?.0.parse().ok()
    };
    Some(CcbtTotals {
        downloaded: exact("downloaded")?,
        uploaded: exact("uploaded")?,
        wasted: exact("wasted")?,
    })
}
