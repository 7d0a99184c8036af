//! Prometheus metrics of a ccbt session: the text exposition of a
//! [`ccbt_engine::SessionSnapshot`] ([`encode`]) and the `/metrics` endpoint serving it
//! ([`MetricsServer`]), as `[observability] enable_metrics` turns on in the foreground session
//! and the daemon.
//!
//! [`alert_snapshot`] gives alert rules the same figures under the same names.
//!
//! Every scrape takes one snapshot, so all series of a scrape agree with each other and with
//! `ccbt status --json`. Hot-path counters are plain atomics in the engine, read at scrape time.

mod alert_values;
mod encode;
mod server;

pub use alert_values::{alert_metrics, alert_snapshot};
pub use encode::{encode, CONTENT_TYPE, TORRENT_SERIES_CAP};
pub use server::{router, MetricsServer};
