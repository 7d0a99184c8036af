//! Lock helpers shared by the engine's tasks.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`. Engine locks are held for short, panic-free sections; a poisoned lock means a
/// task panicked while holding it, and continuing with half-updated state would be worse than
/// propagating the panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().expect("engine lock poisoned: a task panicked while holding it")
}
