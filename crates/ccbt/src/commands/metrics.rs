//! The `/metrics` endpoint of a running session (`[observability] enable_metrics`), started by
//! `download`, `magnet`, `resume` (a download from a checkpoint), `seed`, `stream` and the daemon,
//! and (for the foreground commands) the alert rules beside it.

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

/// What watches a foreground session: its `/metrics` server (when enabled) and its alert rules.
/// Both stop when this is dropped.
pub struct Observers {
    _metrics: Option<MetricsServer>,
    _alerts: crate::alerts::AlertRunner,
}

/// A foreground session, its `/metrics` server and its alert rules: the session from
/// [`super::session_lock::new_session`], shut down again when the metrics cannot start.
pub async fn new_session_with_metrics(
    settings: &Effective,
    options: ccbt_engine::SessionOptions,
) -> anyhow::Result<(Session, Observers)> {
    let session = super::session_lock::new_session(options).await?;
    let started = match start(settings, &session).await {
        Ok(metrics) => crate::alerts::AlertRunner::start(settings, &session)
            .await
            .map(|alerts| Observers { _metrics: metrics, _alerts: alerts }),
        Err(e) => Err(e),
    };
    match started {
        Ok(observers) => Ok((session, observers)),
        Err(e) => {
            super::live::shut_down(session).await;
            Err(e)
        }
    }
}
