//! `/api/v1/alerts`: the alert rules with their state, adding and removing a rule, testing a
//! rule against a value, and the history of fired and resolved alerts. The API knows the rules
//! only through an [`AlertControl`] the daemon hands it (the ccbt binary's alert service), which
//! checks a new rule exactly as the rules file is checked and writes the file.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use ccbt_alerts::{ActiveAlert, AlertRecord, EventKind, NewRule, Rule};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::json;
use crate::{ApiContext, ApiError};

/// The most history records one request returns.
pub const MAX_HISTORY_PAGE: usize = 10_000;

/// The daemon's alert rules, as the API reads and changes them. `add` and `remove` write the
/// rules file (blocking); the others only read memory.
pub trait AlertControl: Send + Sync {
    /// The rules, their state and the alerts pending and firing now.
    fn list(&self) -> AlertsView;
    /// Adds a rule (400 `invalid_rule` naming the problem, 409 `rule_exists`, or 409
    /// `rules_file_invalid` when the file on disk has mistakes, with their lines).
    fn add(&self, rule: NewRule) -> Result<AlertRuleView, ApiError>;
    /// Removes rule `name` (404 `rule_not_found`).
    fn remove(&self, name: &str) -> Result<(), ApiError>;
    /// Whether rule `name`'s condition holds for `value` (a number, optionally with a unit).
    fn test(&self, name: &str, value: &str) -> Result<AlertTestView, ApiError>;
    /// The records numbered above `after`, oldest first, at most `limit`.
    fn history(&self, after: u64, limit: usize) -> AlertHistoryView;
    /// Each fired or resolved alert from now on (the event stream's `alert_fired` and
    /// `alert_resolved`).
    fn subscribe(&self) -> broadcast::Receiver<AlertRecord>;
}

/// `GET /api/v1/alerts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertsView {
    /// The rules file.
    pub rules_file: PathBuf,
    /// Why the rules file was last refused (`path:line: problem` lines); the rules before that
    /// stay in force. None when it loaded.
    pub rules_error: Option<String>,
    pub rules: Vec<AlertRuleView>,
    pub firing: Vec<ActiveAlertView>,
    pub pending: Vec<PendingAlertView>,
}

/// One rule, with the keys of the rules file, and its state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRuleView {
    pub name: String,
    pub metric: String,
    pub condition: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub cooldown_secs: u64,
    pub for_secs: u64,
    /// The one torrent the rule watches (info hash), if any.
    pub torrent: Option<String>,
    pub enabled: bool,
    /// `firing` (for some scope), `pending` (the condition holds, not fired yet), `ok`, or
    /// `disabled`.
    pub state: String,
}

impl AlertRuleView {
    /// The view of `rule` in `state`.
    pub fn new(rule: &Rule, state: &str) -> AlertRuleView {
        AlertRuleView {
            name: rule.name.clone(),
            metric: rule.metric.clone(),
            condition: rule.condition.as_str().to_owned(),
            severity: rule.severity.as_str().to_owned(),
            cooldown_secs: rule.cooldown_secs,
            for_secs: rule.for_secs,
            torrent: rule.torrent.map(|t| t.to_hex()),
            enabled: rule.enabled,
            state: state.to_owned(),
        }
    }
}

/// An alert firing now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlertView {
    pub rule: String,
    pub severity: String,
    pub metric: String,
    /// The torrent of the value; None for a session-wide metric.
    pub torrent: Option<String>,
    /// The latest value seen.
    pub value: f64,
    /// When it fired, Unix seconds.
    pub since: u64,
}

impl From<&ActiveAlert> for ActiveAlertView {
    fn from(a: &ActiveAlert) -> Self {
        ActiveAlertView {
            rule: a.rule.clone(),
            severity: a.severity.as_str().to_owned(),
            metric: a.metric.clone(),
            torrent: a.torrent.map(|t| t.to_hex()),
            value: a.value,
            since: a.since,
        }
    }
}

/// An alert whose condition holds but that has not fired yet (`for_secs` not over, or in its
/// cooldown).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingAlertView {
    pub rule: String,
    pub torrent: Option<String>,
    /// Since when the condition holds, Unix seconds.
    pub since: u64,
}

/// `POST /api/v1/alerts/rules`: the keys of a `[[rule]]` table, with the file's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleRequest {
    pub name: String,
    pub metric: String,
    pub condition: String,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub cooldown_secs: Option<u64>,
    #[serde(default)]
    pub for_secs: Option<u64>,
    #[serde(default)]
    pub torrent: Option<String>,
}

impl From<AlertRuleRequest> for NewRule {
    fn from(r: AlertRuleRequest) -> NewRule {
        NewRule {
            name: r.name,
            metric: r.metric,
            condition: r.condition,
            severity: r.severity,
            cooldown_secs: r.cooldown_secs,
            for_secs: r.for_secs,
            torrent: r.torrent,
        }
    }
}

/// `POST /api/v1/alerts/rules/{name}/test`: `{"value": 5000}` or `{"value": "5 KiB"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTestRequest {
    pub value: serde_json::Value,
}

/// The answer of a test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertTestView {
    pub rule: String,
    /// The value tested, its unit applied.
    pub value: f64,
    /// Whether the condition holds: the alert would fire (after `for_secs`, outside cooldown).
    pub holds: bool,
}

/// `GET /api/v1/alerts/history`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertHistoryView {
    /// How many records the history keeps (`alerts_history_size`).
    pub capacity: usize,
    /// The number the next record will get: ask for `after=next_seq-1` to wait for news.
    pub next_seq: u64,
    pub records: Vec<AlertEventView>,
}

