//! `ccbt daemon start --foreground`: the daemon itself. It takes the state folder's lock,
//! binds the API, starts the session, restores every torrent from its checkpoint, publishes
//! its address and token, and serves the API until SIGTERM or Ctrl-C; then it shuts the
//! session down (every torrent writes its checkpoint) and exits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ccbt_api::{Access, ApiContext, Token, XetFollows, FOLLOWS_FILE};
use ccbt_config::Effective;
use ccbt_engine::Session;
use tokio::sync::oneshot;

use super::config_api::DaemonConfig;
use super::lock::{LockInfo, Role, StateLock, TOKEN_FILE};
use super::restore::{restore, Restore};
use super::tls;
use crate::commands::{live, session_lock, Exit};
use crate::options::{session_options, torrent_limits};

/// How long the stopping daemon waits for the API's last connections to let go of the session.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

pub async fn run(settings: &Effective, insecure_remote: bool) -> anyhow::Result<Exit> {
    let config = settings.config();
    let state_dir = config.disk.state_dir.clone();
    let api_host = config.daemon.api_host;
    let tls = api_security(config, insecure_remote)?;
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create the state folder {}", state_dir.display()))?;
    let Some(mut lock) = StateLock::acquire(&state_dir).context("cannot open the daemon's lock file")? else {
        eprintln!("error: {}", super::already_running(&state_dir));
        return Ok(Exit::Failure);
    };
    let pid = std::process::id();
    let mut info = LockInfo::new(Role::Daemon, session_lock::command_line());
    lock.publish(&info).context("cannot write the lock file")?;
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
    let session = Arc::new(session_lock::new_session(options).await?);
    info.listen = Some(session.listen_addr());
    let metrics = match crate::commands::metrics::start(settings, &session).await {
        Ok(server) => server,
        Err(e) => {
            stop_session(session).await;
            lock.clear();
            return Err(e);
        }
    };
    let alerts = match crate::alerts::AlertRunner::start(settings, &session).await {
        Ok(alerts) => alerts,
        Err(e) => {
            drop(metrics);
            stop_session(session).await;
            lock.clear();
            return Err(e);
        }
    };
    let restored = restore(&session, &mut stop).await;
    let follows = Arc::new(open_follows(&state_dir));
    let token = Token::generate();
    let token_path = state_dir.join(TOKEN_FILE);
    let url = client_url(api_addr, tls.is_some());
    info.url = Some(url.clone());
    info.cert = tls.as_ref().map(|(cert, _)| cert.clone());
    let published = token
        .write_to(&token_path)
        .map_err(anyhow::Error::from)
        .and_then(|()| lock.publish(&info).context("cannot write the lock file"));
    let result = match (published, restored) {
        (Err(e), _) => Err(e),
        (Ok(()), Restore::Stopped) => Ok(()),
        (Ok(()), Restore::Done(count)) => {
            let following = follows.start(&session, session.dht_status().await.is_some());
            println!("ccbt daemon (pid {pid}) serving {url}; {count} torrent(s) restored, {following} xet follow(s) resumed");
            tracing::info!(%url, pid, restored = count, following, "daemon started");
            let (config, watcher) = configuration(settings, &session);
            let context = Arc::new(ApiContext {
                session: session.clone(),
                started,
                pid,
                torrent_limits: torrent_limits(settings),
                config: Some(config),
                alerts: Some(alerts.service()),
                xet_follows: Some(follows.clone()),
                closing: ccbt_api::Closing::default(),
            });
            let closing = context.closing.clone();
            let router = ccbt_api::router(context, Access { token, addr: api_addr, https: tls.is_some() });
            let signal = async move {
                if let Ok(name) = stop.await {
                    tracing::info!("{name}: stopping the daemon");
                }
                closing.close();
            };
            let served = serve_api(listener, tls.map(|(_, config)| config), router, signal).await;
            // The watcher holds the session too: it lets go before the session stops.
            if let Some(watcher) = watcher {
                watcher.abort();
                let _ = watcher.await;
            }
            served
        }
    };
    drop(metrics);
    drop(alerts);
    // The follows act on the session's torrents: they stop first (their records stay).
    follows.shutdown().await;
    drop(follows);
    stop_session(session).await;
    let _ = std::fs::remove_file(&token_path);
    lock.clear();
    result.map(|()| Exit::Success)
}

/// The follows recorded in the state folder; a damaged file is reported (and moved aside),
/// never fatal.
fn open_follows(state_dir: &std::path::Path) -> XetFollows {
    let (follows, problem) = XetFollows::open(state_dir.join(FOLLOWS_FILE));
    if let Some(problem) = problem {
        eprintln!("error: xet follows: {problem}");
    }
    follows
}

/// The API's TLS (the certificate's path and the server configuration), or None for plain
/// HTTP, which only a loopback address or `--insecure-remote` allows.
fn api_security(
    config: &ccbt_config::Config,
    insecure_remote: bool,
) -> anyhow::Result<Option<(PathBuf, Arc<rustls::ServerConfig>)>> {
    let api_host = config.daemon.api_host;
    if let Some((cert, key)) = tls::configured(config)? {
        let server = tls::server_config(&cert, &key)?;
        return Ok(Some((cert, server)));
    }
    if api_host.is_loopback() {
        return Ok(None);
    }
    anyhow::ensure!(
        insecure_remote,
        "api_host = {api_host} is not a loopback address: set `[daemon] tls_cert` and `tls_key` to serve the API over HTTPS, or start with `ccbt daemon start --insecure-remote` to accept plain HTTP (the token and everything else would cross the network readable)"
    );
    let warning = format!(
        "the API listens on {api_host} over plain HTTP (--insecure-remote): anyone on the network path can read the token"
    );
    eprintln!("warning: {warning}");
    tracing::warn!("{warning}");
    Ok(None)
}

/// The base URL local clients use: a wildcard address is reached through loopback.
fn client_url(addr: SocketAddr, https: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = ccbt_api::base_url(SocketAddr::new(ip, addr.port()));
    if https {
        url.replacen("http://", "https://", 1)
    } else {
        url
    }
}

/// Serves the API, over TLS when configured, until `signal`.
async fn serve_api(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: axum::Router,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let served = match tls {
        None => ccbt_api::serve(listener, router, signal).await,
        Some(config) => {
            let listener =
                tls::TlsListener::new(listener, config).context("cannot set up the TLS listener")?;
            axum::serve(listener, router).with_graceful_shutdown(signal).await
        }
    };
    served.context("the API server failed")
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

#[cfg(test)]
mod tests {
    use super::client_url;

    #[test]
    fn local_clients_reach_a_wildcard_api_through_loopback() {
        assert_eq!(client_url("0.0.0.0:6890".parse().unwrap(), true), "https://127.0.0.1:6890");
        assert_eq!(client_url("[::]:6890".parse().unwrap(), false), "http://[::1]:6890");
        assert_eq!(client_url("192.0.2.7:1".parse().unwrap(), false), "http://192.0.2.7:1");
        assert_eq!(client_url("127.0.0.1:2".parse().unwrap(), true), "https://127.0.0.1:2");
    }
}
