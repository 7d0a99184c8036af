//! The alerts pane's state: the daemon's alert rules with the alerts firing and pending now
//! (`GET /api/v1/alerts`, polled), and their history (`GET /api/v1/alerts/history`, fetched
//! from where the last answer ended, and the event stream's `alert_fired`/`alert_resolved`
//! between two polls), merged by sequence number so a record seen both ways shows once.

use std::collections::VecDeque;

use ccbt_api::{ActiveAlertView, AlertEventView, AlertHistoryView, AlertsView, PendingAlertView};

use super::format::{bytes, percent};

/// History records kept (the newest).
pub const HISTORY_KEPT: usize = 100;

/// What the daemon said about its alert rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Status {
    /// Not asked yet.
    #[default]
    Unknown,
    /// The daemon has no alert routes (an older daemon): why.
    Unavailable(String),
    Loaded(AlertsView),
}

/// Rules, alerts firing and pending, and the newest history records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alerts {
    pub status: Status,
    /// Oldest first, each sequence number once, at most [`HISTORY_KEPT`].
    pub history: VecDeque<AlertEventView>,
}

impl Alerts {
    pub fn set(&mut self, view: AlertsView) {
        self.status = Status::Loaded(view);
    }

    pub fn unavailable(&mut self, why: String) {
        self.status = Status::Unavailable(why);
    }

    /// Records from a history request.
    pub fn add_history(&mut self, answer: AlertHistoryView) {
        // Numbers at or above the daemon's next one: its history started again (a new state
        // folder); what was kept belongs to another history.
        if self.history.back().is_some_and(|r| r.seq >= answer.next_seq) {
            self.history.clear();
        }
        for record in answer.records {
            self.insert(record);
        }
    }

    /// An event of the stream; whether it was an alert event. A fired alert joins the firing
    /// ones and a resolved one leaves them at once; the next poll of the rules confirms it.
    pub fn on_event(&mut self, name: &str, data: &str) -> bool {
        if name != "alert_fired" && name != "alert_resolved" {
            return false;
        }
        let Ok(record) = serde_json::from_str::<AlertEventView>(data) else { return true };
        if let Status::Loaded(view) = &mut self.status {
            let same =
                |rule: &str, torrent: &Option<String>| rule == record.rule && *torrent == record.torrent;
            view.firing.retain(|a| !same(&a.rule, &a.torrent));
            if name == "alert_fired" {
                view.pending.retain(|p| !same(&p.rule, &p.torrent));
                view.firing.push(ActiveAlertView {
                    rule: record.rule.clone(),
                    severity: record.severity.clone(),
                    metric: record.metric.clone(),
                    torrent: record.torrent.clone(),
                    value: record.value.unwrap_or_default(),
                    since: record.at,
                });
            }
        }
        self.insert(record);
        true
    }

    fn insert(&mut self, record: AlertEventView) {
        let at = self.history.partition_point(|r| r.seq < record.seq);
        if self.history.get(at).is_some_and(|r| r.seq == record.seq) {
            return;
        }
        self.history.insert(at, record);
        while self.history.len() > HISTORY_KEPT {
            self.history.pop_front();
        }
    }

    /// The alerts firing now, the most severe first, then the oldest.
    pub fn firing(&self) -> Vec<&ActiveAlertView> {
        let Status::Loaded(view) = &self.status else { return Vec::new() };
        let mut firing: Vec<&ActiveAlertView> = view.firing.iter().collect();
        firing.sort_by_key(|a| (std::cmp::Reverse(severity_rank(&a.severity)), a.since, a.rule.clone()));
        firing
    }

    pub fn pending(&self) -> &[PendingAlertView] {
        match &self.status {
            Status::Loaded(view) => &view.pending,
            _ => &[],
        }
    }
}

/// `critical` above `warning` above `info` (anything else lowest).
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 3,
        "warning" => 2,
        "info" => 1,
        _ => 0,
    }
}

/// A metric's value in its unit, read from the metric's name: rates and byte counts in binary
/// units, ratios as percentages, counts as whole numbers.
pub fn metric_value(metric: &str, value: f64) -> String {
    let whole = || value.max(0.0).round() as u64;
    if metric.ends_with("_bytes_per_second") {
        format!("{}/s", bytes(whole()))
    } else if metric.ends_with("_bytes_total") || metric.ends_with("_bytes") {
        bytes(whole())
    } else if metric.ends_with("_ratio") {
        percent(value)
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.2}")
    }
}

