//! `ccbt daemon start --foreground`: the daemon itself. It takes the state folder's lock,
//! binds the API, starts the session, restores every torrent from its checkpoint, publishes
//! its address and token, and serves the API until SIGTERM or Ctrl-C; then it shuts the
//! session down (every torrent writes its checkpoint) and exits.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ccbt_api::{Access, ApiContext, Token};
use ccbt_config::Effective;
use ccbt_engine::{find_checkpoint, FoundCheckpoint, Session};
use tokio::sync::oneshot;

use super::lock::{DaemonInfo, DaemonLock, TOKEN_FILE};
use crate::commands::{live, Exit};
use crate::options::{session_options, torrent_limits};

/// How long the stopping daemon waits for the API's last connections to let go of the session.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

pub async fn run(settings: &Effective) -> anyhow::Result<Exit> {
    let config = settings.config();
    let state_dir = config.disk.state_dir.clone();
    let api_host = config.daemon.api_host;
    if !api_host.is_loopback() {
        anyhow::bail!(
            "api_host = {api_host} is not a loopback address: the API has no TLS yet, so it only listens on 127.0.0.1 or ::1"
        );
    }
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state folder {}", state_dir.display()))?;
    let Some(mut lock) = DaemonLock::acquire(&state_dir).context("cannot open the daemon's lock file")?
    else {
        eprintln!("error: {}", super::already_running(&state_dir));
        return Ok(Exit::Failure);
    };
    let pid = std::process::id();
    lock.publish(&DaemonInfo { pid, url: None }).context("cannot write the lock file")?;
    // From here on a signal stops the daemon cleanly, also while torrents are being restored.
    let (stop_tx, mut stop) = oneshot::channel();
    tokio::spawn(async move {
        let _ = stop_tx.send(live::shutdown_signal().await);
    });
    let api_port = config.daemon.api_port;
    let listener = tokio::net::TcpListener::bind((api_host, api_port))
        .await
        .with_context(|| format!("cannot listen for the API on {api_host}:{api_port}"))?;
    let api_addr = listener.local_addr().context("cannot read the API's address")?;
    let mut options = session_options(settings);
    options.download_dir = std::path::absolute(&options.download_dir)
        .with_context(|| format!("cannot resolve the folder {}", options.download_dir.display()))?;
    let started = Instant::now();
    let session = Arc::new(Session::new(options).await.context("cannot start the session")?);
    let restored = restore(&session, &mut stop).await;
    let token = Token::generate();
    let token_path = state_dir.join(TOKEN_FILE);
    let url = ccbt_api::base_url(api_addr);
    let published = token.write_to(&token_path).map_err(anyhow::Error::from).and_then(|()| {
        lock.publish(&DaemonInfo { pid, url: Some(url.clone()) }).context("cannot write the lock file")
    });
    let result = match (published, restored) {
        (Err(e), _) => Err(e),
        (Ok(()), Restore::Stopped) => Ok(()),
        (Ok(()), Restore::Done(count)) => {
            println!("ccbt daemon (pid {pid}) serving {url}; {count} torrent(s) restored");
            tracing::info!(%url, pid, restored = count, "daemon started");
            let context = Arc::new(ApiContext {
                session: session.clone(),
                started,
                pid,
                torrent_limits: torrent_limits(settings),
            });
            let router = ccbt_api::router(context, Access { token, addr: api_addr });
            let signal = async move {
                if let Ok(name) = stop.await {
                    tracing::info!("{name}: stopping the daemon");
                }
            };
            ccbt_api::serve(listener, router, signal).await.context("the API server failed")
        }
    };
    stop_session(session).await;
    let _ = std::fs::remove_file(&token_path);
    lock.clear();
    result.map(|()| Exit::Success)
}

/// How restoring ended.
enum Restore {
    /// Every usable checkpoint was tried; how many torrents run.
    Done(usize),
    /// A signal came first.
    Stopped,
}

/// Adds every torrent of the checkpoint folder where its checkpoint left it (no rehash of the
/// pieces it vouches for). A checkpoint that cannot be used is reported and skipped.
async fn restore(session: &Session, stop: &mut oneshot::Receiver<&'static str>) -> Restore {
    if !session.options().checkpoint_enabled {
        return Restore::Done(0);
    }
    let entries = match session.list_resumable_checkpoints() {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("warning: cannot list the checkpoints: {e}; no torrent restored");
            return Restore::Done(0);
        }
    };
    let dir = session.options().checkpoint_dir.clone();
    let mut count = 0;
    for entry in entries {
        if stop.try_recv().is_ok() {
            return Restore::Stopped;
        }
        let info_hash = entry.info_hash;
        match restore_one(session, &dir, &info_hash).await {
            Ok(true) => count += 1,
            Ok(false) => {}
            Err(e) => eprintln!("warning: cannot restore {}: {e:#}", info_hash.to_hex()),
        }
    }
    Restore::Done(count)
}

async fn restore_one(session: &Session, dir: &Path, info_hash: &ccbt_core::InfoHash) -> anyhow::Result<bool> {
    let checkpoint = match find_checkpoint(dir, info_hash) {
        FoundCheckpoint::None => return Ok(false),
        FoundCheckpoint::Unusable(e) => anyhow::bail!("its checkpoint is unusable: {e}"),
        FoundCheckpoint::Usable { checkpoint, rejected } => {
            for e in rejected {
                eprintln!("warning: ignoring an unusable checkpoint file of {}: {e}", info_hash.to_hex());
            }
            checkpoint
        }
    };
    // A torrent paused when the daemon stopped stays paused.
    session.restore_checkpoint(*checkpoint).await?;
    Ok(true)
}

/// Shuts the session down once the API has let go of it.
async fn stop_session(mut session: Arc<Session>) {
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        match Arc::try_unwrap(session) {
            Ok(session) => return live::shut_down(session).await,
            Err(shared) if Instant::now() < deadline => {
                session = shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => {
                eprintln!("error: the API still holds the session; exiting without a final checkpoint");
                return;
            }
        }
    }
}
