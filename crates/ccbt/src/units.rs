//! Human-readable sizes, rates, durations and dates, and parsing of sizes given on the command
//! line. Binary units throughout (KiB = 1024 bytes), as torrent piece sizes are powers of two.

use std::fmt::Write as _;

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `0 B`, `1023 B`, `1.0 KiB`, `431.2 MiB`, ... with one decimal above 1 KiB.
pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    // 1023.97 KiB would print as "1024.0 KiB"; move it to the next unit instead.
    if value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A rate in bytes per second: `120.4 MiB/s`.
pub fn human_rate(bytes_per_sec: u64) -> String {
    format!("{}/s", human_bytes(bytes_per_sec))
}

/// A duration in whole seconds: `5s`, `3m 07s`, `2h 05m`, `4d 03h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A duration with a tenth of a second below one minute (`12.3s`), else like [`human_duration`].
pub fn human_elapsed(elapsed: std::time::Duration) -> String {
    if elapsed.as_secs() < 60 {
        format!("{:.1}s", elapsed.as_secs_f64())
    } else {
        human_duration(elapsed.as_secs())
    }
}

/// Bytes per second over `elapsed`, 0 when no time passed.
pub fn average_rate(bytes: u64, elapsed: std::time::Duration) -> u64 {
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

/// Renders seconds since the Unix epoch as `2024-05-01 12:34:56 UTC`.
pub fn format_utc(epoch_secs: i64) -> String {
    let days = epoch_secs.div_euclid(86_400);
    let secs_of_day = epoch_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    );
    out
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Clamp so the arithmetic below cannot overflow for absurd timestamps from a torrent file.
    let z = days.clamp(-1_000_000_000_000, 1_000_000_000_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(452_143_923), "431.2 MiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
        assert_eq!(human_bytes((1 << 20) - 1), "1.0 MiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
        assert_eq!(human_rate(126_248_550), "120.4 MiB/s");
        assert_eq!(human_rate(0), "0 B/s");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(187), "3m 07s");
        assert_eq!(human_duration(7500), "2h 05m");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600 + 5), "3d 04h");
        assert_eq!(human_duration(u64::MAX), "213503982334601d 07h");
        assert_eq!(human_elapsed(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(human_elapsed(Duration::from_secs(61)), "1m 01s");
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
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_714_566_896), "2024-05-01 12:34:56 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
        // Absurd values from a torrent file render without panicking.
        assert!(!format_utc(i64::MAX).is_empty());
        assert!(!format_utc(i64::MIN).is_empty());
    }
}