/// One fired or resolved alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertEventView {
    /// Grows by one per record, never reused.
    pub seq: u64,
    /// `fired` or `resolved`.
    pub kind: String,
    pub rule: String,
    pub severity: String,
    pub metric: String,
    pub torrent: Option<String>,
    /// The value that fired or cleared it; None when it resolved without data.
    pub value: Option<f64>,
    /// When, Unix seconds.
    pub at: u64,
    /// For a resolve: when it had fired.
    pub fired_at: Option<u64>,
    /// For a resolve: `cleared`, `no_data`, `rule_removed` or `rule_changed`.
    pub reason: Option<String>,
}

impl From<&AlertRecord> for AlertEventView {
    fn from(r: &AlertRecord) -> Self {
        let e = &r.event;
        // The crate's own snake_case names, as its history file writes them.
        let word = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        AlertEventView {
            seq: r.seq,
            kind: word(serde_json::to_value(e.kind).unwrap_or_default()),
            rule: e.rule.clone(),
            severity: e.severity.as_str().to_owned(),
            metric: e.metric.clone(),
            torrent: e.torrent.map(|t| t.to_hex()),
            value: e.value,
            at: e.at,
            fired_at: e.fired_at,
            reason: e.reason.map(|r| word(serde_json::to_value(r).unwrap_or_default())),
        }
    }
}

type Ctx = State<Arc<ApiContext>>;

fn control(ctx: &ApiContext) -> Result<Arc<dyn AlertControl>, ApiError> {
    ctx.alerts.clone().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "no_alerts", "this API serves a session without alert rules")
    })
}

pub(crate) async fn list(State(ctx): Ctx) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &control(&ctx)?.list()))
}

pub(crate) async fn add(State(ctx): Ctx, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let request: AlertRuleRequest =
        crate::body::parse(body, "{\"name\": N, \"metric\": M, \"condition\": C, ...}")?;
    let control = control(&ctx)?;
    let view = tokio::task::spawn_blocking(move || control.add(request.into()))
        .await
        .map_err(|e| ApiError::internal(format!("adding the rule failed: {e}")))??;
    Ok(json(StatusCode::CREATED, &view))
}

pub(crate) async fn remove(State(ctx): Ctx, Path(name): Path<String>) -> Result<Response, ApiError> {
    let control = control(&ctx)?;
    tokio::task::spawn_blocking(move || control.remove(&name))
        .await
        .map_err(|e| ApiError::internal(format!("removing the rule failed: {e}")))??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn test(
    State(ctx): Ctx,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: AlertTestRequest = crate::body::parse(body, "{\"value\": V}")?;
    let value = match &request.value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(ApiError::bad_request("invalid_value", "`value` must be a number or a string")),
    };
    Ok(json(StatusCode::OK, &control(&ctx)?.test(&name, &value)?))
}

pub(crate) async fn history(State(ctx): Ctx, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let (after, limit) = history_params(query.as_deref())?;
    Ok(json(StatusCode::OK, &control(&ctx)?.history(after, limit)))
}

/// `after=SEQ` (default 0: from the oldest) and `limit=N` (default and most
/// [`MAX_HISTORY_PAGE`]).
fn history_params(query: Option<&str>) -> Result<(u64, usize), ApiError> {
    let (mut after, mut limit) = (0u64, MAX_HISTORY_PAGE);
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || {
            ApiError::bad_request("invalid_query", format!("`{key}` must be a whole number, not {value:?}"))
        };
        match key {
            "after" => after = value.parse().map_err(|_| bad())?,
            "limit" => limit = value.parse::<usize>().map_err(|_| bad())?.min(MAX_HISTORY_PAGE),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("unknown parameter `{key}`; use `after` and `limit`"),
                ))
            }
        }
    }
    Ok((after, limit))
}

/// The event stream's `alert_fired` and `alert_resolved` events (data: an [`AlertEventView`]),
/// when the API has alert rules. A subscriber too slow for the queue gets `lagged` with
/// `"stream": "alerts"`.
pub(crate) fn sse_events(
    ctx: &ApiContext,
) -> Option<impl futures_util::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let receiver = ctx.alerts.as_ref()?.subscribe();
    Some(futures_util::stream::unfold(receiver, |mut receiver| async move {
        let event = match receiver.recv().await {
            Ok(record) => {
                let name = match record.event.kind {
                    EventKind::Fired => "alert_fired",
                    EventKind::Resolved => "alert_resolved",
                };
                let data = serde_json::to_string(&AlertEventView::from(&record)).unwrap_or_default();
                SseEvent::default().event(name).data(data)
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let data = serde_json::json!({ "missed": missed, "stream": "alerts" });
                SseEvent::default().event("lagged").data(data.to_string())
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), receiver))
    }))
}

#[cfg(test)]
mod tests {
    use super::history_params;

    #[test]
    fn history_parameters_are_checked() {
        assert_eq!(history_params(None).unwrap(), (0, super::MAX_HISTORY_PAGE));
        assert_eq!(history_params(Some("after=5&limit=2")).unwrap(), (5, 2));
        assert_eq!(history_params(Some("limit=99999999")).unwrap().1, super::MAX_HISTORY_PAGE);
        assert_eq!(history_params(Some("after=x")).unwrap_err().code, "invalid_query");
        assert_eq!(history_params(Some("since=1")).unwrap_err().code, "invalid_query");
    }
}
