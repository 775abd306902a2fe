//! What an embedding program does, for the embedder binaries
//! (`tests/src/bin/cradle-test-embedder-*.rs`): with itself as the init
//! binary (the default), it starts a container and runs a process in it
//! through setns. The suite `tests/tests/linux_embedder.rs` runs them.

use std::fs::File;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use cradle_core::{Config, ExitStatus, NamespaceKind, Plan};
use cradle_linux::{Container, Error, Options, Process};

use super::{new_namespaces, pipe, read_to_end};

/// How long the launches and the process may take, in all.
const BOUND: Duration = Duration::from_secs(10);

/// Starts a container whose init sleeps, runs `hostname` in it through
/// setns, and returns what that printed (the container's hostname, which
/// is `hostname`), after terminating the container; or what failed.
pub fn start_and_exec(hostname: &str) -> Result<String, String> {
    let mut config = Config::new(["/bin/sleep", "1000"]);
    config.namespaces = new_namespaces(&[
        NamespaceKind::Pid,
        NamespaceKind::Mount,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
    ]);
    config.hostname = Some(hostname.to_owned());
    let mut init = Process::start(Plan::init(config), Options::new())
        .map_err(|error| format!("start of the container: {error}"))?;
    let result = exec_hostname(&init);
    let _ = init.terminate();
    result
}

/// The message of `error`, at `what`.
fn failed(what: &'static str) -> impl Fn(Error) -> String {
    move |error| format!("{what}: {error}")
}

/// Runs `hostname` in the container of `init` and returns its output.
fn exec_hostname(init: &Process) -> Result<String, String> {
    let container = Container::of(init).map_err(failed("the running container"))?;
    let (mut read, write): (File, _) = pipe();
    let options = Options::new().container(container).stdout(write);
    let mut process = Process::start(Plan::setns(Config::new(["/bin/hostname"])), options)
        .map_err(failed("setns launch of hostname"))?;
    let output = read_to_end(&mut read, BOUND);
    match process.wait_timeout(BOUND).map_err(failed("wait for hostname"))? {
        Some(ExitStatus::Exited(0)) => Ok(output.trim().to_owned()),
        Some(status) => Err(format!("hostname in the container ended with {status}")),
        None => Err(format!("hostname in the container did not exit within {BOUND:?}")),
    }
}

/// How an embedder binary named `name` ends with `result`: `ok <hostname>`
/// on stdout, or its error on stderr and exit status 1.
pub fn report(name: &str, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(seen) => {
            let _ = writeln!(std::io::stdout(), "ok {seen}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "{name}: {error}");
            ExitCode::FAILURE
        }
    }
}
