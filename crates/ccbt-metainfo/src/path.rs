//! Path sanitising: every component of every file path (and the torrent name) is rewritten into
//! a safe, portable file name before anything is created on disk, because a torrent is untrusted
//! input and a path like `../../.bashrc` or `C:\Windows` must never escape the download folder.
//!
//! The mapping follows libtorrent's `sanitize_append_path_element`, so a torrent opens with the
//! same file names in ccbt as in libtorrent-based clients (qBittorrent, Deluge), and ccbt opens
//! the odd torrents users meet in the wild instead of refusing them:
//!
//! | raw component                                    | becomes                              |
//! |--------------------------------------------------|--------------------------------------|
//! | `/`, `\` and NUL inside a component             | removed (`a/../b` → `a..b`)          |
//! | zero-width and bidi-control characters           | removed (they disguise extensions)   |
//! | control characters (C0, DEL, C1), invalid UTF-8  | `_`                                  |
//! | empty, `.`, `..` (also once the above is done)   | `_` (the torrent name: dropped)      |
//! | longer than 240 bytes                            | cut at 240, keeping a short extension |
//!
//! Then ccbt applies libtorrent's Windows rules on every platform, so a download folder is valid
//! on every OS and two names that are one file on Windows never meet: trailing dots and spaces
//! are trimmed (`foobar ` → `foobar`, and a name left empty becomes `_`), reserved device names
//! get a `_` prefix (`con.txt` → `_con.txt`), and a drive prefix loses its colon (`C:x` → `C_x`).
//! The output is never empty, `.` or `..`, and never holds a separator or a control character.

/// Most components one file path may have: libtorrent's `max_directory_depth`. A deeper path is
/// refused before any of it is read, so a path of 30,000 components costs nothing. With every
/// component cut to at most [`MAX_COMPONENT_BYTES`] plus a short extension, this also bounds the
/// bytes of a path (about 25 KiB).
pub const MAX_PATH_COMPONENTS: usize = 100;

/// Bytes of a component kept before it is cut (libtorrent's figure; file systems allow 255).
pub(crate) const MAX_COMPONENT_BYTES: usize = 240;

/// The longest extension kept on a cut component, counting its dot (libtorrent's figure).
const MAX_EXTENSION_BYTES: usize = 9;

/// What [`sanitize_component`] makes of a component with nothing usable left in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IfEmpty {
    /// `_`: every path element must stay, or `a/../b` would turn into a different file.
    Underscore,
    /// Nothing (`None`): the torrent name, which then falls back to the info hash.
    Drop,
}

/// Sanitises one raw path component as the module documentation describes.
pub(crate) fn sanitize_component(raw: &[u8], if_empty: IfEmpty) -> Option<String> {
    if raw.is_empty() {
        // libtorrent keeps an empty element as `_` even for the name.
        return Some("_".to_owned());
    }
    let mut out = String::with_capacity(raw.len().min(MAX_COMPONENT_BYTES + MAX_EXTENSION_BYTES));
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_filtered(c) {
                continue;
            }
            out.push(if is_control(c) { '_' } else { c });
        }
        if !chunk.invalid().is_empty() {
            out.push('_');
        }
    }
    cut_long(&mut out);
    if has_drive_prefix(&out) {
        out.replace_range(1..2, "_");
    }
    let kept = out.trim_end_matches(['.', ' ']).len();
    out.truncate(kept);
    if out.is_empty() {
        return match if_empty {
            IfEmpty::Underscore => Some("_".to_owned()),
            IfEmpty::Drop => None,
        };
    }
    if is_windows_reserved(&out) {
        out.insert(0, '_');
    }
    Some(out)
}

