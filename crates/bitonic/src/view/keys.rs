//! The key map: one table that both dispatches keys and prints the `?` help, so the help lists
//! every key there is. Keys are this crate's own type; the terminal layer translates crossterm's.

/// A key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    /// Ctrl+C.
    Interrupt,
}

/// Where a key applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Every screen.
    Anywhere,
    /// The torrent list.
    List,
    /// A torrent's tabs.
    Torrent,
    /// A torrent's files tab.
    Files,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Anywhere => "Anywhere",
            Context::List => "Torrent list",
            Context::Torrent => "Torrent view",
            Context::Files => "Files tab",
        }
    }
}

/// What a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Opens the selected torrent's tabs.
    Open,
    /// Back to the list (closes the torrent view).
    Back,
    NextTab,
    PrevTab,
    GlobalScreen,
    Filter,
    NextSortKey,
    ReverseSort,
    Add,
    PauseResume,
    Remove,
    Recheck,
    Reannounce,
    TorrentLimits,
    SessionLimits,
    /// Files tab: the selected file's priority one step up or down.
    PriorityUp,
    PriorityDown,
    /// Files tab: skip the selected file, or download it again (normal).
    ToggleSkip,
}

/// One line of the key map.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub keys: &'static [Key],
    /// How the help shows the keys.
    pub label: &'static str,
    pub context: Context,
    pub action: Action,
    pub help: &'static str,
}

const fn bind(
    keys: &'static [Key],
    label: &'static str,
    context: Context,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding { keys, label, context, action, help }
}

use Action as A;
use Context as C;
use Key as K;

/// Every key. The first binding of a key in a context wins; `Anywhere` bindings come after the
/// screen's own, so a screen may give a key another meaning.
pub const BINDINGS: &[Binding] = &[
    bind(&[K::Char('q'), K::Interrupt], "q", C::Anywhere, A::Quit, "quit (the daemon keeps running)"),
    bind(&[K::Char('?')], "?", C::Anywhere, A::Help, "show or hide this help"),
    bind(&[K::Up, K::Char('k')], "↑ k", C::Anywhere, A::Up, "move up"),
    bind(&[K::Down, K::Char('j')], "↓ j", C::Anywhere, A::Down, "move down"),
    bind(&[K::PageUp], "PgUp", C::Anywhere, A::PageUp, "page up"),
    bind(&[K::PageDown], "PgDn", C::Anywhere, A::PageDown, "page down"),
    bind(&[K::Home, K::Char('g')], "Home g", C::Anywhere, A::Top, "first row"),
    bind(&[K::End, K::Char('G')], "End G", C::Anywhere, A::Bottom, "last row"),
    bind(&[K::Tab], "Tab", C::Anywhere, A::NextTab, "next screen or tab"),
    bind(&[K::BackTab], "S-Tab", C::Anywhere, A::PrevTab, "previous screen or tab"),
    bind(
        &[K::Char('S')],
        "S",
        C::Anywhere,
        A::GlobalScreen,
        "session screen: rate graphs, DHT, connections, queues",
    ),
    bind(
        &[K::Char('a')],
        "a",
        C::Anywhere,
        A::Add,
        "add a torrent: a .torrent path (Tab completes) or a magnet link",
    ),
    bind(&[K::Char('L')], "L", C::Anywhere, A::SessionLimits, "session rate limits"),
    bind(&[K::Enter, K::Right, K::Char('l')], "Enter", C::List, A::Open, "open the selected torrent"),
    bind(&[K::Char('/')], "/", C::List, A::Filter, "filter by name or info hash (Esc clears)"),
    bind(&[K::Char('s')], "s", C::List, A::NextSortKey, "sort by the next column"),
    bind(&[K::Char('r')], "r", C::List, A::ReverseSort, "reverse the sort order"),
    bind(
        &[K::Char('p'), K::Char(' ')],
        "p Space",
        C::List,
        A::PauseResume,
        "pause or resume the selected torrent",
    ),
    bind(
        &[K::Char('d'), K::Delete],
        "d Del",
        C::List,
        A::Remove,
        "remove the selected torrent (asks; data kept or deleted)",
    ),
    bind(&[K::Char('c')], "c", C::List, A::Recheck, "recheck the selected torrent's data"),
    bind(&[K::Char('R')], "R", C::List, A::Reannounce, "announce the selected torrent to its trackers now"),
    bind(&[K::Char('t')], "t", C::List, A::TorrentLimits, "the selected torrent's rate limits"),
    bind(&[K::Char('+'), K::Char('=')], "+", C::Files, A::PriorityUp, "raise the file's priority"),
    bind(&[K::Char('-')], "-", C::Files, A::PriorityDown, "lower the file's priority"),
    bind(&[K::Char(' ')], "Space", C::Files, A::ToggleSkip, "skip the file, or download it again"),
    bind(&[K::Esc, K::Left, K::Backspace, K::Char('h')], "Esc", C::Torrent, A::Back, "back to the list"),
    bind(&[K::Char('p')], "p", C::Torrent, A::PauseResume, "pause or resume this torrent"),
    bind(&[K::Char('d'), K::Delete], "d Del", C::Torrent, A::Remove, "remove this torrent (asks)"),
    bind(&[K::Char('c')], "c", C::Torrent, A::Recheck, "recheck this torrent's data"),
    bind(&[K::Char('R')], "R", C::Torrent, A::Reannounce, "announce this torrent now"),
    bind(&[K::Char('t')], "t", C::Torrent, A::TorrentLimits, "this torrent's rate limits"),
];

/// What `key` does in `contexts` (the most specific first; `Anywhere` is always tried last).
pub fn action(contexts: &[Context], key: Key) -> Option<Action> {
    contexts.iter().chain(std::iter::once(&Context::Anywhere)).find_map(|&context| {
        BINDINGS.iter().find(|b| b.context == context && b.keys.contains(&key)).map(|b| b.action)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screens_override_anywhere_and_files_override_torrent() {
        assert_eq!(action(&[C::List], K::Char('q')), Some(A::Quit));
        assert_eq!(action(&[C::List], K::Interrupt), Some(A::Quit));
        assert_eq!(action(&[C::List], K::Enter), Some(A::Open));
        assert_eq!(action(&[C::Torrent], K::Enter), None);
        assert_eq!(action(&[C::Files, C::Torrent], K::Char(' ')), Some(A::ToggleSkip));
        assert_eq!(action(&[C::Torrent], K::Char(' ')), None);
        assert_eq!(action(&[C::List], K::Char(' ')), Some(A::PauseResume));
        assert_eq!(action(&[C::Torrent], K::Esc), Some(A::Back));
        assert_eq!(action(&[C::List], K::Char('Z')), None);
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.context == b.context {
                    for key in a.keys {
                        assert!(!b.keys.contains(key), "{key:?} is bound twice in {:?}", a.context);
                    }
                }
            }
        }
    }
}
