//! containerd drives cradle as its runc (`ctr run --runc-binary`, through
//! containerd's runc shim): foreground and detached runs of a busybox
//! rootfs, `task ls`/`ps`/`pause`/`resume`/`kill`/`delete`, `containers
//! rm`; `task exec` and `-t` once cradle has them. Root only.
//!
//! Each test starts a containerd of its own (about 50 ms) on a root, a
//! state and sockets in a temporary directory, in a namespace of its own;
//! the shim is given the runtime's state directory (runc's `Root` option,
//! `--runc-root`) and FIFOs in the same temporary directory. It checks
//! that its containers left nothing: no task, container, runtime state,
//! shim, cgroup or mount; whatever a failed test left is removed on drop,
//! containerd stopped by its pid. A missing containerd skips the suite,
//! except in CI, where it fails. `CRADLE_ENGINE_RUNTIME=/usr/sbin/runc`
//! runs the same tests with runc.

mod engines;

use std::cell::RefCell;
use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Instant;

use assert_cmd::Command;
use cradle_tests::linux::{require_root, BusyboxRootfs, DEADLINE};
use engines::{
    containers_in_state, end_child, end_process, mounts_below, processes_mentioning, run_on_terminal,
    runtime, tools_present, unmount_below, wait_until, CgroupTree, GRACE,
};
use serde_json::Value;

/// containerd 1.6 as Debian has it: the daemon, its client and the shim.
const TOOLS: &[(&str, &str)] = &[
    ("containerd", "containerd"),
    ("ctr", "containerd"),
    ("containerd-shim-runc-v2", "containerd"),
];

/// Where containerd 1.6's runc shims put their sockets, whatever the
/// daemon's state directory: `<this>/<sha256 of address/namespace/id>`.
const SHIM_SOCKETS: &str = "/run/containerd/s";

/// One test's containerd, started on directories of its own.
struct Containerd {
    // Dropped after `Containerd::drop`, in this order: the cgroups (and
    // what is still in them), then the directories.
    cgroup: CgroupTree,
    daemon: Child,
    dir: tempfile::TempDir,
    rootfs: BusyboxRootfs,
    namespace: String,
    /// The container ids the test used, whose shim sockets must go.
    ids: RefCell<Vec<String>>,
}

impl Containerd {
    /// Writes a config whose paths are all in a new temporary directory,
    /// starts containerd on it and waits until it listens.
    fn start(tag: &str) -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("cradle-ctr-")
            .tempdir()
            .expect("temporary directory");
        let path = |relative: &str| {
            let path = dir.path().join(relative);
            let text = path.to_str().expect("a UTF-8 path").to_owned();
            assert!(
                !text.contains(['"', '\\']),
                "a path TOML would need escaped: {text}"
            );
            text
        };
        let config = format!(
            concat!(
                "version = 2\n",
                "root = \"{root}\"\n",
                "state = \"{state}\"\n",
                // Kubernetes' plugin: not used, and it would want CNI.
                "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
                "[grpc]\n  address = \"{grpc}\"\n",
                "[ttrpc]\n  address = \"{ttrpc}\"\n",
                "[debug]\n  address = \"{debug}\"\n",
            ),
            root = path("root"),
            state = path("state"),
            grpc = path("containerd.sock"),
            ttrpc = path("containerd.sock.ttrpc"),
            debug = path("debug.sock"),
        );
        fs::write(dir.path().join("config.toml"), config).expect("write config.toml");
        fs::create_dir(dir.path().join("fifo")).expect("FIFO directory");
        let log = File::create(dir.path().join("containerd.log")).expect("containerd.log");

