//! Crash points, for the tests that kill `cradle` at every step and check
//! that what it leaves is found and removed.
//!
//! With `CRADLE_TEST_KILL_AT=<point>` in its environment, `cradle` sends
//! itself `SIGKILL` on reaching that point: a launch step as the launch
//! names it (`spawn`, `await start`, ...), or one of the command's own
//! points (`run: recorded`, `delete: killed`, ...). A kill is what no
//! handler can soften: the test sees exactly what an operator's `kill -9`
//! at that instant leaves.

use std::sync::OnceLock;

use cradle_core::Step;
use nix::sys::signal::{raise, Signal};

/// The variable naming the point at which to die.
pub(crate) const KILL_AT: &str = "CRADLE_TEST_KILL_AT";

fn target() -> Option<&'static str> {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    TARGET.get_or_init(|| std::env::var(KILL_AT).ok()).as_deref()
}

/// Dies here if `point` is the one named.
pub(crate) fn point(point: &str) {
    if target() == Some(point) {
        let _ = raise(Signal::SIGKILL);
    }
}

/// Whether a point is named at all: the launch's step hook is only set
/// then.
pub(crate) fn armed() -> bool {
    target().is_some()
}

/// The launch's step hook: dies at the named launch step.
pub(crate) fn at_step(step: Step) {
    if let Some(target) = target() {
        if step.to_string() == target {
            let _ = raise(Signal::SIGKILL);
        }
    }
}
