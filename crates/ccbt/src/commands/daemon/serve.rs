//! `ccbt daemon start --foreground`: the daemon itself. It takes the state folder's lock,
//! binds the API, starts the session, restores every torrent from its checkpoint, publishes
//! its address and token, and serves the API until SIGTERM or Ctrl-C; then it shuts the
//! session down (every torrent writes its checkpoint) and exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ccbt_api::{Access, ApiContext, Token};
use ccbt_config::Effective;
use ccbt_engine::Session;
use tokio::sync::oneshot;

use super::config_api::DaemonConfig;
use super::lock::{DaemonInfo, DaemonLock, TOKEN_FILE};
use super::restore::{restore, Restore};
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
    let metrics = match crate::commands::metrics::start(settings, &session).await {
        Ok(server) => server,
        Err(e) => {
            stop_session(session).await;
            lock.clear();
            return Err(e);
        }
    };
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
            let (config, watcher) = configuration(settings, &session);
            let context = Arc::new(ApiContext {
                session: session.clone(),
                started,
                pid,
                torrent_limits: torrent_limits(settings),
                config: Some(config),
            });
            let router = ccbt_api::router(context, Access { token, addr: api_addr });
            let signal = async move {
                if let Ok(name) = stop.await {
                    tracing::info!("{name}: stopping the daemon");
                }
            };
            let served = ccbt_api::serve(listener, router, signal).await.context("the API server failed");
            // The watcher holds the session too: it lets go before the session stops.
            if let Some(watcher) = watcher {
                watcher.abort();
                let _ = watcher.await;
            }
            served
        }
    };
    drop(metrics);
    stop_session(session).await;
    let _ = std::fs::remove_file(&token_path);
    lock.clear();
    result.map(|()| Exit::Success)
}

/// The configuration the API shows and edits, and the task that hot-reloads its file (unless
/// `config_reload = false`, as in a foreground session).
fn configuration(
    settings: &Effective,
    session: &Arc<Session>,
) -> (Arc<DaemonConfig>, Option<tokio::task::JoinHandle<()>>) {
    // `main` always offers the settings it loaded (with the layers above the file); should they
    // be missing, the effective configuration alone stands, with no layer kept above the file.
    let loaded = crate::reload::claim_settings().unwrap_or_else(|| crate::settings::Settings {
        effective: settings.clone(),
        sources: Default::default(),
        log_filter: None,
    });
    let path = match &loaded.sources.file {
        Some(file) => file.path.clone(),
        None => crate::settings::file_to_edit(None),
    };
    let config = DaemonConfig::new(crate::reload::Reloader::editable(&loaded, path));
    let watch = settings.config().observability.config_reload;
    let watcher = watch.then(|| config.clone().watch(session.clone()));
    (config, watcher)
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
