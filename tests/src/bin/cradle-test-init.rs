//! The init binary of the root-only suites: `cradle_linux::init()`, plus
//! faults on request.
//!
//! A config whose environment holds `CRADLE_TEST_FAULT=<action>@<step>`
//! makes the child act at that set-up step (`<step>` as `ChildStep` names
//! it on the wire; `exec` is after `ready`): `stall` sleeps for an hour;
//! `announce` writes the step's name and a newline to stdout, then sleeps,
//! for a test to kill it there. (The child cannot kill itself: as pid 1 of
//! a pid namespace, it is immune to its own signals.)

use std::io::Write as _;
use std::time::Duration;

use cradle_core::{ChildStep, Config};

const FAULT: &str = "CRADLE_TEST_FAULT=";

fn main() {
    cradle_linux::init_with_hook(fault);
    let _ = writeln!(
        std::io::stderr(),
        "cradle-test-init: not started as a container's init"
    );
    std::process::exit(2);
}

fn fault(step: ChildStep, config: &Config) {
    let Some((action, at)) = config
        .env
        .iter()
        .find_map(|entry| entry.strip_prefix(FAULT))
        .and_then(|fault| fault.split_once('@'))
    else {
        return;
    };
    if at != step.as_str() {
        return;
    }
    match action {
        "stall" => std::thread::sleep(Duration::from_secs(3600)),
        "announce" => {
            let _ = writeln!(std::io::stdout(), "{step}");
            std::thread::sleep(Duration::from_secs(3600));
        }
        _ => {}
    }
}
