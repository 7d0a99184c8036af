//! The event log's line for one event of the daemon's stream: its name, the torrent (by name
//! when the snapshot knows it) and what changed.

use serde_json::Value;

/// The line for event `name` with JSON `data`; None for events not logged (progress, once a
/// second per torrent, would drown the rest). `torrent_name` names a torrent by info hash.
pub fn line(name: &str, data: &str, torrent_name: impl Fn(&str) -> Option<String>) -> Option<String> {
    if name == "progress" {
        return None;
    }
    let value: Value = serde_json::from_str(data).unwrap_or_default();
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    // Torrent events name it `info_hash`, alert events `torrent` (null for the session).
    let hash = value.get("info_hash").or_else(|| value.get("torrent")).and_then(Value::as_str).unwrap_or("");
    let label = torrent_name(hash)
        .or_else(|| value.get("name").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| hash.chars().take(8).collect());
    let detail = match name {
        "state_changed" => text("state"),
        "torrent_error" => text("error"),
        "alert_fired" => format!("{} ({})", text("rule"), text("severity")),
        "alert_resolved" => format!("{} ({})", text("rule"), text("reason")),
        "lagged" => format!("{} events missed", value.get("missed").and_then(Value::as_u64).unwrap_or(0)),
        _ => String::new(),
    };
    Some([name, &label, &detail].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("  "))
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn lines_name_the_torrent_and_the_change() {
        let named = |h: &str| (h == "ab").then(|| "debian.iso".to_owned());
        assert_eq!(line("progress", "{}", named), None);
        assert_eq!(
            line("state_changed", r#"{"info_hash":"ab","state":"paused"}"#, named).unwrap(),
            "state_changed  debian.iso  paused"
        );
        assert_eq!(
            line("alert_fired", r#"{"rule":"slow","severity":"warning","torrent":null}"#, named).unwrap(),
            "alert_fired  slow (warning)"
        );
        assert_eq!(
            line("alert_resolved", r#"{"rule":"slow","reason":"cleared","torrent":"ab"}"#, named).unwrap(),
            "alert_resolved  debian.iso  slow (cleared)"
        );
        assert_eq!(line("lagged", r#"{"missed":3}"#, named).unwrap(), "lagged  3 events missed");
    }
}
