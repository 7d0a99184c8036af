//! The dialogs: the remove confirmation and the one-line prompts (add, limits, filter), with
//! path completion for `add` over a directory listing the caller supplies.

/// A dialog over the screen; while one is open it takes every key.
#[derive(Clone, Debug, PartialEq)]
pub enum Dialog {
    /// `y` removes and keeps the data, `D` removes and deletes the data, `n`/Esc cancels.
    Remove {
        info_hash: String,
        name: String,
    },
    Prompt(Prompt),
}

/// What a prompt asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Purpose {
    /// A `.torrent` path or a magnet link.
    Add,
    /// `DOWN UP` in KiB/s for one torrent.
    TorrentLimits { info_hash: String, name: String },
    /// `DOWN UP` in KiB/s for the session.
    SessionLimits,
    /// The list's filter, applied as it is typed.
    Filter,
}

/// A one-line text prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub purpose: Purpose,
    pub text: String,
    /// Why the last Enter was refused.
    pub error: Option<String>,
    /// The names the last Tab could complete to, when there were several.
    pub candidates: Vec<String>,
}

impl Prompt {
    pub fn new(purpose: Purpose, text: &str) -> Prompt {
        Prompt { purpose, text: text.to_owned(), error: None, candidates: Vec::new() }
    }

    pub fn title(&self) -> String {
        match &self.purpose {
            Purpose::Add => "Add: .torrent path (Tab completes) or magnet link".to_owned(),
            Purpose::TorrentLimits { name, .. } => {
                format!("Limits of {name}: DOWN UP in KiB/s, 0 = unlimited")
            }
            Purpose::SessionLimits => "Session limits: DOWN UP in KiB/s, 0 = unlimited".to_owned(),
            Purpose::Filter => "Filter: part of a name, or an info hash prefix".to_owned(),
        }
    }
}

/// One directory entry offered for completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
}

/// Completes `text` (a path) given the entries of the folder it names; `home` replaces a
/// leading `~`. Only folders and `.torrent` files are offered; hidden ones only when the
/// typed part starts with a dot. Gives the new text and the candidates when several remain.
pub fn complete(text: &str, entries: &[Entry]) -> (String, Vec<String>) {
    let (folder, typed) = split_path(text);
    let mut candidates: Vec<String> = entries
        .iter()
        .filter(|e| e.name.starts_with(typed))
        .filter(|e| typed.starts_with('.') || !e.name.starts_with('.'))
        .filter(|e| e.is_dir || e.name.ends_with(".torrent"))
        .map(|e| if e.is_dir { format!("{}/", e.name) } else { e.name.clone() })
        .collect();
    candidates.sort();
    match candidates.len() {
        0 => (text.to_owned(), Vec::new()),
        1 => (format!("{folder}{}", candidates[0]), Vec::new()),
        _ => {
            let common = common_prefix(&candidates);
            (format!("{folder}{common}"), candidates)
        }
    }
}

/// The folder part of `text` (with its trailing `/`, empty for the current folder) and the name
/// being typed.
pub fn split_path(text: &str) -> (&str, &str) {
    match text.rfind('/') {
        Some(at) => (&text[..=at], &text[at + 1..]),
        None => ("", text),
    }
}

fn common_prefix(words: &[String]) -> String {
    let first = &words[0];
    let mut end = first.len();
    for word in &words[1..] {
        end = end.min(first.bytes().zip(word.bytes()).take_while(|(a, b)| a == b).count());
    }
    // Back to a character boundary.
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    first[..end].to_owned()
}

/// `DOWN UP` in KiB/s as bytes per second (each a whole number, 0 = unlimited).
pub fn parse_limits(text: &str) -> Result<(u64, u64), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [down, up] = words[..] else {
        return Err("type two numbers: DOWN UP in KiB/s (0 = unlimited)".to_owned());
    };
    let kib = |word: &str, which: &str| -> Result<u64, String> {
        word.parse::<u64>()
            .ok()
            .and_then(|k| k.checked_mul(1024))
            .filter(|&b| b <= ccbt_api::MAX_RATE)
            .ok_or_else(|| {
                format!(
                    "{which} {word:?} is not a whole number of KiB/s (0 to {})",
                    ccbt_api::MAX_RATE / 1024
                )
            })
    };
    Ok((kib(down, "download")?, kib(up, "upload")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        let e = |name: &str, is_dir| Entry { name: name.to_owned(), is_dir };
        vec![
            e("debian.torrent", false),
            e("debian-12.torrent", false),
            e("docs", true),
            e("notes.txt", false),
            e(".hidden.torrent", false),
        ]
    }

    #[test]
    fn completes_folders_and_torrent_files() {
        assert_eq!(
            complete("dl/deb", &entries()),
            ("dl/debian".to_owned(), vec!["debian-12.torrent".to_owned(), "debian.torrent".to_owned()])
        );
        assert_eq!(complete("dl/debian.", &entries()), ("dl/debian.torrent".to_owned(), vec![]));
        assert_eq!(complete("do", &entries()), ("docs/".to_owned(), vec![]));
        assert_eq!(complete("no", &entries()), ("no".to_owned(), vec![]), "not a torrent");
        assert_eq!(complete("/x/.h", &entries()), ("/x/.hidden.torrent".to_owned(), vec![]));
        let (text, all) = complete("/x/", &entries());
        assert_eq!(text, "/x/d", "hidden files are not offered for an empty name");
        assert_eq!(all.len(), 3);
        assert_eq!(split_path("a/b/c"), ("a/b/", "c"));
        assert_eq!(split_path("c"), ("", "c"));
        assert_eq!(common_prefix(&["éa".to_owned(), "éb".to_owned()]), "é");
    }

    #[test]
    fn limits_are_two_numbers_of_kib() {
        assert_eq!(parse_limits("100 0"), Ok((100 * 1024, 0)));
        assert_eq!(parse_limits("  5   7 "), Ok((5 * 1024, 7 * 1024)));
        assert!(parse_limits("5").unwrap_err().contains("two numbers"));
        assert!(parse_limits("5 x").unwrap_err().contains("upload \"x\""));
        assert!(parse_limits("-1 0").unwrap_err().contains("download"));
        assert!(parse_limits("99999999999999999999 0").is_err());
        assert!(parse_limits(&format!("{} 0", ccbt_api::MAX_RATE)).is_err(), "KiB, not bytes");
    }
}