        let started = Instant::now();
        let daemon = std::process::Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let namespace = format!("cradle-ctr-{}-{tag}", std::process::id());
        let mut containerd = Containerd {
            cgroup: CgroupTree::new(namespace.clone()),
            daemon,
            dir,
            rootfs: BusyboxRootfs::new(),
            namespace,
            ids: RefCell::new(Vec::new()),
        };
        let socket = containerd.socket();
        let mut exited = None;
        let listening = wait_until(|| {
            exited = containerd.daemon.try_wait().expect("wait for containerd");
            exited.is_some() || UnixStream::connect(&socket).is_ok()
        });
        assert!(
            listening && exited.is_none(),
            "containerd did not come up ({exited:?}): {}",
            containerd.log()
        );
        println!("containerd listened after {:?}", started.elapsed());
        containerd
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The runtime's state directory, as the shim is given it; the runtime
    /// keeps a namespace's containers in `<this>/<namespace>`.
    fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("runtime-state")
    }

    fn global_args(&self) -> Vec<OsString> {
        vec![
            "--address".into(),
            self.socket().into(),
            "--namespace".into(),
            self.namespace.clone().into(),
        ]
    }

    /// `ctr` on the test's containerd and namespace, with a deadline.
    fn ctr(&self) -> Command {
        let mut command = Command::new("ctr");
        command.args(self.global_args()).timeout(DEADLINE);
        command
    }

    /// `ctr ARGS`, checked to succeed; its stdout.
    fn stdout(&self, args: &[&str]) -> String {
        let output = self.ctr().args(args).output().expect("ctr");
        assert!(
            output.status.success(),
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The arguments of `ctr run FLAGS ... ID COMMAND`: the runtime and its
    /// state directory, the test's FIFO directory, the busybox rootfs.
    fn run_args(&self, flags: &[&str], id: &str, command: &[&str]) -> Vec<OsString> {
        self.ids.borrow_mut().push(id.to_owned());
        let mut args: Vec<OsString> = vec!["run".into()];
        args.extend(flags.iter().map(OsString::from));
        args.extend([
            "--runc-binary".into(),
            runtime().into(),
            "--runc-root".into(),
            self.runtime_root().into(),
            "--fifo-dir".into(),
            self.fifo_dir().into(),
            // Below this process's own cgroups (ctr's default would be
            // `/<namespace>/<id>`, from the root of every hierarchy).
            "--cgroup".into(),
            format!("{}/{id}", self.cgroup.path()).into(),
            "--rootfs".into(),
            self.rootfs.path().into(),
            id.into(),
        ]);
        args.extend(command.iter().map(OsString::from));
        args
    }

    fn fifo_dir(&self) -> PathBuf {
        self.dir.path().join("fifo")
    }

    /// `ctr run -d ... ID COMMAND`, checked to succeed.
    fn run_detached(&self, id: &str, command: &[&str]) {
        self.ctr()
            .args(self.run_args(&["-d"], id, command))
            .assert()
            .success();
    }

    /// `ctr task exec --exec-id EXEC_ID FLAGS ID COMMAND`.
    fn exec_args(&self, flags: &[&str], exec_id: &str, id: &str, command: &[&str]) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["task", "exec", "--exec-id", exec_id]
            .map(OsString::from)
            .to_vec();
        args.extend(flags.iter().map(OsString::from));
        args.push("--fifo-dir".into());
        args.push(self.fifo_dir().into());
        args.push(id.into());
        args.extend(command.iter().map(OsString::from));
        args
    }

    /// The task `id` as `task ls` shows it: its pid and status.
    fn task(&self, id: &str) -> Option<(i32, String)> {
        self.stdout(&["task", "ls"]).lines().find_map(|line| {
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                [task, pid, status] if task == id => Some((pid.parse().expect("a pid"), status.to_owned())),
                _ => None,
            }
        })
    }

    /// The runtime's own `state ID`, from the shim's state directory.
    fn runtime_state(&self, id: &str) -> Value {
        let output = Command::new(runtime())
            .arg("--root")
            .arg(self.runtime_root().join(&self.namespace))
            .args(["state", id])
            .timeout(DEADLINE)
            .output()
            .expect("runtime state");
        assert!(
            output.status.success(),
            "state {id}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("state is JSON")
    }

    /// The socket the shim of container `id` listens on.
    fn shim_socket(&self, id: &str) -> PathBuf {
        let key = format!("{}/{}/{id}", self.socket().display(), self.namespace);
        let output = Command::new("sha256sum")
            .write_stdin(key)
            .timeout(DEADLINE)
            .output()
            .expect("sha256sum");
        let digest = String::from_utf8_lossy(&output.stdout);
        let digest = digest.split_whitespace().next().expect("a digest");
        Path::new(SHIM_SOCKETS).join(digest)
    }

    /// Processes of the test's containerd (its shims), not containerd.
    fn shims(&self) -> Vec<(i32, String)> {
        let daemon = i32::try_from(self.daemon.id()).expect("a pid fits in i32");
        processes_mentioning(self.dir.path())
            .into_iter()
            .filter(|(pid, _)| *pid != daemon)
            .collect()
    }

    /// Fails unless the test's containers are all gone and left nothing:
    /// no task or container for containerd, no state for the runtime, no
    /// shim or its socket, no cgroup or process in one, no mount.
    fn assert_clean(&self) {
        assert_eq!(self.stdout(&["task", "ls", "-q"]), "", "tasks are left");
        assert_eq!(
            self.stdout(&["containers", "ls", "-q"]),
            "",
            "containers are left"
        );
        let runtime_state = self.runtime_root().join(&self.namespace);
        let mut state = Vec::new();
        assert!(
            wait_until(|| {
                state = containers_in_state(&runtime_state);
                state.is_empty()
            }),
            "the runtime's state is left: {state:?}"
        );
        let mut shims = Vec::new();
        assert!(
            wait_until(|| {
                shims = self.shims();
                shims.is_empty()
            }),
            "shims are left: {shims:?}"
        );
        for id in self.ids.borrow().iter() {
            let socket = self.shim_socket(id);
            assert!(
                !socket.exists(),
                "the shim's socket for {id} is left: {}",
                socket.display()
            );
        }
        let mut in_cgroups = Vec::new();
        assert!(
            wait_until(|| {
                in_cgroups = self.cgroup.processes();
                in_cgroups.is_empty()
            }),
            "processes are left in the test's cgroups: {in_cgroups:?}"
        );
        let cgroups = self.cgroup.containers_left(&[]);
        assert!(
            cgroups.is_empty(),
            "the containers' cgroups are left: {cgroups:?}"
        );
        for dir in [self.dir.path(), self.rootfs.path()] {
            let mounts = mounts_below(dir);
            assert!(mounts.is_empty(), "mounts are left: {mounts:?}");
        }
    }
}

