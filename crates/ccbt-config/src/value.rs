//! The value types a setting can have, and how each is read from TOML and from text (environment
//! variables and `key=value` overrides), checked against its bounds and printed.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// Bounds of a setting beyond its type. Declared per key in the schema, printed in the docs and in
/// errors, so what is checked and what is documented cannot differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bounds {
    /// Any value of the type.
    Any,
    /// An integer (or a number of seconds) from `min` to `max` inclusive.
    Int { min: u64, max: u64 },
    /// A non-empty list whose items are `HOST:PORT`.
    HostPorts,
}

/// Why a raw value was refused (the caller adds the key and where the value came from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The value has the wrong type: `found` describes what was given.
    WrongType { found: String },
    /// The value has the right type but is outside the allowed values.
    OutOfRange { value: String },
}

/// A type a setting can have.
pub trait SettingValue: Clone + PartialEq + Sized {
    /// The type in words, for errors and docs ("integer", "boolean", ...).
    fn type_name() -> String;
    /// Reads a TOML value (from the file or a per-torrent table).
    fn from_toml(value: &toml_edit::Value) -> Result<Self, Problem>;
    /// Reads text (an environment variable or a `key=value` override).
    fn from_text(text: &str) -> Result<Self, Problem>;
    /// Whether the value is inside `bounds`.
    fn within(&self, bounds: Bounds) -> bool;
    /// The value as TOML, for `config set` and `config show`.
    fn to_toml(&self) -> toml_edit::Value;
    /// The value as a user writes it (no quotes), for `config get`.
    fn render(&self) -> String;
}

fn found_toml(value: &toml_edit::Value) -> Problem {
    Problem::WrongType { found: format!("{} {}", value.type_name(), value.to_string().trim()) }
}

fn found_text(text: &str) -> Problem {
    Problem::WrongType { found: format!("`{text}`") }
}

