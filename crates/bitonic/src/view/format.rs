//! Figures as the dashboard prints them: binary units, short durations, fixed widths.

/// `1.5 GiB`, `512 B`: binary units, one decimal from KiB up.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A rate, `1.5 MiB/s`; nothing moving is `-` (easier to scan in a column than `0 B/s`).
pub fn rate(bytes_per_second: u64) -> String {
    if bytes_per_second == 0 {
        "-".to_owned()
    } else {
        format!("{}/s", bytes(bytes_per_second))
    }
}

/// A duration in its two largest units: `45s`, `3m05s`, `2h07m`, `4d03h`; `∞` when unknown.
pub fn duration(secs: Option<u64>) -> String {
    let Some(s) = secs else { return "∞".to_owned() };
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A share ratio with two decimals; `∞` when something was uploaded from nothing downloaded.
pub fn ratio(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r.is_finite() => format!("{r:.2}"),
        Some(_) => "∞".to_owned(),
        None => "-".to_owned(),
    }
}

/// A percentage with one decimal, never `100.0%` before the end (rounding down).
pub fn percent(fraction: f64) -> String {
    let tenths = (fraction.clamp(0.0, 1.0) * 1000.0).floor() / 10.0;
    format!("{tenths:.1}%")
}

/// `text` cut to `width` characters, the last one an ellipsis when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_durations() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(rate(0), "-");
        assert_eq!(rate(2048), "2.0 KiB/s");
        assert_eq!(duration(None), "∞");
        assert_eq!(duration(Some(45)), "45s");
        assert_eq!(duration(Some(185)), "3m05s");
        assert_eq!(duration(Some(7620)), "2h07m");
        assert_eq!(duration(Some(4 * 86_400 + 3 * 3600 + 59)), "4d03h");
        assert_eq!(ratio(None), "-");
        assert_eq!(ratio(Some(f64::INFINITY)), "∞");
        assert_eq!(ratio(Some(0.5)), "0.50");
        assert_eq!(percent(0.9999), "99.9%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(percent(-3.0), "0.0%");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("abc", 0), "");
    }
}
