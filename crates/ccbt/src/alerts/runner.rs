//! The task that evaluates the rules every second on the live session. A tick reads the rules
//! file's metadata (and the file when it changed) and writes the history on a blocking thread,
//! takes one snapshot of the session (each lock held only while its figures are copied, as for
//! `/metrics`), and steps the evaluator; with no rule in force it takes no snapshot at all.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ccbt_config::Effective;
use ccbt_engine::{Session, SnapshotSource};
use tokio::task::JoinHandle;

use super::{history_path, rules_path, unix_now, AlertService};

/// How often the rules are evaluated (and the file checked for edits).
const EVERY: Duration = Duration::from_secs(1);

/// The running alert service of a session; dropping it stops the evaluation.
pub struct AlertRunner {
    service: Arc<AlertService>,
    task: JoinHandle<()>,
}

impl AlertRunner {
    /// Opens the rules and history of `settings` and evaluates them on `session` every second.
    pub async fn start(settings: &Effective, session: &Session) -> anyhow::Result<AlertRunner> {
        let rules = rules_path(settings);
        let history = history_path(settings);
        let capacity = settings.config().observability.alerts_history_size;
        let service = tokio::task::spawn_blocking(move || {
            AlertService::open(rules, history, capacity, ccbt_metrics::alert_metrics(), unix_now())
        })
        .await
        .context("opening the alert rules failed")?;
        let service = Arc::new(service);
        let task = tokio::spawn(run(service.clone(), session.snapshot_source()));
        Ok(AlertRunner { service, task })
    }

    pub fn service(&self) -> Arc<AlertService> {
        self.service.clone()
    }
}

impl Drop for AlertRunner {
    fn drop(&mut self) {
        self.task.abort();
        // The history is written after every tick that added to it; this catches the last one
        // should the abort have come between the two.
        if let Err(e) = self.service.save_history() {
            tracing::warn!(error = %e, "cannot write the alert history");
        }
    }
}

async fn run(service: Arc<AlertService>, source: SnapshotSource) {
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let svc = service.clone();
        if tokio::task::spawn_blocking(move || svc.reload_if_changed(unix_now())).await.is_err() {
            return;
        }
        let wanted = service.wanted();
        if !wanted.is_empty() {
            let Some(snapshot) = source.snapshot().await else { return };
            let values = ccbt_metrics::alert_snapshot(&snapshot, |name| wanted.contains(name));
            drop(snapshot);
            service.evaluate(&values, unix_now());
        }
        let svc = service.clone();
        match tokio::task::spawn_blocking(move || svc.save_history()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot write the alert history"),
            Err(_) => return,
        }
    }
}
