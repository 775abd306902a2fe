//! An embedder that never calls `cradle_linux::init()`: with itself as the
//! init binary it starts a container and runs a process in it through
//! setns, printing `ok <hostname>` (or why it failed, exit 1). Linking the
//! crate is all it takes to be an init binary.

use std::process::ExitCode;

use cradle_tests::linux::embedder::{report, start_and_exec};

fn main() -> ExitCode {
    let hostname = format!("no-init-{}", std::process::id());
    report("cradle-test-embedder-no-init", start_and_exec(&hostname))
}
