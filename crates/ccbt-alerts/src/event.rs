//! What the evaluator reports: an alert fired or resolved, and the alerts firing now.

use ccbt_core::InfoHash;
use serde::{Deserialize, Serialize};

use crate::rule::Severity;

/// Whether an alert started or stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Fired,
    Resolved,
}

/// Why an alert stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveReason {
    /// The condition no longer holds.
    Cleared,
    /// The metric is no longer reported for this scope (a torrent removed, a metric gone).
    NoData,
    /// The rule was removed or disabled.
    RuleRemoved,
    /// The rule was replaced by one with the same name and another definition.
    RuleChanged,
}

/// One alert firing or resolving, for one rule and one scope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub kind: EventKind,
    pub rule: String,
    pub severity: Severity,
    pub metric: String,
    /// The torrent the value belongs to; `None` for a session-wide metric.
    #[serde(default, with = "hex_opt", skip_serializing_if = "Option::is_none")]
    pub torrent: Option<InfoHash>,
    /// The value that fired or cleared the alert; `None` when resolved without data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// When this happened (the caller's `now`, seconds).
    pub at: u64,
    /// For a resolve: when the alert had fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<u64>,
    /// For a resolve: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ResolveReason>,
}

/// An alert firing now (`ccbt alerts list` shows these next to the rules).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    pub rule: String,
    pub severity: Severity,
    pub metric: String,
    #[serde(default, with = "hex_opt", skip_serializing_if = "Option::is_none")]
    pub torrent: Option<InfoHash>,
    /// The latest value seen while firing.
    pub value: f64,
    /// When it fired.
    pub since: u64,
}

/// Info hashes as 40 lower-case hex characters in JSON.
pub(crate) mod hex_opt {
    use ccbt_core::InfoHash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &Option<InfoHash>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(hash) => s.serialize_str(&hash.to_hex()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<InfoHash>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|hex| {
            hex.parse().map_err(|_| {
                serde::de::Error::custom(format!("`{hex}` is not an info hash (40 hex characters)"))
            })
        })
        .transpose()
    }
}
