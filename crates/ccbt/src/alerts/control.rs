//! The API's view of the alert service (`/api/v1/alerts...` and the event stream).

use axum::http::StatusCode;
use ccbt_alerts::{AlertRecord, NewRule, TestError};
use ccbt_api::{
    ActiveAlertView, AlertControl, AlertEventView, AlertHistoryView, AlertRuleView, AlertTestView,
    AlertsView, ApiError, PendingAlertView,
};
use tokio::sync::broadcast;

use super::edit::EditError;
use super::{unix_now, AlertService};

impl AlertControl for AlertService {
    fn list(&self) -> AlertsView {
        self.with_state(|evaluator, error| {
            let firing = evaluator.firing();
            let pending = evaluator.pending();
            let rules = evaluator
                .rules()
                .iter()
                .map(|rule| {
                    let state = if !rule.enabled {
                        "disabled"
                    } else if firing.iter().any(|a| a.rule == rule.name) {
                        "firing"
                    } else if pending.iter().any(|(name, _, _)| *name == rule.name) {
                        "pending"
                    } else {
                        "ok"
                    };
                    AlertRuleView::new(rule, state)
                })
                .collect();
            AlertsView {
                rules_file: self.rules_path().to_owned(),
                rules_error: error.map(str::to_owned),
                rules,
                firing: firing.iter().map(ActiveAlertView::from).collect(),
                pending: pending
                    .into_iter()
                    .map(|(rule, torrent, since)| PendingAlertView {
                        rule,
                        torrent: torrent.map(|t| t.to_hex()),
                        since,
                    })
                    .collect(),
            }
        })
    }

    fn add(&self, rule: NewRule) -> Result<AlertRuleView, ApiError> {
        let rule = AlertService::add(self, &rule, unix_now()).map_err(edit_error)?;
        let state = self.list().rules.into_iter().find(|r| r.name == rule.name).map(|r| r.state);
        Ok(AlertRuleView::new(&rule, state.as_deref().unwrap_or("ok")))
    }

    fn remove(&self, name: &str) -> Result<(), ApiError> {
        AlertService::remove(self, name, unix_now()).map_err(edit_error)
    }

    fn test(&self, name: &str, value: &str) -> Result<AlertTestView, ApiError> {
        match AlertService::test(self, name, value) {
            Ok(outcome) => {
                Ok(AlertTestView { rule: name.to_owned(), value: outcome.value, holds: outcome.holds })
            }
            Err(e @ TestError::Rule(_)) => {
                Err(ApiError::new(StatusCode::NOT_FOUND, "rule_not_found", e.to_string()))
            }
            Err(e @ TestError::Value { .. }) => Err(ApiError::bad_request("invalid_value", e.to_string())),
        }
    }

    fn history(&self, after: u64, limit: usize) -> AlertHistoryView {
        let (capacity, next_seq, records) = AlertService::history(self, after, limit);
        AlertHistoryView { capacity, next_seq, records: records.iter().map(AlertEventView::from).collect() }
    }

    fn subscribe(&self) -> broadcast::Receiver<AlertRecord> {
        AlertService::subscribe(self)
    }
}

/// The API error of a refused edit.
fn edit_error(e: EditError) -> ApiError {
    let message = e.to_string();
    match e {
        EditError::Invalid(_) => ApiError::bad_request("invalid_rule", message),
        EditError::Exists(_) => ApiError::conflict("rule_exists", message),
        EditError::Unknown(_) => ApiError::new(StatusCode::NOT_FOUND, "rule_not_found", message),
        EditError::BadFile(_) => ApiError::conflict("rules_file_invalid", message),
        EditError::Io(_) => ApiError::internal(message),
    }
}
