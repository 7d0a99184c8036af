//! The query of `GET /api/v1/torrents`: `?state=downloading,seeding&name=ubuntu` keeps the
//! torrents in one of the states whose name contains the text (any case). Every parameter is
//! optional; an unknown one, or an unknown state, is refused rather than ignored.

use crate::{ApiError, TorrentView};

/// The states a filter may name, as `TorrentView::state` spells them.
pub const STATES: &[&str] = &["fetching_metadata", "checking", "downloading", "seeding", "paused", "error"];

/// What `GET /api/v1/torrents` keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Empty: every state.
    pub states: Vec<String>,
    /// Lower case; None: every name.
    pub name: Option<String>,
}

impl ListFilter {
    /// Parses a raw query string (percent-encoded, `+` for a space).
    pub fn parse(query: Option<&str>) -> Result<ListFilter, ApiError> {
        let mut filter = ListFilter::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match decode(key)?.as_str() {
                "state" => {
                    for state in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        if !STATES.contains(&state) {
                            return Err(ApiError::bad_request(
                                "invalid_state",
                                format!("unknown state {state:?}: use {}", STATES.join(", ")),
                            ));
                        }
                        filter.states.push(state.to_owned());
                    }
                }
                "name" => filter.name = Some(value.to_lowercase()),
                other => {
                    return Err(ApiError::bad_request(
                        "unknown_parameter",
                        format!("unknown query parameter {other:?}: use state and name"),
                    ))
                }
            }
        }
        Ok(filter)
    }

    /// Whether `torrent` passes.
    pub fn keeps(&self, torrent: &TorrentView) -> bool {
        (self.states.is_empty() || self.states.contains(&torrent.state))
            && self.name.as_ref().map_or(true, |n| torrent.name.to_lowercase().contains(n))
    }
}

fn decode(text: &str) -> Result<String, ApiError> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::bad_request("invalid_query", format!("{text:?} is not percent-encoded UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_names_parse_and_bad_ones_are_named() {
        let f = ListFilter::parse(Some("state=downloading,seeding&name=Ubuntu%20Desk+top")).unwrap();
        assert_eq!(f.states, ["downloading", "seeding"]);
        assert_eq!(f.name.as_deref(), Some("ubuntu desk top"));
        assert_eq!(ListFilter::parse(None).unwrap(), ListFilter::default());
        let e = ListFilter::parse(Some("state=done")).unwrap_err();
        assert_eq!(e.code, "invalid_state");
        assert!(e.message.contains("\"done\""), "{}", e.message);
        assert_eq!(ListFilter::parse(Some("sort=name")).unwrap_err().code, "unknown_parameter");
        assert_eq!(ListFilter::parse(Some("name=%FF")).unwrap_err().code, "invalid_query");
    }
}
