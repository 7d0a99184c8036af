//! Containing redb's panics. redb 1.5 asserts on some damaged files (a truncated one, a bad
//! page size) instead of returning an error; the store turns those into errors. The panic hook
//! is wrapped once so that a panic caught here prints nothing (the error says it all), while
//! every other panic of the process is reported by the previous hook as before.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static CONTAINING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic inside it is returned as its message instead of unwinding further.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = CONTAINING.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(outer));
    result.map_err(|panic| {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown failure".into());
        // Assertion messages span lines (`left: …`, `right: …`): one line for the error.
        format!("the database library failed: {}", text.split_whitespace().collect::<Vec<_>>().join(" "))
    })
}

#[cfg(test)]
mod tests {
    use super::contain;

    #[test]
    fn a_panic_becomes_its_message_and_values_pass_through() {
        assert_eq!(contain(|| 5), Ok(5));
        let err = contain(|| -> u8 { panic!("bad\n  page") }).unwrap_err();
        assert_eq!(err, "the database library failed: bad page");
    }
}
