//! The alert history: a bounded ring of fired/resolved events, numbered, saved as JSON.
//!
//! The file is `{"format": "ccbt-alert-history", "version": 1, "next_seq": N, "records": [...]}`,
//! each record an [`AlertEvent`] plus its `seq`. Numbers only grow, so a client can ask for the
//! records after the last one it saw even when older ones have been dropped from the ring.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::event::AlertEvent;

/// The largest capacity accepted; a larger one is clamped to this.
pub const MAX_CAPACITY: usize = 100_000;
/// The `format` field of a history file.
pub const FORMAT: &str = "ccbt-alert-history";
/// The `version` this crate writes and reads.
pub const VERSION: u32 = 1;

/// An event with its sequence number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub seq: u64,
    #[serde(flatten)]
    pub event: AlertEvent,
}

/// The newest `capacity` events, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    capacity: usize,
    next_seq: u64,
    records: VecDeque<AlertRecord>,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    next_seq: u64,
    records: Vec<AlertRecord>,
}

/// Why a history file was not loaded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("damaged alert history (line {line}, column {column}): {message}")]
    Damaged { line: usize, column: usize, message: String },
    #[error("not an alert history file (format `{0}`)")]
    Format(String),
    #[error("alert history version {found} is not supported (this ccbt reads version {VERSION})")]
    Version { found: u32 },
    #[error("damaged alert history: record {index} has seq {seq}, not above the one before it")]
    OutOfOrder { index: usize, seq: u64 },
}

impl History {
    /// An empty history keeping at most `capacity` records (clamped to [`MAX_CAPACITY`]; 0 keeps
    /// none).
    pub fn new(capacity: usize) -> Self {
        History { capacity: capacity.min(MAX_CAPACITY), next_seq: 1, records: VecDeque::new() }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Appends an event, dropping the oldest record when full. Returns its sequence number.
    pub fn push(&mut self, event: AlertEvent) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.capacity == 0 {
            return seq;
        }
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(AlertRecord { seq, event });
        seq
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &AlertRecord> + ExactSizeIterator {
        self.records.iter()
    }

    /// The records numbered above `seq`, oldest first.
    pub fn after(&self, seq: u64) -> impl Iterator<Item = &AlertRecord> {
        // Numbers grow along the ring, so the start is found by bisection.
        let start = self.records.partition_point(|r| r.seq <= seq);
        self.records.range(start..)
    }

    /// The number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The history as the JSON of its file.
    pub fn to_json(&self) -> String {
        let file = File {
            format: FORMAT.to_owned(),
            version: VERSION,
            next_seq: self.next_seq,
            records: self.records.iter().cloned().collect(),
        };
        // Only strings, integers and finite floats: serialising cannot fail.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Reads the JSON of a history file, keeping the newest `capacity` records. A damaged file is
    /// an error naming where it is damaged; the caller decides whether to start afresh.
    pub fn from_json(text: &str, capacity: usize) -> Result<History, HistoryError> {
        let file: File = serde_json::from_str(text).map_err(|e| HistoryError::Damaged {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
        if file.format != FORMAT {
            return Err(HistoryError::Format(file.format));
        }
        if file.version != VERSION {
            return Err(HistoryError::Version { found: file.version });
        }
        for (index, pair) in file.records.windows(2).enumerate() {
            if pair[1].seq <= pair[0].seq {
                return Err(HistoryError::OutOfOrder { index: index + 1, seq: pair[1].seq });
            }
        }
        let mut history = History::new(capacity);
        let last = file.records.last().map_or(0, |r| r.seq);
        // A next_seq at or below a saved record would reuse its number.
        history.next_seq = file.next_seq.max(last.saturating_add(1)).max(1);
        let skip = file.records.len().saturating_sub(history.capacity);
        history.records = file.records.into_iter().skip(skip).collect();
        Ok(history)
    }
}

/// serde_json's message without its trailing " at line L column C" (we give those as fields).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