macro_rules! integer_setting {
    ($($ty:ty),*) => {$(
        impl SettingValue for $ty {
            fn type_name() -> String {
                "integer".into()
            }
            fn from_toml(value: &toml_edit::Value) -> Result<Self, Problem> {
                let n = value.as_integer().ok_or_else(|| found_toml(value))?;
                <$ty>::try_from(n).map_err(|_| Problem::OutOfRange { value: n.to_string() })
            }
            fn from_text(text: &str) -> Result<Self, Problem> {
                let text = text.trim();
                let n: i128 = text.parse().map_err(|_| found_text(text))?;
                <$ty>::try_from(n).map_err(|_| Problem::OutOfRange { value: n.to_string() })
            }
            fn within(&self, bounds: Bounds) -> bool {
                match bounds {
                    Bounds::Int { min, max } => (min..=max).contains(&(*self as u64)),
                    Bounds::Any | Bounds::HostPorts => true,
                }
            }
            fn to_toml(&self) -> toml_edit::Value {
                // Every bound in the schema fits an i64 (TOML integers are i64).
                toml_edit::Value::from(i64::try_from(*self).unwrap_or(i64::MAX))
            }
            fn render(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

integer_setting!(u16, u32, u64, usize);

impl SettingValue for bool {
    fn type_name() -> String {
        "boolean".into()
    }
    fn from_toml(value: &toml_edit::Value) -> Result<Self, Problem> {
        value.as_bool().ok_or_else(|| found_toml(value))
    }
    /// Environment variables are often written `1`/`0`, `yes`/`no` or `on`/`off`.
    fn from_text(text: &str) -> Result<Self, Problem> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(found_text(text)),
        }
    }
    fn within(&self, _: Bounds) -> bool {
        true
    }
    fn to_toml(&self) -> toml_edit::Value {
        toml_edit::Value::from(*self)
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for PathBuf {
    fn type_name() -> String {
        "path (string)".into()
    }
    fn from_toml(value: &toml_edit::Value) -> Result<Self, Problem> {
        value.as_str().map(PathBuf::from).ok_or_else(|| found_toml(value))
    }
    fn from_text(text: &str) -> Result<Self, Problem> {
        Ok(PathBuf::from(text))
    }
    fn within(&self, _: Bounds) -> bool {
        !self.as_os_str().is_empty()
    }
    fn to_toml(&self) -> toml_edit::Value {
        toml_edit::Value::from(self.to_string_lossy().as_ref())
    }
    fn render(&self) -> String {
        self.display().to_string()
    }
}

/// An optional file: a path, or the empty string for none (TOML has no null).
impl SettingValue for Option<PathBuf> {
    fn type_name() -> String {
        "path (string; \"\": none)".into()
    }
    fn from_toml(value: &toml_edit::Value) -> Result<Self, Problem> {
        let text = value.as_str().ok_or_else(|| found_toml(value))?;
        Self::from_text(text)
    }
    fn from_text(text: &str) -> Result<Self, Problem> {
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }
    fn within(&self, _: Bounds) -> bool {
        true
    }
    fn to_toml(&self) -> toml_edit::Value {
        toml_edit::Value::from(self.render())
    }
    fn render(&self) -> String {
        self.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
    }
}

impl SettingValue for IpAddr {
    fn type_name() -> String {
        "IP address (string)".into()
    }
    fn from_toml(value: &toml_edit::Value) -> Result<Self, Problem> {
        let text = value.as_str().ok_or_else(|| found_toml(value))?;
        Self::from_text(text)
    }
    fn from_text(text: &str) -> Result<Self, Problem> {
        text.trim().parse().map_err(|_| found_text(text))
    }
    fn within(&self, _: Bounds) -> bool {
        true
    }
    fn to_toml(&self) -> toml_edit::Value {
        toml_edit::Value::from(self.to_string())
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

/// A list of strings: an array in TOML, comma-separated in text.
impl SettingValue for Vec<String> {
    fn type_name() -> String {
        "array of strings".into()
    }
    fn from_toml(value: &toml_edit::Value) -> Result<Self, Problem> {
        let array = value.as_array().ok_or_else(|| found_toml(value))?;
        array.iter().map(|item| item.as_str().map(str::to_owned).ok_or_else(|| found_toml(item))).collect()
    }
    fn from_text(text: &str) -> Result<Self, Problem> {
        Ok(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
    }
    fn within(&self, bounds: Bounds) -> bool {
        match bounds {
            Bounds::HostPorts => !self.is_empty() && self.iter().all(|item| is_host_port(item)),
            Bounds::Any | Bounds::Int { .. } => true,
        }
    }
    fn to_toml(&self) -> toml_edit::Value {
        toml_edit::Value::Array(self.iter().map(String::as_str).collect())
    }
    fn render(&self) -> String {
        self.join(",")
    }
}

/// `host:port` or `[v6]:port` with a port from 1 to 65535.
fn is_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else { return false };
    let host_ok = !host.is_empty() && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')));
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}

/// A duration written as whole seconds (`request_timeout = 30`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Seconds(pub u64);

impl Seconds {
    /// The duration the engine uses.
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl SettingValue for Seconds {
    fn type_name() -> String {
        "integer (seconds)".into()
    }
    fn from_toml(value: &toml_edit::Value) -> Result<Self, Problem> {
        u64::from_toml(value).map(Seconds)
    }
    fn from_text(text: &str) -> Result<Self, Problem> {
        u64::from_text(text).map(Seconds)
    }
    fn within(&self, bounds: Bounds) -> bool {
        self.0.within(bounds)
    }
    fn to_toml(&self) -> toml_edit::Value {
        self.0.to_toml()
    }
    fn render(&self) -> String {
        self.0.to_string()
    }
}

/// Declares an enum whose values are written as fixed lower-case words (accepted in any case, so
/// the seeds' `CCBT_LOG_LEVEL=DEBUG` works as written).
macro_rules! choice_setting {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            /// Every accepted word, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// The word of this value.
            pub fn word(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl SettingValue for $name {
            fn type_name() -> String {
                let words: Vec<String> = Self::WORDS.iter().map(|w| format!("\"{w}\"")).collect();
                format!("one of {}", words.join(", "))
            }
            fn from_toml(value: &toml_edit::Value) -> Result<Self, Problem> {
                let text = value.as_str().ok_or_else(|| found_toml(value))?;
                Self::from_text(text)
            }
            fn from_text(text: &str) -> Result<Self, Problem> {
                match text.trim().to_ascii_lowercase().as_str() {
                    $($word => Ok($name::$variant),)+
                    _ => Err(Problem::OutOfRange { value: format!("\"{text}\"") }),
                }
            }
            fn within(&self, _: Bounds) -> bool {
                true
            }
            fn to_toml(&self) -> toml_edit::Value {
                toml_edit::Value::from(self.word())
            }
            fn render(&self) -> String {
                self.word().to_owned()
            }
        }
    };
}

choice_setting!(
    /// Order in which pieces are requested (`piece_selection`).
    PieceSelection {
        /// Pieces fewest peers have first.
        RarestFirst = "rarest_first",
        /// In piece order.
        Sequential = "sequential",
        /// Spread over pieces in turn.
        RoundRobin = "round_robin",
    }
);

choice_setting!(
    /// How upload slots are shared while seeding (`seed_choking`).
    SeedChoking {
        /// Every interested peer gets an equal share of bytes, in turn.
        RoundRobin = "round_robin",
        /// The peers that take the most keep their slots.
        FastestUpload = "fastest_upload",
    }
);

choice_setting!(
    /// How files are created on disk (`preallocate`).
    Preallocate {
        /// Files grow as they are written.
        None = "none",
        /// The length is set (sparse files).
        Sparse = "sparse",
        /// Space is reserved (`posix_fallocate`).
        Full = "full",
    }
);

choice_setting!(
    /// Which checkpoint files are written (`checkpoint_format`).
    CheckpointFormat {
        /// Readable JSON (`<info hash>.checkpoint.json`).
        Json = "json",
        /// Compressed, checksummed binary (`<info hash>.checkpoint.bin`).
        Binary = "binary",
        /// Both files; loading takes the newer valid one.
        Both = "both",
    }
);

choice_setting!(
    /// Log verbosity on stderr (`log_level`).
    LogLevel {
        /// Errors only.
        Error = "error",
        /// Errors and warnings.
        Warn = "warn",
        /// Progress of ccbt's own crates.
        Info = "info",
        /// Everything at debug level.
        Debug = "debug",
        /// Everything.
        Trace = "trace",
    }
);

choice_setting!(
    /// How log records are written (`log_format`).
    LogFormat {
        /// One readable line per record.
        Text = "text",
        /// One JSON object per line (`timestamp`, `level`, `target`, `fields`, spans).
        Json = "json",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_items() {
        assert!(is_host_port("router.bittorrent.com:6881"));
        assert!(is_host_port("[::1]:6881"));
        assert!(is_host_port("127.0.0.1:1"));
        assert!(!is_host_port("router.bittorrent.com"));
        assert!(!is_host_port(":6881"));
        assert!(!is_host_port("host:0"));
        assert!(!is_host_port("host:70000"));
        assert!(!is_host_port("::1:6881"));
    }

    #[test]
    fn integers_refuse_negative_and_overflow() {
        let value = toml_edit::Value::from(-1);
        assert_eq!(u16::from_toml(&value), Err(Problem::OutOfRange { value: "-1".into() }));
        assert_eq!(u16::from_text("70000"), Err(Problem::OutOfRange { value: "70000".into() }));
        assert!(matches!(u16::from_text("12a"), Err(Problem::WrongType { .. })));
    }

    #[test]
    fn choices_accept_any_case() {
        assert_eq!(LogLevel::from_text("DEBUG"), Ok(LogLevel::Debug));
        assert_eq!(PieceSelection::from_text("Sequential"), Ok(PieceSelection::Sequential));
        assert_eq!(LogFormat::from_text("JSON"), Ok(LogFormat::Json));
        assert!(matches!(PieceSelection::from_text("random"), Err(Problem::OutOfRange { .. })));
    }
}