impl Drop for Containerd {
    /// Removes whatever a failed test left: the namespace's tasks (thawed
    /// first: a frozen one cannot die) and containers, containerd itself,
    /// its shims and their sockets, mounts; the cgroups and the
    /// directories go with the fields.
    fn drop(&mut self) {
        if let Ok(listed) = self.ctr().args(["containers", "ls", "-q"]).output() {
            for id in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
                let _ = self.ctr().args(["task", "resume", id]).output();
                let _ = self.ctr().args(["task", "delete", "--force", id]).output();
                let _ = self.ctr().args(["containers", "rm", id]).output();
            }
        }
        end_child(&mut self.daemon, GRACE);
        for (pid, _) in self.shims() {
            end_process(pid, GRACE);
        }
        for id in self.ids.borrow().iter() {
            let _ = fs::remove_file(self.shim_socket(id));
        }
        unmount_below(self.dir.path());
        unmount_below(self.rootfs.path());
    }
}

/// Whether `test` can run: as root, with containerd installed.
fn ready(test: &str) -> bool {
    require_root(test) && tools_present(test, TOOLS)
}

#[test]
fn ctr_run_prints_its_output_and_passes_its_exit_code() {
    if !ready("ctr_run_prints_its_output_and_passes_its_exit_code") {
        return;
    }
    let containerd = Containerd::start("fg");
    containerd
        .ctr()
        .args(containerd.run_args(&["--rm"], "t1", &["/bin/echo", "ok"]))
        .assert()
        .success()
        .stdout("ok\n");
    containerd
        .ctr()
        .args(containerd.run_args(&["--rm"], "t2", &["/bin/sh", "-c", "exit 7"]))
        .assert()
        .code(7);
    containerd.assert_clean();
}

#[test]
fn a_detached_task_is_listed_paused_killed_and_deleted() {
    if !ready("a_detached_task_is_listed_paused_killed_and_deleted") {
        return;
    }
    let containerd = Containerd::start("detached");
    let id = "t1";
    containerd.run_detached(id, &["/bin/sleep", "1000"]);
    let (pid, status) = containerd.task(id).expect("the task is listed");
    assert_eq!(status, "RUNNING");
    // The pid is the runtime's, in the cgroup containerd named for it.
    let state = containerd.runtime_state(id);
    assert_eq!(state["pid"], pid, "{state}");
    assert_eq!(state["status"], "running", "{state}");
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("the task's cgroups");
    let own = format!("{}/{id}", containerd.cgroup.path());
    assert!(cgroups.lines().all(|line| line.ends_with(&own)), "{cgroups}");
    // So the check that the shim's socket went is not a vacuous one.
    let socket = containerd.shim_socket(id);
    assert!(socket.exists(), "no shim socket at {}", socket.display());
    let ps = containerd.stdout(&["task", "ps", id]);
    assert!(
        ps.lines()
            .skip(1)
            .any(|line| line.split_whitespace().next() == Some(&pid.to_string())),
        "{ps}"
    );

    containerd.stdout(&["task", "pause", id]);
    assert_eq!(containerd.task(id).map(|task| task.1).as_deref(), Some("PAUSED"));
    assert_eq!(containerd.runtime_state(id)["status"], "paused");
    containerd.stdout(&["task", "resume", id]);
    assert_eq!(containerd.task(id).map(|task| task.1).as_deref(), Some("RUNNING"));

    containerd.stdout(&["task", "kill", "--signal", "KILL", id]);
    assert!(
        wait_until(|| containerd.task(id).is_some_and(|task| task.1 == "STOPPED")),
        "the task did not stop"
    );
    // The exit status passes through: containerd reports it on delete.
    let deleted = containerd
        .ctr()
        .args(["task", "delete", id])
        .output()
        .expect("task delete");
    assert!(deleted.status.success(), "{deleted:?}");
    assert!(
        String::from_utf8_lossy(&deleted.stderr).contains("exit code 137"),
        "{deleted:?}"
    );
    containerd.stdout(&["containers", "rm", id]);
    containerd.assert_clean();
}

