//! Containers from tokio, many on one thread, with the `tokio` feature:
//! `Command::spawn_async`, `Child::wait_async`, `output_async` and an exec
//! into a running container, none of which blocks the runtime's thread.
//!
//! Run as root (it creates namespaces): `cargo run -p cradle-linux
//! --features tokio --example tokio`. It runs a mix of launches at once on
//! a current-thread runtime, checks that each ends as it should, and
//! prints what it saw.

use std::process::ExitCode;
use std::time::Duration;

use cradle_core::{ChildStep, ExitStatus, LaunchError, Step};
use cradle_linux::command::{Command, Stdio};
use cradle_linux::Error;
use tokio::task::JoinSet;

/// The child stalls at its `cwd` step when its environment has this.
const STALL: (&str, &str) = ("EXAMPLE_STALL", "1");

// This program is its containers' init binary too, and takes the role in
// `main`, where its hook makes the child stall on request.
cradle_linux::init_in_main!();

fn main() -> ExitCode {
    // First thing, while the process has one thread (the runtime starts
    // after): the hook makes a stalled child for the mix.
    cradle_linux::init_with_hook(|step, config| {
        let stall = format!("{}={}", STALL.0, STALL.1);
        if step == ChildStep::Cwd && config.env.contains(&stall) {
            std::thread::sleep(Duration::from_secs(3600));
        }
    });
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the example creates namespaces: run it as root");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let failures = runtime.block_on(async { run_mix().await + exec_into_a_container().await });
    if failures == 0 {
        println!("all launches ended as expected");
        ExitCode::SUCCESS
    } else {
        println!("{failures} launches ended otherwise than expected");
        ExitCode::FAILURE
    }
}

/// What one launch of the mix should end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Exits(i32),
    ChildFails(ChildStep),
    TimesOut(Step),
}

/// Runs the mix concurrently on this thread; how many ended otherwise.
async fn run_mix() -> usize {
    let mix = (0..12)
        .map(|_| Expect::Exits(0))
        .chain([Expect::Exits(3), Expect::Exits(3)])
        .chain([Expect::ChildFails(ChildStep::Exec)])
        .chain([Expect::TimesOut(Step::AwaitReady)]);
    let mut tasks = JoinSet::new();
    for (index, expect) in mix.enumerate() {
        tasks.spawn(async move {
            let outcome = launch_and_wait(expect).await;
            let ok = match (expect, &outcome) {
                (Expect::Exits(code), Ok(status)) => *status == ExitStatus::Exited(code),
                (Expect::ChildFails(step), Err(Error::Launch(LaunchError::Child { error, .. }))) => {
                    error.step == step
                }
                (Expect::TimesOut(step), Err(Error::Launch(LaunchError::TimedOut { step: at, .. }))) => {
                    *at == step
                }
                _ => false,
            };
            match &outcome {
                Ok(status) => println!("launch {index}: ran, {status} (expected {expect:?})"),
                Err(error) => println!("launch {index}: {error} (expected {expect:?})"),
            }
            ok
        });
    }
    let mut failures = 0;
    while let Some(joined) = tasks.join_next().await {
        if !joined.unwrap_or(false) {
            failures += 1;
        }
    }
    failures
}

async fn launch_and_wait(expect: Expect) -> Result<ExitStatus, Error> {
    let mut command = match expect {
        Expect::Exits(0) => Command::new("/bin/true"),
        Expect::Exits(code) => {
            let mut command = Command::new("/bin/sh");
            command.args(["-c", &format!("exit {code}")]);
            command
        }
        Expect::ChildFails(_) => Command::new("/no/such/command"),
        Expect::TimesOut(_) => {
            let mut command = Command::new("/bin/true");
            command.env(STALL.0, STALL.1).timeout(Duration::from_secs(1));
            command
        }
    };
    let mut child = command.stdin(Stdio::null()).spawn_async().await?;
    child.wait_async().await
}

/// A container left running, a process started in it with its output
/// captured, and the container killed: 0 if all went as it should.
async fn exec_into_a_container() -> usize {
    let outcome = async {
        let mut container = Command::new("/bin/sleep")
            .arg("60")
            .hostname("tokio-box")
            .stdin(Stdio::null())
            .spawn_async()
            .await?;
        let output = container.exec("/bin/hostname").output_async().await?;
        container.kill_async().await?;
        Ok::<_, Error>(output.stdout)
    }
    .await;
    match outcome {
        Ok(stdout) if stdout == b"tokio-box\n" => {
            println!("exec: the container's host name, as expected");
            0
        }
        other => {
            println!("exec: {other:?} (expected the container's host name)");
            1
        }
    }
}
