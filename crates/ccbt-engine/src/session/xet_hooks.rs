//! A pause point in a switch's commit, for tests only (feature `test-hooks`): a test holds the
//! commit of a folder right after its first file move, does what it wants to check (stop the
//! follow, unfollow, stop the daemon), then lets the commit go on, or makes it stop there as
//! if the process had been killed. Without the feature both calls do nothing.

#[cfg(not(feature = "test-hooks"))]
use std::path::Path;

/// Called by the commit after its first file move into `dir`: blocks while a test holds it;
/// false when the test made it stop there.
#[cfg(not(feature = "test-hooks"))]
#[inline]
pub(super) fn after_first_move(_dir: &Path) -> bool {
    true
}

/// Whether a test made the commit of `dir` stop as if killed (once).
#[cfg(not(feature = "test-hooks"))]
#[inline]
pub(super) fn crashed(_dir: &Path) -> bool {
    false
}

#[cfg(feature = "test-hooks")]
pub(super) use held::{after_first_move, crashed};

#[cfg(feature = "test-hooks")]
pub(crate) mod held {
    use std::path::{Path, PathBuf};
    use std::sync::{mpsc, Mutex};

    use tokio::sync::oneshot;

    struct Gate {
        dir: PathBuf,
        reached: oneshot::Sender<()>,
        go: mpsc::Receiver<bool>,
    }

    static GATES: Mutex<Vec<Gate>> = Mutex::new(Vec::new());
    static CRASHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    /// A hold on the next commit into a folder (see [`hold_xet_commit`]).
    pub struct XetCommitHold {
        reached: Option<oneshot::Receiver<()>>,
        go: mpsc::Sender<bool>,
    }

    /// Holds the next switch commit into `dir` right after its first file move, until
    /// [`XetCommitHold::release`] or [`XetCommitHold::crash`] (dropping the hold releases it).
    pub fn hold_xet_commit(dir: &Path) -> XetCommitHold {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (go_tx, go_rx) = mpsc::channel();
        let gate = Gate { dir: dir.to_owned(), reached: reached_tx, go: go_rx };
        GATES.lock().unwrap_or_else(|p| p.into_inner()).push(gate);
        XetCommitHold { reached: Some(reached_rx), go: go_tx }
    }

    impl XetCommitHold {
        /// Waits until the commit is held (one file moved, the rest not).
        pub async fn reached(&mut self) {
            if let Some(reached) = self.reached.take() {
                reached.await.expect("the commit's hold was dropped unused");
            }
        }

        /// Lets the commit go on.
        pub fn release(self) {
            let _ = self.go.send(true);
        }

        /// Makes the commit stop where it is held, as if the process had been killed: no
        /// further move, no torrent added, the journal left in place.
        pub fn crash(self) {
            let _ = self.go.send(false);
        }
    }

    pub(in crate::session) fn after_first_move(dir: &Path) -> bool {
        let gate = {
            let mut gates = GATES.lock().unwrap_or_else(|p| p.into_inner());
            let at = gates.iter().position(|g| g.dir == dir);
            at.map(|at| gates.remove(at))
        };
        let Some(gate) = gate else { return true };
        let _ = gate.reached.send(());
        // A dropped hold lets the commit go on.
        if gate.go.recv() == Ok(false) {
            CRASHED.lock().unwrap_or_else(|p| p.into_inner()).push(dir.to_owned());
            return false;
        }
        true
    }

    pub(in crate::session) fn crashed(dir: &Path) -> bool {
        let mut crashed = CRASHED.lock().unwrap_or_else(|p| p.into_inner());
        let at = crashed.iter().position(|d| d == dir);
        at.map(|at| crashed.remove(at)).is_some()
    }
}
