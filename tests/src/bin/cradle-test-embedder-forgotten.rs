//! An embedder that declares it takes its role in `main`
//! (`init_in_main!`) and forgets to: its container's init runs `main`
//! again, whose launch is refused with the error that names
//! `cradle_linux::init_with_hook`, so the first launch fails on that
//! child's exit instead of relaunching the program deeper and deeper.

use std::process::ExitCode;

use cradle_tests::linux::embedder::{report, start_and_exec};

cradle_linux::init_in_main!();

fn main() -> ExitCode {
    let hostname = format!("forgotten-{}", std::process::id());
    report("cradle-test-embedder-forgotten", start_and_exec(&hostname))
}