/// Characters dropped without a trace: path separators, NUL, and the zero-width and
/// bidi-control characters that can make `exe.avi` look like `avi.exe` (libtorrent's list).
fn is_filtered(c: char) -> bool {
    matches!(
        c,
        '/' | '\\'
            | '\0'
            | '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

/// C0 controls, DEL and C1 controls: replaced by `_`.
fn is_control(c: char) -> bool {
    c.is_control()
}

/// Cuts a component longer than [`MAX_COMPONENT_BYTES`] at the first character boundary at or
/// past the limit, then re-appends the extension if the original ended in a short one (a dot
/// among its last [`MAX_EXTENSION_BYTES`] bytes, past the cut).
fn cut_long(s: &mut String) {
    if s.len() <= MAX_COMPONENT_BYTES {
        return;
    }
    let boundary_from = |i: usize| (i..=s.len()).find(|&j| s.is_char_boundary(j)).unwrap_or(s.len());
    let cut = boundary_from(MAX_COMPONENT_BYTES);
    let tail_start = boundary_from(cut.max(s.len() - MAX_EXTENSION_BYTES));
    let extension = s
        .get(tail_start..)
        .and_then(|tail| tail.rfind('.'))
        .and_then(|dot| s.get(tail_start + dot..))
        .unwrap_or_default()
        .to_owned();
    s.truncate(cut);
    s.push_str(&extension);
}

/// `C:` at the start of a component makes it drive-relative on Windows.
fn has_drive_prefix(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Windows device names are reserved with any extension (`con.txt` opens the console).
fn is_windows_reserved(c: &str) -> bool {
    let stem = c.split('.').next().unwrap_or(c).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" | "CLOCK$" => true,
        _ => {
            let digit = upper.strip_prefix("COM").or_else(|| upper.strip_prefix("LPT"));
            matches!(digit, Some("0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"))
        }
    }
}

/// Whether `c` is a path component the parser can produce: a name every platform can create
/// inside the download folder without leaving it (not empty, `.` or `..`, no separator, control
/// or invisible character, no trailing dot or space, no drive prefix or device name, at most
/// 255 bytes). Every component of every [`crate::FileEntry`] path passes.
pub fn is_portable_component(c: &str) -> bool {
    !c.is_empty()
        && c != "."
        && c != ".."
        && !c.contains(['/', '\\'])
        && !c.chars().any(|ch| is_control(ch) || is_filtered(ch))
        && !c.ends_with(['.', ' '])
        && !has_drive_prefix(c)
        && !is_windows_reserved(c)
        && c.len() <= 255
}

/// The path as the user should see it in an error.
pub(crate) fn display(path: &[String]) -> String {
    path.join("/")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn file(raw: &str) -> String {
        sanitize_component(raw.as_bytes(), IfEmpty::Underscore).unwrap()
    }

    #[test]
    fn ordinary_names_are_kept() {
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
            "cöm1",
            "...a",
        ] {
            assert_eq!(file(c), c, "{c:?}");
            assert!(is_portable_component(c), "{c:?}");
        }
    }

    #[test]
    fn unsafe_names_are_mapped_as_libtorrent_does() {
        let cases = [
            ("", "_"),
            (".", "_"),
            ("..", "_"),
            ("...", "_"),
            ("/", "_"),
            ("\\", "_"),
            ("/abs", "abs"),
            ("\\abs", "abs"),
            ("../../etc/passwd", "....etcpasswd"),
            ("a/../b", "a..b"),
            ("a\\b", "ab"),
            ("a\0b", "ab"),
            ("a\x01b", "a_b"),
            ("a\nb", "a_b"),
            ("a\u{7f}", "a_"),
            ("a\u{85}b", "a_b"),
            ("evil\u{202e}gpj.exe", "evilgpj.exe"),
            ("zero\u{200b}width", "zerowidth"),
            ("name.", "name"),
            ("name ", "name"),
            ("foobar ", "foobar"),
            ("con", "_con"),
            ("CON.txt", "_CON.txt"),
            ("Nul.tar.gz", "_Nul.tar.gz"),
            ("com1", "_com1"),
            ("con .txt", "_con .txt"),
            ("C:", "C_"),
            ("c:\\windows", "c_windows"),
        ];
        for (raw, want) in cases {
            assert_eq!(file(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn invalid_utf8_becomes_underscores() {
        let got = sanitize_component(b"caf\xe9.txt", IfEmpty::Underscore).unwrap();
        assert_eq!(got, "caf_.txt");
    }

    #[test]
    fn the_name_is_dropped_when_nothing_is_left() {
        for raw in [&b"."[..], b"..", b"/", b". ", b"\0\0\0\0"] {
            assert_eq!(sanitize_component(raw, IfEmpty::Drop), None, "{raw:?}");
        }
        assert_eq!(sanitize_component(b"", IfEmpty::Drop).as_deref(), Some("_"));
        assert_eq!(sanitize_component(b"a/..", IfEmpty::Drop).as_deref(), Some("a"));
    }

    #[test]
    fn long_components_are_cut_keeping_the_extension() {
        let stem = "abcdefghij0123456789".repeat(15);
        assert_eq!(file(&format!("{stem}.mkv")), format!("{}.mkv", &stem[..240]));
        assert_eq!(file(&stem), &stem[..240]);
        // An extension longer than the limit is not one.
        assert_eq!(file(&format!("{stem}.verylongext")), &stem[..240]);
        // Cut on a character boundary: 'é' is two bytes.
        let wide = "é".repeat(200);
        assert_eq!(file(&wide), "é".repeat(120));
    }

    proptest! {
        #[test]
        fn every_output_is_portable(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let out = sanitize_component(&raw, IfEmpty::Underscore).unwrap();
            prop_assert!(is_portable_component(&out), "{raw:?} -> {out:?}");
        }

        #[test]
        fn every_text_output_is_portable(raw in "\\PC{0,300}") {
            let out = sanitize_component(raw.as_bytes(), IfEmpty::Underscore).unwrap();
            prop_assert!(is_portable_component(&out), "{raw:?} -> {out:?}");
        }
    }
}
