//! The init binary of the root-only suites: `cradle_linux::init()`, plus
//! faults on request. It takes its role in `main` (`init_in_main!`), so
//! that its hook sees the set-up steps.
//!
//! A config whose environment holds `CRADLE_TEST_FAULT=<action>@<step>`
//! makes the child act the first time it reaches that set-up step
//! (`<step>` as `ChildStep` names it on the wire; `exec` is after
//! `ready`): `stall` sleeps for an hour;
//! `announce` writes the step's name and a newline to stdout, then sleeps,
//! for a test to kill it there. (The child cannot kill itself: as pid 1 of
//! a pid namespace, it is immune to its own signals.) `garbage` writes a
//! line that is not a message to the launch socket and goes on; `forge`
//! (for the helper, at `fork`) reports the pid of the host's init instead
//! of forking, and exits 0.
//!
//! A setns helper has no config: its fault is the name it runs under, a
//! link to this binary named `<action>@<step>` (`setns` or `fork`).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cradle_core::{ChildStep, Config};

const FAULT: &str = "CRADLE_TEST_FAULT=";

/// Whether the fault has acted.
static FIRED: AtomicBool = AtomicBool::new(false);

/// The launch socket's descriptor in a child without preserved ones.
const LAUNCH_SOCKET: std::os::fd::RawFd = 3;

cradle_linux::init_in_main!();

fn main() {
    cradle_linux::init_with_hook(fault);
    let _ = writeln!(
        std::io::stderr(),
        "cradle-test-init: not started as a container's init"
    );
    std::process::exit(2);
}

fn fault(step: ChildStep, config: &Config) {
    let fault = config
        .env
        .iter()
        .find_map(|entry| entry.strip_prefix(FAULT))
        .map(str::to_owned)
        .or_else(fault_in_name);
    let Some((action, at)) = fault.as_deref().and_then(|fault| fault.split_once('@')) else {
        return;
    };
    // Once: a step the child walks in parts is shown to the hook again.
    if at != step.as_str() || FIRED.swap(true, Ordering::Relaxed) {
        return;
    }
    match action {
        "stall" => std::thread::sleep(Duration::from_secs(3600)),
        "announce" => {
            let _ = writeln!(std::io::stdout(), "{step}");
            std::thread::sleep(Duration::from_secs(3600));
        }
        "garbage" => send(b"this is not a message\n"),
        "forge" => {
            send(&cradle_core::child::pid_report(1));
            std::process::exit(0);
        }
        other => panic!("cradle-test-init: unknown fault action {other:?}"),
    }
}

/// Writes `bytes` to the launch socket, which a child without preserved
/// descriptors has at 3.
fn send(bytes: &[u8]) {
    let sent = nix::sys::socket::send(LAUNCH_SOCKET, bytes, nix::sys::socket::MsgFlags::empty());
    assert_eq!(sent, Ok(bytes.len()), "cradle-test-init: the fault's write");
}

/// `<action>@<step>` from the name this binary runs under.
fn fault_in_name() -> Option<String> {
    let program = std::env::args_os().next()?;
    let name = std::path::Path::new(&program).file_name()?.to_str()?;
    name.contains('@').then(|| name.to_owned())
}
