//! Human-readable sizes, rates, durations and dates, and parsing of sizes given on the command
//! line. Binary units throughout (KiB = 1024 bytes), as torrent piece sizes are powers of two.

use std::time::{Duration, SystemTime};

use indicatif::{BinaryBytes, HumanDuration};

/// `0 B`, `1023 B`, `1.00 KiB`, `431.20 MiB`: indicatif's binary units, as in the progress bar.
pub fn human_bytes(bytes: u64) -> String {
    BinaryBytes(bytes).to_string()
}

/// A rate in bytes per second: `120.40 MiB/s`.
pub fn human_rate(bytes_per_sec: u64) -> String {
    format!("{}/s", human_bytes(bytes_per_sec))
}

/// A duration in whole seconds, short and rounded: `5s`, `3m`, `2h`, `4d`.
pub fn human_duration(secs: u64) -> String {
    format!("{:#}", HumanDuration(Duration::from_secs(secs)))
}

/// A duration with a tenth of a second below one minute (`12.3s`), else like [`human_duration`].
pub fn human_elapsed(elapsed: Duration) -> String {
    if elapsed.as_secs() < 60 {
        format!("{:.1}s", elapsed.as_secs_f64())
    } else {
        human_duration(elapsed.as_secs())
    }
}

/// Bytes per second over `elapsed`, 0 when no time passed.
pub fn average_rate(bytes: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        // Saturating float-to-int conversion: no overflow possible.
        (bytes as f64 / secs) as u64
    } else {
        0
    }
}

/// Parses `262144`, `256KiB`, `256 KiB`, `256k`, `4MiB`, `4M`, `1GiB`: bytes or binary units.
/// `KB`/`MB`/`GB` are read as binary too, because that is what users of torrent tools mean.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!("`{text}` is not a size: expected a number like 262144 or 256KiB"));
    }
    let number: u64 = digits.parse().map_err(|_| format!("`{digits}` is too large"))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(format!("unknown size unit `{other}`: use B, KiB, MiB or GiB"));
        }
    };
    number.checked_mul(1u64 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

/// Renders seconds since the Unix epoch as `2024-05-01 12:34:56 UTC`; None for a date that
/// cannot be shown (before 1970 or after 9999, as a hostile torrent may claim).
pub fn format_utc(epoch_secs: i64) -> Option<String> {
    let secs = u64::try_from(epoch_secs).ok()?;
    let time = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
    // humantime refuses nothing in range but prints years past 9999 oddly; cap there.
    if secs > 253_402_300_799 {
        return None;
    }
    let rfc3339 = humantime::format_rfc3339_seconds(time).to_string();
    Some(rfc3339.replacen('T', " ", 1).replacen('Z', " UTC", 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.00 KiB");
        assert_eq!(human_bytes(452_143_923), "431.20 MiB");
        assert_eq!(human_bytes(1 << 30), "1.00 GiB");
        assert_eq!(human_rate(126_248_550), "120.40 MiB/s");
        assert_eq!(human_rate(0), "0 B/s");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(187), "3m");
        assert_eq!(human_duration(7500), "2h");
        assert!(!human_duration(u64::MAX).is_empty());
        assert_eq!(human_elapsed(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(human_elapsed(Duration::from_secs(120)), "2m");
    }

    #[test]
    fn average() {
        assert_eq!(average_rate(1000, Duration::from_secs(2)), 500);
        assert_eq!(average_rate(1000, Duration::ZERO), 0);
        assert_eq!(average_rate(u64::MAX, Duration::from_nanos(1)), u64::MAX);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("262144"), Ok(262_144));
        assert_eq!(parse_size("256KiB"), Ok(262_144));
        assert_eq!(parse_size("256 kib"), Ok(262_144));
        assert_eq!(parse_size("256k"), Ok(262_144));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("4MB"), Ok(4 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size(" 16384b "), Ok(16_384));
        assert!(parse_size("").is_err());
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("4 TB").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("17179869184GiB").is_err());
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0).as_deref(), Some("1970-01-01 00:00:00 UTC"));
        assert_eq!(format_utc(951_782_400).as_deref(), Some("2000-02-29 00:00:00 UTC"));
        assert_eq!(format_utc(1_714_566_896).as_deref(), Some("2024-05-01 12:34:56 UTC"));
        // Absurd values from a torrent file are refused, never a panic.
        assert_eq!(format_utc(-1), None);
        assert_eq!(format_utc(i64::MAX), None);
    }
}
