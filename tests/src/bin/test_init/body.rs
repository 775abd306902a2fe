// The init binary of the root-only suites, included by both of its
// builds: `cradle-test-init` (as cargo links it) and
// `cradle-test-init-static` (a static PIE, tests/build.rs).

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
        "pause" => {
            // Once its config is there to read (its launcher sent it), so
            // that the launcher's death cannot be seen as a config missing:
            // a peek at the launch socket's first byte, left there.
            let mut byte = [0u8; 1];
            let peeked = nix::sys::socket::recv(LAUNCH_SOCKET, &mut byte, nix::sys::socket::MsgFlags::MSG_PEEK);
            assert_eq!(peeked, Ok(1), "cradle-test-init: no config came");
            let _ = writeln!(std::io::stdout(), "{step}");
            // Goes on when a test sends it `SIGCONT` (pid 1 of a pid
            // namespace ignores its own `SIGSTOP`: it goes on at once).
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
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
