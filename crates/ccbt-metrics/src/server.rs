//! The `/metrics` HTTP endpoint: GET only, no authentication (it serves counters, never control),
//! on loopback unless configured otherwise.

use std::net::SocketAddr;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ccbt_engine::SnapshotSource;
use tokio::task::JoinHandle;

use crate::encode::{encode, CONTENT_TYPE};

/// A running metrics endpoint; dropping it stops the server.
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` and serves `GET /metrics` from `source` (a snapshot per scrape) until
    /// dropped.
    pub async fn start(addr: SocketAddr, source: SnapshotSource) -> std::io::Result<MetricsServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = router(source);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the metrics endpoint stopped");
            }
        });
        tracing::info!(%addr, "serving metrics at http://{addr}/metrics");
        Ok(MetricsServer { addr, task })
    }

    /// The address it listens on (the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The endpoint's routes: `GET /metrics` only.
pub fn router(source: SnapshotSource) -> Router {
    Router::new().route("/metrics", get(move || scrape(source.clone())))
}

async fn scrape(source: SnapshotSource) -> Response {
    match source.snapshot().await {
        Some(snapshot) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], encode(&snapshot)).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "the session has stopped\n").into_response(),
    }
}
