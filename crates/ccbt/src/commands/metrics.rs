//! The `/metrics` endpoint of a running session (`[observability] enable_metrics`), started by
//! `download`, `magnet`, `resume` (a download from a checkpoint), `seed`, `stream` and the daemon.

use anyhow::Context;
use ccbt_config::Effective;
use ccbt_engine::Session;
use ccbt_metrics::MetricsServer;

/// Starts the endpoint when the configuration asks for it; it stops when the returned server is
/// dropped. Its address goes to stderr (the port may be 0 in the configuration).
pub async fn start(settings: &Effective, session: &Session) -> anyhow::Result<Option<MetricsServer>> {
    let o = &settings.config().observability;
    if !o.enable_metrics {
        return Ok(None);
    }
    let addr = std::net::SocketAddr::new(o.metrics_host, o.metrics_port);
    let server = MetricsServer::start(addr, session.snapshot_source())
        .await
        .with_context(|| format!("cannot listen for metrics on {addr} (metrics_port, metrics_host)"))?;
    eprintln!("metrics: http://{}/metrics", server.local_addr());
    Ok(Some(server))
}

/// A foreground session and its `/metrics` server: the session from
/// [`super::session_lock::new_session`], shut down again when the metrics cannot start.
pub async fn new_session_with_metrics(
    settings: &Effective,
    options: ccbt_engine::SessionOptions,
) -> anyhow::Result<(Session, Option<MetricsServer>)> {
    let session = super::session_lock::new_session(options).await?;
    match start(settings, &session).await {
        Ok(server) => Ok((session, server)),
        Err(e) => {
            super::live::shut_down(session).await;
            Err(e)
        }
    }
}
