//! `run -t` and `exec -t`: the command gets a terminal made inside the
//! container (`/dev/pts/0` of its own devpts), of the caller's size, kept
//! in step on SIGWINCH; the caller's terminal is raw while it
//! runs and restored after.

mod common;

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::process::Stdio;

use common::{read_until, require_root, BusyboxRootfs, Sandbox};
use nix::pty::openpty;
use nix::sys::signal::{kill, Signal};
use nix::sys::termios::{tcgetattr, LocalFlags};
use nix::unistd::Pid;
use rustix::termios::{tcsetwinsize, Winsize};

fn size(rows: u16, cols: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

#[test]
fn a_tty_run_relays_a_terminal_of_the_callers_size() {
    if !require_root("a_tty_run_relays_a_terminal_of_the_callers_size") {
        return;
    }
    let sandbox = Sandbox::new("tty");
    let rootfs = BusyboxRootfs::new();
    let mut cradle = sandbox.std_cradle();
    cradle.args(["run", "-t", "--rootfs"]).arg(rootfs.path());
    relays_a_terminal(cradle);
    sandbox.assert_clean();
}

#[test]
fn a_tty_exec_relays_a_terminal_of_the_callers_size() {
    if !require_root("a_tty_exec_relays_a_terminal_of_the_callers_size") {
        return;
    }
    let sandbox = Sandbox::new("ttyexec");
    let rootfs = BusyboxRootfs::new();
    let name = sandbox.name("c");
    sandbox
        .cradle()
        .args(["run", "-d", "--name", &name, "--rootfs"])
        .arg(rootfs.path())
        .args(["--", "sleep", "1000"])
        .assert()
        .success();
    let mut cradle = sandbox.std_cradle();
    cradle.args(["exec", "-t", &name]);
    relays_a_terminal(cradle);
    sandbox.cradle().args(["kill", &name, "KILL"]).assert().success();
    sandbox.wait_for_status(&name, "stopped");
    sandbox.cradle().args(["delete", &name]).assert().success();
    sandbox.assert_clean();
}

/// Runs `cradle` (a `run -t` or an `exec -t`, up to its command) with a
/// shell script as its command, on a terminal of 33x111: the script must
/// get a terminal as its stdio and as its controlling terminal, of the
/// caller's size and kept in step on SIGWINCH; the caller's terminal is
/// raw while it runs and restored after; the script's exit code is
/// cradle's.
fn relays_a_terminal(mut cradle: std::process::Command) {
    // The caller's terminal: cradle's stdio is the slave of this pair.
    let pty = openpty(None, None).expect("openpty");
    let mut master = File::from(pty.master);
    tcsetwinsize(&master, size(33, 111)).expect("window size");
    assert!(tcgetattr(master.as_fd())
        .expect("termios")
        .local_flags
        .contains(LocalFlags::ICANON));
    let stdio = || Stdio::from(pty.slave.try_clone().expect("slave"));
    let script = concat!(
        "test -t 0 && test -t 1 && echo is-a-tty; ",
        // Field 7 of stat, tty_nr: the controlling terminal, 0 if none.
        r#"read -r _ _ _ _ _ _ ctty _ < /proc/self/stat; test "$ctty" != 0 && echo has-a-ctty; "#,
        // Made inside the container, from its own devpts: the first.
        r#"echo "name=$(tty)."; "#,
        // After the caller's resize: until the terminal has the new size
        // (cradle relays it on SIGWINCH), then that size.
        r#"stty size; read line; while [ "$(stty size)" = "33 111" ]; do sleep 0.01; done; "#,
        r#"stty size; echo "got $line"; exit 7"#
    );
    let mut child = cradle
        .args(["--", "/bin/sh", "-c", script])
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio())
        .spawn()
        .expect("spawn cradle");
    drop(pty.slave);

    let mut seen = String::new();
    read_until(&mut master, &mut seen, "is-a-tty");
    read_until(&mut master, &mut seen, "has-a-ctty");
    read_until(&mut master, &mut seen, "name=/dev/pts/0.");
    read_until(&mut master, &mut seen, "33 111");
    // While it runs, the caller's terminal is raw.
    let raw = tcgetattr(master.as_fd()).expect("termios");
    assert!(!raw.local_flags.intersects(LocalFlags::ICANON | LocalFlags::ECHO));

    tcsetwinsize(&master, size(40, 100)).expect("window size");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    kill(pid, Signal::SIGWINCH).expect("SIGWINCH");
    master.write_all(b"hello\r").expect("type");
    read_until(&mut master, &mut seen, "40 100");
    read_until(&mut master, &mut seen, "got hello");

    let status = common::wait(&mut child);
    assert_eq!(status.code(), Some(7), "{seen:?}");
    // And restored after.
    let restored = tcgetattr(master.as_fd()).expect("termios");
    assert!(restored
        .local_flags
        .contains(LocalFlags::ICANON | LocalFlags::ECHO));
}
