//! A container from a blocking program, with `cradle_linux::command`: a
//! run with its output captured, a container with limits, and a process
//! started in it.
//!
//! Run as root (it creates namespaces and a cgroup): `cargo run -p
//! cradle-linux --example container`. It checks what it prints and exits
//! non-zero if something is not as it should be.

use std::process::ExitCode;

use cradle_linux::command::{Command, Stdio};

fn main() -> ExitCode {
    // Nothing to call first: this program is its containers' init binary
    // too, and cradle-linux takes that role before `main` in those
    // processes.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("example failed: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A run with its output captured (confined as podman confines a
    //    container, in new pid, mount, UTS, IPC and net namespaces).
    let output = Command::new("/bin/sh")
        .args(["-c", "echo hello from $(hostname) as pid $$"])
        .hostname("example")
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    check(text == "hello from example as pid 1\n", "the captured output")?;
    check(output.status.success(), "its exit status")?;

    // 2. A container with limits, left running.
    let mut container = Command::new("/bin/sleep")
        .arg("60")
        .memory_limit(64 << 20)
        .pids_limit(16)
        .cpu_limit(0.5)
        .stdin(Stdio::null())
        .spawn()?;
    println!(
        "container {} runs with 64 MiB, 16 processes, half a CPU",
        container.pid()
    );

    // 3. A process in it: its namespaces, cgroup and confinement.
    let exec = container
        .exec("/bin/sh")
        .args([
            "-c",
            "echo pid 1 is $(cat /proc/1/comm); cat /proc/self/cgroup | grep -c pids",
        ])
        .output()?;
    let text = String::from_utf8_lossy(&exec.stdout);
    print!("{text}");
    check(
        text.starts_with("pid 1 is sleep\n"),
        "the exec's view of the container",
    )?;

    // Killed and waited for: its processes and its cgroup are gone. (A
    // handle dropped without this does the same.)
    let status = container.kill()?;
    println!("container ended: {status}");
    Ok(())
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected: {what}"))
    }
}
