//! `exec` and the container's pids limit, as root: the process is born in
//! the container's cgroups, so a full `pids.max` refuses it with one line
//! naming the limit and leaves nothing behind, and concurrent execs never
//! take the container past its limit.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{one_line, require_root, Sandbox, DEADLINE};

/// The container's directory in the hierarchy with the pids controller.
fn pids_dir(sandbox: &Sandbox, id: &str) -> PathBuf {
    let state = sandbox.state(id);
    state["cgroup_paths"]
        .as_array()
        .expect("cgroup_paths")
        .iter()
        .map(|path| PathBuf::from(path.as_str().expect("a path")))
        .find(|dir| dir.join("pids.max").exists())
        .expect("a cgroup with the pids controller")
}

fn read_number(path: &Path) -> u64 {
    let text = fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}: {text:?}", path.display()))
}

/// The pids listed in `cgroup.procs` of `dir`.
fn procs(dir: &Path) -> BTreeSet<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .expect("cgroup.procs")
        .lines()
        .map(|line| line.parse().expect("a pid"))
        .collect()
}

/// The pid namespace of `pid`, `None` once it has exited.
fn pid_namespace(pid: i32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// Waits until `pids.current` in `dir` is `count`.
fn wait_for_pids(dir: &Path, count: u64) {
    let deadline = Instant::now() + DEADLINE;
    while read_number(&dir.join("pids.current")) != count {
        assert!(Instant::now() < deadline, "pids.current never became {count}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn run_detached(sandbox: &Sandbox, name: &str, pids: &str, command: &[&str]) {
    sandbox
        .cradle()
        .args(["run", "-d", "--name", name, "--pids", pids, "--"])
        .args(command)
        .assert()
        .success();
}

#[test]
fn a_full_pids_limit_refuses_exec_and_is_never_exceeded() {
    if !require_root("a_full_pids_limit_refuses_exec_and_is_never_exceeded") {
        return;
    }
    let sandbox = Sandbox::new("execpids");
    let name = sandbox.name("c");
    run_detached(&sandbox, &name, "2", &["sh", "-c", "sleep 1000 & wait"]);
    let dir = pids_dir(&sandbox, &name);
    assert_eq!(read_number(&dir.join("pids.max")), 2);
    wait_for_pids(&dir, 2);
    let container = procs(&dir);
    let refused = "cradle: exec: the container's pids limit (2) is reached\n";

    let output = sandbox
        .cradle()
        .args(["exec", &name, "--", "sleep", "3"])
        .output()
        .expect("exec");
    assert_eq!(output.status.code(), Some(125));
    assert_eq!(one_line(&output.stderr), refused);
    assert_eq!(procs(&dir), container, "nothing is left in the container");

    // Three at once. Each launcher's thread enters the container's pids
    // cgroup for its clone and counts in pids.current until it leaves a
    // moment later (on cgroup2 the clone goes straight in): the
    // container's own processes, the ones in its pid namespace, must never
    // be more than the limit.
    let namespace = pid_namespace(*container.first().expect("a process")).expect("its pid namespace");
    let mut execs: Vec<Child> = (0..3)
        .map(|_| {
            sandbox
                .std_cradle()
                .args(["exec", &name, "--", "sleep", "3"])
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn cradle exec")
        })
        .collect();
    let deadline = Instant::now() + DEADLINE;
    let (mut samples, mut most_current) = (0, 0);
    while execs
        .iter_mut()
        .any(|exec| exec.try_wait().expect("wait").is_none())
    {
        assert!(Instant::now() < deadline, "the execs did not end");
        most_current = most_current.max(read_number(&dir.join("pids.current")));
        let inside: Vec<i32> = procs(&dir)
            .into_iter()
            .filter(|&pid| pid_namespace(pid).as_ref() == Some(&namespace))
            .collect();
        assert!(inside.len() <= 2, "past the limit: {inside:?}");
        samples += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    println!("{samples} samples, pids.current at most {most_current}");
    for exec in execs {
        let output = exec.wait_with_output().expect("cradle exec");
        assert_eq!(output.status.code(), Some(125));
        assert_eq!(one_line(&output.stderr), refused);
    }
    assert_eq!(procs(&dir), container, "nothing is left in the container");
    assert_eq!(read_number(&dir.join("pids.current")), 2);

    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn an_exec_within_the_limit_is_in_every_cgroup_of_the_container() {
    if !require_root("an_exec_within_the_limit_is_in_every_cgroup_of_the_container") {
        return;
    }
    let sandbox = Sandbox::new("execcg");
    let name = sandbox.name("c");
    run_detached(&sandbox, &name, "10", &["sleep", "1000"]);
    let dir = pids_dir(&sandbox, &name);
    let init = sandbox.state(&name)["pid"].as_i64().expect("pid");
    let mut exec = sandbox
        .std_cradle()
        .args(["exec", &name, "--", "sh", "-c", "echo ready; exec sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn cradle exec");
    let mut stdout = std::io::BufReader::new(exec.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    assert_eq!(line, "ready\n");

    // The process is cradle exec's child (cloned by it).
    let children: Vec<i32> = fs::read_dir(format!("/proc/{}/task", exec.id()))
        .expect("cradle exec's threads")
        .flatten()
        .flat_map(|task| {
            fs::read_to_string(task.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .map(|pid| pid.parse().expect("a pid"))
                .collect::<Vec<i32>>()
        })
        .collect();
    let [process] = children[..] else {
        panic!("cradle exec's children: {children:?}");
    };
    let cgroups = |pid: i64| fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let theirs = cgroups(init);
    assert_eq!(cgroups(process.into()), theirs);
    let suffix = format!("/cradle-{name}");
    for line in theirs.lines() {
        assert!(line.ends_with(&suffix), "not the container's: {line}");
    }
    // The init and the process: the launcher's thread has left.
    assert_eq!(read_number(&dir.join("pids.current")), 2);

    let pid = nix::unistd::Pid::from_raw(i32::try_from(exec.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal cradle exec");
    assert_eq!(common::wait(&mut exec).code(), Some(143));
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    sandbox.assert_clean();
}

/// Where the v1 pids hierarchy is mounted as a subtree of it, as a
/// container sees its host's (`/docker/<id>` at `/sys/fs/cgroup/pids`),
/// an exec under a limit finds the launcher's own cgroup through the
/// mount and is cloned there, and one without a limit is cloned too. The commands run in a mount
/// namespace of their own, moved into a cgroup below this test's, which
/// the mount shows as its root.
#[test]
fn an_exec_under_a_limit_works_where_the_pids_hierarchy_is_mounted_as_a_subtree() {
    let test = "an_exec_under_a_limit_works_where_the_pids_hierarchy_is_mounted_as_a_subtree";
    if !require_root(test) {
        return;
    }
    let Some((own, mount)) = common::own_pids_cgroup() else {
        println!("{test}: no v1 pids hierarchy here; nothing to mount a subtree of");
        return;
    };
    let sandbox = Sandbox::new("execsubtree");
    let rootfs = common::BusyboxRootfs::new();
    let outer = mount
        .join(own.trim_start_matches('/'))
        .join(sandbox.name("subtree"));
    let inner = outer.join("inner");
    fs::create_dir_all(&inner).expect("make the subtree's cgroup");
    let script = r#"
        set -eu
        echo $$ > "$INNER/cgroup.procs"
        mount --make-rprivate /
        scratch=$(mktemp -d)
        mount --bind "$INNER" "$scratch"
        umount "$MOUNT"
        mount --move "$scratch" "$MOUNT"
        rmdir "$scratch"
        cradle() { "$CRADLE" --root "$ROOT" "$@"; }
        cradle run -d --name "$LIMITED" --pids 10 --rootfs "$ROOTFS" -- /bin/sleep 100 >/dev/null
        cradle run -d --name "$FREE" --rootfs "$ROOTFS" -- /bin/sleep 100 >/dev/null
        cradle exec --timings "$LIMITED" -- /bin/echo limited 2>&1
        cradle exec --timings "$FREE" -- /bin/echo free 2>&1
        cradle delete --force "$LIMITED"
        cradle delete --force "$FREE"
    "#;
    let output = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", script])
        .env("CRADLE", common::cradle_bin())
        .env("ROOT", sandbox.root())
        .env("ROOTFS", rootfs.path())
        .env("INNER", &inner)
        .env("MOUNT", &mount)
        .env("LIMITED", sandbox.name("limited"))
        .env("FREE", sandbox.name("free"))
        .output()
        .expect("run unshare");
    // The shell is gone: its cgroups are empty.
    fs::remove_dir(&inner).expect("remove the subtree's cgroup");
    fs::remove_dir(&outer).expect("remove its parent");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"limited") && lines.contains(&"free"), "{stdout}");
    // Cloned, not forked by a helper: its phases would show.
    assert!(
        lines.iter().filter(|line| line.contains("launch:")).count() >= 8,
        "{stdout}"
    );
    assert!(
        !stdout.contains("helper") && !stdout.contains("pid report"),
        "{stdout}"
    );
    sandbox.assert_clean();
}
