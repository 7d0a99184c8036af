//! Path sanitising: every component of every file path (and the torrent name) is checked before
//! anything is created on disk, because a torrent is untrusted input and a path like
//! `../../.bashrc` or `C:\Windows` must never escape the download folder.

/// Checks one path component; on failure returns why it is unsafe.
pub(crate) fn check_component(c: &str) -> Result<(), &'static str> {
    if c.is_empty() {
        return Err("empty path component");
    }
    if c == "." || c == ".." {
        return Err("relative path component");
    }
    if c.starts_with('/') || c.starts_with('\\') || is_drive_prefix(c) {
        return Err("absolute path");
    }
    if c.contains(['/', '\\']) {
        return Err("path separator inside a component");
    }
    if c.chars().any(char::is_control) {
        return Err("control character in path");
    }
    if c.ends_with('.') || c.ends_with(' ') {
        // Windows strips these, so `a.` and `a` would be the same file there.
        return Err("trailing dot or space");
    }
    if is_windows_reserved(c) {
        return Err("reserved device name");
    }
    Ok(())
}

/// Checks every component of `path`; `path` must not be empty. On failure returns why.
pub(crate) fn check_path(path: &[String]) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    path.iter().try_for_each(|c| check_component(c))
}

/// `C:` at the start of a component makes it drive-relative on Windows.
fn is_drive_prefix(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Windows device names are reserved with any extension (`con.txt` opens the console).
fn is_windows_reserved(c: &str) -> bool {
    let stem = c.split('.').next().unwrap_or(c).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => {
            let digit = upper.strip_prefix("COM").or_else(|| upper.strip_prefix("LPT"));
            matches!(digit, Some("1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"))
        }
    }
}

/// The path as the user should see it in an error.
pub(crate) fn display(path: &[String]) -> String {
    path.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for c in [
            "a",
            "file.txt",
            ".hidden",
            ".pad",
            "Movie: The Sequel",
            "ünïcödé",
            "con_txt",
            "com10",
            "lpt",
            "a..b",
            "x.y.z",
            "üb",
            "cöm1",
            "ä",
        ] {
            assert_eq!(check_component(c), Ok(()), "{c:?}");
        }
    }

    #[test]
    fn rejects_unsafe_components() {
        let cases = [
            ("", "empty path component"),
            (".", "relative path component"),
            ("..", "relative path component"),
            ("/abs", "absolute path"),
            ("\\abs", "absolute path"),
            ("C:", "absolute path"),
            ("c:\\windows", "absolute path"),
            ("../../etc/passwd", "path separator inside a component"),
            ("a/../b", "path separator inside a component"),
            ("a\\b", "path separator inside a component"),
            ("a\0b", "control character in path"),
            ("a\nb", "control character in path"),
            ("a\u{7f}", "control character in path"),
            ("a\u{85}", "control character in path"),
            ("name.", "trailing dot or space"),
            ("name ", "trailing dot or space"),
            ("con", "reserved device name"),
            ("CON", "reserved device name"),
            ("con.txt", "reserved device name"),
            ("Nul.tar.gz", "reserved device name"),
            ("aux", "reserved device name"),
            ("prn", "reserved device name"),
            ("com1", "reserved device name"),
            ("COM9.log", "reserved device name"),
            ("lpt5", "reserved device name"),
            ("com¹", "reserved device name"),
            ("con .txt", "reserved device name"),
        ];
        for (c, reason) in cases {
            assert_eq!(check_component(c), Err(reason), "{c:?}");
        }
    }

    #[test]
    fn checks_every_component() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(check_path(&p(&["dir", "file"])), Ok(()));
        assert_eq!(check_path(&p(&["dir", "..", "file"])), Err("relative path component"));
        assert_eq!(check_path(&p(&["dir", ""])), Err("empty path component"));
        assert_eq!(check_path(&[]), Err("empty path"));
        assert_eq!(display(&p(&["a", "b"])), "a/b");
    }
}
