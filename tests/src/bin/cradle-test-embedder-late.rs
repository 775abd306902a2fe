//! An embedder that takes its role in `main` (`init_in_main!`) but calls
//! `cradle_linux::init()` inside `#[tokio::main]`, with the runtime's
//! workers already running: its container's init refuses the role, and the
//! launch fails at once with the error that says what to do (exit 1).

use std::process::ExitCode;

use cradle_tests::linux::embedder::{report, start_and_exec};

cradle_linux::init_in_main!();

#[tokio::main]
async fn main() -> ExitCode {
    cradle_linux::init();
    let hostname = format!("late-{}", std::process::id());
    let result = tokio::task::spawn_blocking(move || start_and_exec(&hostname))
        .await
        .unwrap_or_else(|error| Err(format!("the launch task: {error}")));
    report("cradle-test-embedder-late", result)
}