#[test]
fn task_exec_runs_in_the_container_and_passes_its_exit_code() {
    if !ready("task_exec_runs_in_the_container_and_passes_its_exit_code") {
        return;
    }
    let containerd = Containerd::start("exec");
    let id = "t1";
    containerd.run_detached(id, &["/bin/sleep", "1000"]);
    containerd
        .ctr()
        .args(containerd.exec_args(&[], "e1", id, &["/bin/echo", "ok"]))
        .assert()
        .success()
        .stdout("ok\n");
    containerd
        .ctr()
        .args(containerd.exec_args(&[], "e2", id, &["/bin/sh", "-c", "exit 9"]))
        .assert()
        .code(9);
    // In the container's pid namespace: its pid 1 is the task.
    containerd
        .ctr()
        .args(containerd.exec_args(&[], "e3", id, &["/bin/cat", "/proc/1/comm"]))
        .assert()
        .success()
        .stdout("sleep\n");
    // A failed exec: the shim reads cradle's error from its JSON log (the
    // last `"level":"error"` line's `msg`) and passes it on.
    let failed = containerd
        .ctr()
        .args(containerd.exec_args(&[], "e4", id, &["/bin/no-such-program"]))
        .output()
        .expect("ctr task exec");
    assert!(!failed.status.success());
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(said.contains("/bin/no-such-program"), "{said}");
    containerd.stdout(&["task", "delete", "--force", id]);
    containerd.stdout(&["containers", "rm", id]);
    containerd.assert_clean();
}

/// Prints the terminal's name and size, exit 6. ctr sets the size only
/// once the task runs, and until then busybox's `stty size` prints
/// nothing (and exits 0): the script waits (up to 5 s) for a size.
const TERMINAL_SCRIPT: &str = concat!(
    "tty; n=0; ",
    r#"until size=$(stty size 2>/dev/null); [ -n "$size" ] && [ "$size" != "0 0" ] || [ $n -ge 100 ]; "#,
    "do n=$((n+1)); sleep 0.05; done; ",
    r#"echo "size $size"; exit 6"#
);

#[test]
fn ctr_run_t_gives_the_container_a_terminal_of_the_callers_size() {
    if !ready("ctr_run_t_gives_the_container_a_terminal_of_the_callers_size") {
        return;
    }
    let containerd = Containerd::start("tty");
    let mut command = std::process::Command::new("ctr");
    command.args(containerd.global_args()).args(containerd.run_args(
        &["--rm", "-t"],
        "t1",
        &["/bin/sh", "-c", TERMINAL_SCRIPT],
    ));
    let run = run_on_terminal(command, 33, 111);
    assert_eq!(run.status.code(), Some(6), "{:?}", run.output);
    assert!(run.output.contains("/dev/pts/0\r"), "{:?}", run.output);
    assert!(run.output.contains("size 33 111\r"), "{:?}", run.output);
    containerd.assert_clean();
}

#[test]
fn task_exec_t_gives_the_command_a_terminal_of_the_callers_size() {
    if !ready("task_exec_t_gives_the_command_a_terminal_of_the_callers_size") {
        return;
    }
    let containerd = Containerd::start("exectty");
    let id = "t1";
    containerd.run_detached(id, &["/bin/sleep", "1000"]);
    let mut command = std::process::Command::new("ctr");
    command.args(containerd.global_args()).args(containerd.exec_args(
        &["-t"],
        "e1",
        id,
        &["/bin/sh", "-c", TERMINAL_SCRIPT],
    ));
    let run = run_on_terminal(command, 33, 111);
    assert_eq!(run.status.code(), Some(6), "{:?}", run.output);
    assert!(run.output.contains("/dev/pts/0\r"), "{:?}", run.output);
    assert!(run.output.contains("size 33 111\r"), "{:?}", run.output);
    containerd.stdout(&["task", "delete", "--force", id]);
    containerd.stdout(&["containers", "rm", id]);
    containerd.assert_clean();
}