/// Where the poller's history requests start: the first learns the newest number (no records),
/// the second fetches the newest [`HISTORY_KEPT`], and each later one only what is newer than
/// the last answer, so a poll costs nothing while nothing happens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryCursor {
    after: Option<u64>,
}

impl HistoryCursor {
    /// The API path of the next request.
    pub fn path(&self) -> String {
        match self.after {
            None => "/alerts/history?limit=0".to_owned(),
            Some(after) => format!("/alerts/history?after={after}"),
        }
    }

    /// Takes the answer to [`HistoryCursor::path`]; whether it is one to show (the first
    /// answer only placed the cursor).
    pub fn advance(&mut self, answer: &AlertHistoryView) -> bool {
        let newest = answer.next_seq.saturating_sub(1);
        match self.after {
            None => {
                self.after = Some(newest.saturating_sub(HISTORY_KEPT as u64));
                false
            }
            // The daemon's history started again: begin again from its newest records.
            Some(after) if newest < after => {
                self.after = None;
                true
            }
            Some(after) => {
                // Records dropped from a full history leave a gap: go on from the newest.
                self.after = Some(answer.records.last().map_or(newest.max(after), |r| r.seq));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_their_units() {
        assert_eq!(metric_value("ccbt_download_rate_bytes_per_second", 2048.0), "2.0 KiB/s");
        assert_eq!(metric_value("ccbt_wasted_bytes_total", 1536.0), "1.5 KiB");
        assert_eq!(metric_value("ccbt_torrent_progress_ratio", 0.5), "50.0%");
        assert_eq!(metric_value("ccbt_connected_peers", 3.0), "3");
        assert_eq!(metric_value("ccbt_connected_peers", 2.5), "2.50");
        assert!(severity_rank("critical") > severity_rank("warning"));
    }

    fn history(next_seq: u64, seqs: &[u64]) -> AlertHistoryView {
        let record = |seq| AlertEventView {
            seq,
            kind: "fired".into(),
            rule: "r".into(),
            severity: "warning".into(),
            metric: "m".into(),
            torrent: None,
            value: Some(1.0),
            at: 0,
            fired_at: None,
            reason: None,
        };
        AlertHistoryView { capacity: 1000, next_seq, records: seqs.iter().copied().map(record).collect() }
    }

    #[test]
    fn the_cursor_starts_at_the_newest_records_and_follows() {
        let mut cursor = HistoryCursor::default();
        assert_eq!(cursor.path(), "/alerts/history?limit=0");
        assert!(!cursor.advance(&history(501, &[])));
        assert_eq!(cursor.path(), "/alerts/history?after=400");
        assert!(cursor.advance(&history(501, &[401, 500])));
        assert_eq!(cursor.path(), "/alerts/history?after=500");
        // Nothing new: stays.
        assert!(cursor.advance(&history(501, &[])));
        assert_eq!(cursor.path(), "/alerts/history?after=500");
        // A history that started again: from the start.
        assert!(cursor.advance(&history(3, &[])));
        assert_eq!(cursor.path(), "/alerts/history?limit=0");
        // A short history: from 0.
        let mut cursor = HistoryCursor::default();
        cursor.advance(&history(5, &[]));
        assert_eq!(cursor.path(), "/alerts/history?after=0");
    }

    #[test]
    fn history_is_merged_by_number_and_bounded() {
        let mut alerts = Alerts::default();
        alerts.add_history(history(4, &[1, 3]));
        alerts.add_history(history(5, &[3, 2, 4]));
        let seqs: Vec<u64> = alerts.history.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        let many: Vec<u64> = (10..10 + HISTORY_KEPT as u64 + 5).collect();
        alerts.add_history(history(1000, &many));
        assert_eq!(alerts.history.len(), HISTORY_KEPT);
        assert_eq!(alerts.history.front().unwrap().seq, 15);
        // Another history (numbers below ours): replaces it.
        alerts.add_history(history(3, &[1, 2]));
        let seqs: Vec<u64> = alerts.history.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2]);
    }
}
