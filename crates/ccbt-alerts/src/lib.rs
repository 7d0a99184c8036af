//! Alert rules for ccbt: a TOML rules file, a small safe condition language, an evaluator that
//! turns metric snapshots into fired/resolved events, and a bounded history.
//!
//! Pure: no clock (the caller passes `now`, in seconds), no threads, no sockets. The only file
//! access is the thin [`fs`] module; everything else takes and returns text and values.
//!
//! # Rules file
//!
//! A TOML file of `[[rule]]` tables (see [`rules_file`] for every key and default):
//!
//! ```toml
//! [[rule]]
//! name = "slow-download"                         # unique; letters, digits, _ - .
//! metric = "ccbt_download_rate_bytes_per_second" # one of the caller's metrics
//! condition = "value < 10 KiB"
//! severity = "warning"                           # info | warning | critical
//! cooldown_secs = 300
//! for_secs = 60
//! ```
//!
//! [`parse_rules`] checks a whole file and reports every problem with its line
//! (`line 7: unknown metric ...`); a file with any problem is refused whole. [`add_rule`] and
//! [`remove_rule`] edit the text and keep its comments.
//!
//! # Conditions
//!
//! ```text
//! condition  := or
//! or         := and ( "or" and )*
//! and        := unary ( "and" unary )*
//! unary      := "not" unary | "(" or ")" | comparison
//! comparison := "value" OP quantity
//! OP         := "<" | "<=" | ">" | ">=" | "==" | "!="
//! quantity   := ["-"] digits ["." digits] [unit]
//! unit       := ("B" | "kB" | "KB" | "MB" | "GB" | "TB" | "KiB" | "MiB" | "GiB" | "TiB") ["/s"]
//! ```
//!
//! `not` binds tighter than `and`, which binds tighter than `or`. Keywords are lower case, units
//! exactly as listed: decimal prefixes are powers of 1000, binary ones powers of 1024, and `/s`
//! is decoration (rate metrics are already per second). A unit may follow the number directly or
//! after spaces (`10KiB`, `10 KiB`). `%` is refused: metrics are compared in their own unit.
//! Exponents (`1e6`) are not part of the grammar. Comparisons are IEEE: `==` is exact.
//!
//! A condition is at most [`condition::MAX_LEN`] bytes and nests parentheses and `not` at most
//! [`condition::MAX_DEPTH`] deep; `and`/`or` chains are flat lists, so no input makes the parser
//! or the matcher recurse deeper than that. Errors give the byte offset of the problem.
//! A condition is only ever matched against a number; it cannot name anything but `value`.
//!
//! # Evaluation
//!
//! [`Evaluator::evaluate`] takes a [`Snapshot`] (values by metric and scope: session-wide or one
//! torrent) and `now`. Each rule is evaluated per scope: a rule with `torrent` reads that
//! torrent's value only; a rule without reads every scope the snapshot has for its metric, so a
//! rule on a per-torrent metric watches every torrent, each with its own state. A rule keeps state
//! only for scopes that are pending, firing or cooling down (ok scopes cost nothing), at most
//! `max_scopes_per_rule` of them; a further scope whose condition holds is skipped for that
//! evaluation and counted in [`Evaluation::untracked`] (scopes are visited in info-hash order, so
//! which ones are skipped is deterministic).
//!
//! Per scope: **ok** → the condition holds → **pending**; it **fires** at the first evaluation
//! `t` at which (1) it has held at every evaluation since it started holding at `since`,
//! (2) `t - since >= for_secs` and (3) `t >= resolved_at + cooldown_secs`, where `resolved_at` is
//! when this rule's alert for this scope last resolved. So after a resolve the alert does not
//! fire again within `cooldown_secs`; if the condition is still (or again) true when the cooldown
//! ends, it fires then. A firing alert **resolves** at the first evaluation where the condition
//! fails (`Cleared`), the scope has no value (`NoData`: a torrent removed), or the rule is removed,
//! disabled or changed ([`Evaluator::set_rules`]: `RuleRemoved`, `RuleChanged`). A NaN or
//! infinite value counts as no value. Events come in rule order, then scope order.
//!
//! # History
//!
//! [`History`] keeps the newest `capacity` events with growing sequence numbers and saves as
//! JSON; [`History::from_json`] refuses a damaged file naming line and column.

pub mod condition;
mod error;
mod eval;
mod event;
pub mod fs;
pub mod history;
mod rule;
mod rules_edit;
pub mod rules_file;
mod snapshot;

pub use condition::{parse_quantity, Condition, ConditionError};
pub use error::{FileError, RuleProblem, RulesError, RulesErrors};
pub use eval::{Evaluation, Evaluator, DEFAULT_MAX_SCOPES_PER_RULE};
pub use event::{ActiveAlert, AlertEvent, EventKind, ResolveReason};
pub use history::{AlertRecord, History, HistoryError};
pub use rule::{
    check_name, Metrics, NewRule, Rule, RuleSet, Severity, TestError, TestOutcome, DEFAULT_COOLDOWN_SECS,
    MAX_NAME_LEN, MAX_RULES, MAX_SECS,
};
pub use rules_edit::{add_rule, remove_rule};
pub use rules_file::parse_rules;
pub use snapshot::Snapshot;
