//! An embedder written as users write one: `#[tokio::main]`, whose
//! multi-threaded runtime has its workers running before `main`'s body,
//! and `cradle_linux::init()` inside `main`, too late to be first. With
//! itself as the init binary it starts a container and runs a process in
//! it through setns, printing `ok <hostname>` (or why it failed, exit 1).

use std::process::ExitCode;

use cradle_tests::linux::embedder::{report, start_and_exec};

const NAME: &str = "cradle-test-embedder-tokio";

#[tokio::main]
async fn main() -> ExitCode {
    cradle_linux::init();
    let hostname = format!("tokio-{}", std::process::id());
    // On a blocking thread, as an async program runs blocking calls: the
    // runtime's workers stay up meanwhile.
    let result = tokio::task::spawn_blocking(move || start_and_exec(&hostname))
        .await
        .unwrap_or_else(|error| Err(format!("the launch task: {error}")));
    report(NAME, result)
}
