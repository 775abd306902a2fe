//! Planted state: a state root another user could have made or can write,
//! and state files that name what is not the container's (a host process,
//! a foreign cgroup, a foreign veth, a symlink for the temporary file).
//! Each is a real attempt against a harmless target the test made itself;
//! each must be refused in one line with the target untouched. And the
//! other side of the cgroup proof: a stopped container run from another
//! cgroup, whose cgroups went with that one, can still be deleted.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};

use assert_cmd::Command;
use common::{one_line, require_root, Sandbox, DEADLINE};
use serde_json::json;

const NOBODY: u32 = 65534;

fn cradle(root: &Path) -> Command {
    let mut command = Command::new(common::cradle_bin());
    command.arg("--root").arg(root).timeout(DEADLINE);
    command
}

/// Exit 125 (`run -- CMD`, `exec`: docker's code) or 1 (any other
/// command: runc's) and one line on stderr that contains `what`.
fn assert_refused(command: &mut Command, what: &str) {
    let shown = format!("{command:?}");
    let shell = shown.contains("\"exec\"") || shown.contains("\"--\"");
    let output = command.output().expect("cradle");
    assert_eq!(
        output.status.code(),
        Some(if shell { 125 } else { 1 }),
        "{output:?}"
    );
    let line = one_line(&output.stderr);
    assert!(line.contains(what), "{line:?} does not say {what:?}");
}

/// A `sleep` of the test's own, outside any container; killed on drop.
struct Victim(Child);

impl Victim {
    fn start() -> Victim {
        let child = StdCommand::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep");
        Victim(child)
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).expect("pid")
    }

    fn start_time(&self) -> u64 {
        start_time(self.pid())
    }

    fn assert_alive(&mut self) {
        assert!(
            self.0.try_wait().expect("try_wait").is_none(),
            "the victim was killed"
        );
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_time(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    after
        .split(' ')
        .nth(19)
        .expect("field 22")
        .parse()
        .expect("start time")
}

/// Writes `<root>/<id>/state.json` as `cradle run -d` would, with what the
/// test gives.
fn plant_state(
    root: &Path,
    id: &str,
    pid: i32,
    start_time: u64,
    cgroup: serde_json::Value,
    interfaces: serde_json::Value,
) {
    let dir = root.join(id);
    fs::create_dir(&dir).expect("state dir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
    let state = json!({
        "id": id,
        "pid": pid,
        "start_time": start_time,
        "created": "2026-01-01T00:00:00Z",
        "command": ["sleep", "1000"],
        "rootfs": null,
        "hostname": null,
        "namespaces": ["mount", "uts", "ipc", "pid", "net"],
        "cgroup": cgroup,
        "interfaces": interfaces,
        "detached": true,
        "supervisor": null,
    });
    fs::write(
        dir.join("state.json"),
        serde_json::to_vec_pretty(&state).expect("json"),
    )
    .expect("state.json");
}

fn pids_cgroup_record(cgroup: &str, mount: &Path) -> serde_json::Value {
    let path = format!("{}{}", mount.display(), cgroup);
    json!({"dirs": [{
        "hierarchy": {"version": "v1", "controllers": ["pids"]},
        "cgroup": cgroup,
        "path": path,
    }]})
}

#[test]
fn planted_state_roots_are_refused_and_nothing_is_made_through_them() {
    if !require_root("planted_state_roots_are_refused_and_nothing_is_made_through_them") {
        return;
    }
    let base = tempfile::tempdir().expect("tempdir");
    let target = base.path().join("target");
    fs::create_dir(&target).expect("target");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).expect("chmod");
    let link = base.path().join("link");
    symlink(&target, &link).expect("symlink");
    let foreign = base.path().join("foreign");
    fs::create_dir(&foreign).expect("foreign");
    fs::set_permissions(&foreign, fs::Permissions::from_mode(0o700)).expect("chmod");
    nix::unistd::chown(&foreign, Some(nix::unistd::Uid::from_raw(NOBODY)), None).expect("chown");
    let loose = base.path().join("loose");
    fs::create_dir(&loose).expect("loose");
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o777)).expect("chmod");

    let id = format!("planted-{}", std::process::id());
    for (root, what) in [
        (&link, "is a symlink"),
        (&foreign, "is owned by uid 65534"),
        (&loose, "writable by group or others"),
    ] {
        assert_refused(
            cradle(root).args(["run", "-d", "--name", &id, "--", "sleep", "1000"]),
            what,
        );
        assert_refused(cradle(root).arg("list"), what);
        assert_refused(cradle(root).args(["delete", "--force", &id]), what);
    }
    // A trailing slash does not make the symlink followed.
    assert_refused(cradle(&link.join("")).arg("list"), "is a symlink");
    for dir in [&target, &foreign, &loose] {
        assert_eq!(
            fs::read_dir(dir).expect("dir").count(),
            0,
            "{dir:?} got something"
        );
    }
    assert!(common::cgroups_named(&format!("cradle-{id}")).is_empty());
}

#[test]
fn a_state_file_naming_a_host_process_does_not_get_it_signalled() {
    if !require_root("a_state_file_naming_a_host_process_does_not_get_it_signalled") {
        return;
    }
    let sandbox = Sandbox::new("hostproc");
    let mut victim = Victim::start();
    // No cgroup: root's containers always have one.
    let bare = sandbox.name("bare");
    plant_state(
        sandbox.root(),
        &bare,
        victim.pid(),
        victim.start_time(),
        json!(null),
        json!([]),
    );
    assert_refused(
        sandbox.cradle().args(["kill", &bare, "KILL"]),
        "records no cgroup",
    );
    assert_refused(
        sandbox.cradle().args(["delete", "--force", &bare]),
        "records no cgroup",
    );
    assert_refused(
        sandbox.cradle().args(["exec", &bare, "--", "true"]),
        "records no cgroup",
    );
    assert_refused(sandbox.cradle().args(["state", &bare]), "records no cgroup");
    victim.assert_alive();
    // A well-formed cgroup of the container's, which the process is not in.
    if let Some((own, mount)) = common::own_pids_cgroup() {
        let shaped = sandbox.name("shaped");
        let cgroup = format!("{}/cradle-{shaped}", own.trim_end_matches('/'));
        plant_state(
            sandbox.root(),
            &shaped,
            victim.pid(),
            victim.start_time(),
            pids_cgroup_record(&cgroup, &mount),
            json!([]),
        );
        assert_refused(
            sandbox.cradle().args(["kill", &shaped, "KILL"]),
            "is not in the container's cgroup",
        );
        assert_refused(
            sandbox.cradle().args(["delete", "--force", &shaped]),
            "is not in the container's cgroup",
        );
        victim.assert_alive();
        fs::remove_dir_all(sandbox.root().join(&shaped)).expect("remove planted state");
    }
    fs::remove_dir_all(sandbox.root().join(&bare)).expect("remove planted state");
    sandbox.assert_clean();
}

/// A cgroup of the test's own below its own cgroup, with a sleep in it;
/// the sleep is killed and the cgroup removed on drop.
struct VictimCgroup {
    dir: PathBuf,
    victim: Option<Victim>,
}

impl Drop for VictimCgroup {
    fn drop(&mut self) {
        drop(self.victim.take());
        let deadline = std::time::Instant::now() + DEADLINE;
        while fs::remove_dir(&self.dir).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[test]
fn a_state_file_naming_a_foreign_cgroup_does_not_get_it_killed_or_removed() {
    if !require_root("a_state_file_naming_a_foreign_cgroup_does_not_get_it_killed_or_removed") {
        return;
    }
    let Some((own, mount)) = common::own_pids_cgroup() else {
        eprintln!("no v1 pids hierarchy: the foreign cgroup case needs one");
        return;
    };
    let sandbox = Sandbox::new("foreigncg");
    let cgroup = format!("{}/victim-{}", own.trim_end_matches('/'), std::process::id());
    let dir = mount.join(cgroup.trim_start_matches('/'));
    fs::create_dir(&dir).expect("victim cgroup");
    let mut held = VictimCgroup {
        dir: dir.clone(),
        victim: None,
    };
    let victim = Victim::start();
    fs::write(dir.join("cgroup.procs"), victim.pid().to_string()).expect("move the victim in");
    let (pid, started) = (victim.pid(), victim.start_time());
    held.victim = Some(victim);

    let id = sandbox.name("c");
    plant_state(
        sandbox.root(),
        &id,
        pid,
        started,
        pids_cgroup_record(&cgroup, &mount),
        json!([]),
    );
    assert_refused(sandbox.cradle().args(["delete", "--force", &id]), "is not named");
    assert_refused(sandbox.cradle().args(["kill", &id, "KILL"]), "is not named");
    fs::remove_dir_all(sandbox.root().join(&id)).expect("remove planted state");
    // The container's name, reached by climbing out of it.
    let climbing = format!(
        "{}/cradle-{id}/../victim-{}",
        own.trim_end_matches('/'),
        std::process::id()
    );
    plant_state(
        sandbox.root(),
        &id,
        pid,
        started,
        pids_cgroup_record(&climbing, &mount),
        json!([]),
    );
    assert_refused(
        sandbox.cradle().args(["delete", "--force", &id]),
        "not a plain absolute path",
    );
    fs::remove_dir_all(sandbox.root().join(&id)).expect("remove planted state");

    assert!(dir.is_dir(), "the victim cgroup was removed");
    let procs = fs::read_to_string(dir.join("cgroup.procs")).expect("procs");
    assert!(procs.lines().any(|line| line == pid.to_string()), "{procs:?}");
    held.victim.as_mut().expect("victim").assert_alive();
    drop(held);
    assert!(!dir.exists());
    sandbox.assert_clean();
}

/// A cgroup of the test's own in every hierarchy, below the test's own
/// cgroup, that a `cradle` can be run from, as from another login
/// session's scope. Its processes are killed and it is removed on drop,
/// with the container cgroup below it.
struct SessionCgroup {
    dirs: Vec<PathBuf>,
    container: String,
}

impl SessionCgroup {
    fn new(container: &str) -> SessionCgroup {
        let name = format!("session-{}", std::process::id());
        let dirs: Vec<PathBuf> = cradle_tests::linux::cgroup_dirs_of("self")
            .into_iter()
            .map(|own| own.join(&name))
            .collect();
        let session = SessionCgroup {
            dirs,
            container: format!("cradle-{container}"),
        };
        for dir in &session.dirs {
            fs::create_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            // A v1 cpuset starts empty, and nothing can join an empty one.
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(value) = fs::read_to_string(dir.with_file_name(file)) {
                    fs::write(dir.join(file), value).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
                }
            }
        }
        session
    }

    /// `cradle` with `args`, run from this cgroup in every hierarchy.
    fn cradle(&self, root: &Path, args: &[&str]) -> std::process::ExitStatus {
        let procs: Vec<String> = self
            .dirs
            .iter()
            .map(|dir| dir.join("cgroup.procs").display().to_string())
            .collect();
        StdCommand::new("sh")
            .args([
                "-c",
                r#"for procs in $SESSION_PROCS; do echo $$ > "$procs" || exit 1; done; exec "$@""#,
                "sh",
            ])
            .arg(common::cradle_bin())
            .arg("--root")
            .arg(root)
            .args(args)
            .env("SESSION_PROCS", procs.join(" "))
            .stdout(Stdio::null())
            .status()
            .expect("sh")
    }

    /// The container's cgroup below this one, in every hierarchy.
    fn container_dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|dir| dir.join(&self.container)).collect()
    }

    /// Kills what is in the container's cgroup and removes it, then this
    /// one: what the end of a login session does to its scope.
    fn end(&self) {
        for dir in self.container_dirs().iter().chain(&self.dirs) {
            remove_cgroup(dir);
        }
    }
}

impl Drop for SessionCgroup {
    fn drop(&mut self) {
        self.end();
    }
}

/// Kills the processes in cgroup `dir` (the test's own) and removes it,
/// within [`DEADLINE`]; nothing if it is not there.
fn remove_cgroup(dir: &Path) {
    let deadline = std::time::Instant::now() + DEADLINE;
    while dir.exists() && std::time::Instant::now() < deadline {
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|line| line.parse().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        if fs::remove_dir(dir).is_err() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[test]
fn a_stopped_container_whose_cgroups_are_gone_is_deleted_from_another_cgroup() {
    if !require_root("a_stopped_container_whose_cgroups_are_gone_is_deleted_from_another_cgroup") {
        return;
    }
    let sandbox = Sandbox::new("gonecg");
    let id = sandbox.name("c");
    let session = SessionCgroup::new(&id);
    let ran = session.cradle(
        sandbox.root(),
        &["run", "-d", "--name", &id, "--", "sleep", "1000"],
    );
    assert!(ran.success(), "run -d from the session's cgroup: {ran}");
    for dir in session.container_dirs() {
        assert!(dir.is_dir(), "{} was not made", dir.display());
    }
    // While its cgroup is there, it is not this cgroup's to act on.
    assert_refused(
        sandbox.cradle().args(["delete", "--force", &id]),
        "is not below cradle's parent",
    );
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(sandbox.root().join(&id).join("state.json")).expect("state.json"))
            .expect("JSON");
    let pid = state["pid"].as_i64().expect("a pid");
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the refused delete ended the container"
    );

    session.end();
    assert_eq!(sandbox.state(&id)["status"], "stopped");
    sandbox.cradle().args(["delete", &id]).assert().success();
    sandbox.assert_clean();
}

#[test]
fn a_running_container_is_not_dropped_from_a_view_that_misses_its_cgroups() {
    if !require_root("a_running_container_is_not_dropped_from_a_view_that_misses_its_cgroups") {
        return;
    }
    let sandbox = Sandbox::new("otherview");
    let id = sandbox.name("c");
    sandbox
        .cradle()
        .args(["run", "-d", "--name", &id, "--", "sleep", "1000"])
        .assert()
        .success();
    let pid = sandbox.state(&id)["pid"].as_i64().expect("a pid");
    // New mount, pid and cgroup namespaces, with an empty /sys/fs/cgroup
    // and a /proc of their own: every directory of the container's cgroup
    // looks absent from there, and its init's pid is no process.
    let script = format!(
        "mount -t tmpfs none /sys/fs/cgroup && exec {} --root {} delete --force {id}",
        common::cradle_bin().display(),
        sandbox.root().display()
    );
    let output = StdCommand::new("unshare")
        .args([
            "--mount",
            "--cgroup",
            "--pid",
            "--fork",
            "--mount-proc",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    assert!(
        !output.status.success(),
        "deleted from a view without its cgroups: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the container's init went"
    );
    assert_eq!(
        sandbox.state(&id)["status"],
        "running",
        "the record went or changed"
    );
    sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn a_state_file_naming_a_gone_cgroup_does_not_get_its_process_signalled() {
    if !require_root("a_state_file_naming_a_gone_cgroup_does_not_get_its_process_signalled") {
        return;
    }
    let sandbox = Sandbox::new("gonecgproc");
    let mut victim = Victim::start();
    let id = sandbox.name("c");
    // Named as cradle names it, below a cgroup that does not exist, in
    // the first hierarchy this host mounts (whichever its layout).
    let layout = cradle_linux::cgroup::Layout::detect().expect("this host's cgroups");
    let mounted = layout.hierarchies().first().expect("a cgroup hierarchy");
    let cgroup = mounted
        .own_cgroup
        .join(format!("elsewhere-{}", std::process::id()))
        .join(format!("cradle-{id}"));
    let dir = cradle_linux::cgroup::CgroupDir {
        hierarchy: mounted.hierarchy.clone(),
        path: mounted.dir(&cgroup).expect("below the mount"),
        cgroup,
    };
    assert!(!dir.path.exists());
    plant_state(
        sandbox.root(),
        &id,
        victim.pid(),
        victim.start_time(),
        json!({ "dirs": [dir] }),
        json!([]),
    );
    assert_refused(
        sandbox.cradle().args(["delete", "--force", &id]),
        "is not below cradle's parent",
    );
    victim.assert_alive();
    assert!(
        sandbox.root().join(&id).exists(),
        "the record of a live process went"
    );
    fs::remove_dir_all(sandbox.root().join(&id)).expect("remove planted state");
    sandbox.assert_clean();
}

/// A veth pair of the test's own in the host namespace; deleted on drop.
struct VictimVeth(String);

impl Drop for VictimVeth {
    fn drop(&mut self) {
        let _ = StdCommand::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[test]
fn a_state_file_naming_a_foreign_veth_does_not_get_it_deleted() {
    if !require_root("a_state_file_naming_a_foreign_veth_does_not_get_it_deleted") {
        return;
    }
    let sandbox = Sandbox::new("foreignveth");
    let name = format!("vtest{}", std::process::id() % 1_000_000);
    let peer = format!("vpeer{}", std::process::id() % 1_000_000);
    let added = StdCommand::new("ip")
        .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
        .status()
        .expect("ip link add");
    assert!(added.success());
    let _veth = VictimVeth(name.clone());
    let id = sandbox.name("c");
    let veth = json!([{"host_name": name, "peer_name": "tmp0", "name": "eth0"}]);
    // A container that has stopped: its pid names no process.
    plant_state(sandbox.root(), &id, i32::MAX, 1, json!(null), veth);
    let output = sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .output()
        .expect("delete");
    assert!(
        Path::new("/sys/class/net").join(&name).exists(),
        "the foreign veth was deleted"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("left alone"),
        "{output:?}"
    );
    sandbox.assert_clean();
}

#[test]
fn a_planted_temporary_state_file_symlink_is_not_written_through() {
    if !require_root("a_planted_temporary_state_file_symlink_is_not_written_through") {
        return;
    }
    let sandbox = Sandbox::new("tmplink");
    let outside = tempfile::tempdir().expect("tempdir");
    let victim = outside.path().join("precious");
    fs::write(&victim, "precious\n").expect("victim");
    let id = sandbox.name("c");
    // Planted where the new container's state would go.
    let dir = sandbox.root().join(&id);
    fs::create_dir(&dir).expect("dir");
    symlink(&victim, dir.join(".state.json.tmp")).expect("symlink");
    assert_refused(
        sandbox
            .cradle()
            .args(["run", "-d", "--name", &id, "--", "sleep", "1000"]),
        "already exists",
    );
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "precious\n");
    fs::remove_dir_all(&dir).expect("remove planted dir");
    // And in a root anyone can write to, nothing is even tried.
    let loose = outside.path().join("loose");
    fs::create_dir(&loose).expect("loose");
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o777)).expect("chmod");
    fs::create_dir(loose.join(&id)).expect("dir");
    symlink(&victim, loose.join(&id).join(".state.json.tmp")).expect("symlink");
    assert_refused(
        cradle(&loose).args(["run", "-d", "--name", &id, "--", "sleep", "1000"]),
        "writable by group or others",
    );
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "precious\n");
    assert!(common::cgroups_named(&format!("cradle-{id}")).is_empty());
    sandbox.assert_clean();
}

#[test]
fn list_escapes_control_characters_of_a_command() {
    if !require_root("list_escapes_control_characters_of_a_command") {
        return;
    }
    let sandbox = Sandbox::new("escape");
    let id = sandbox.name("c");
    plant_state(sandbox.root(), &id, i32::MAX, 1, json!(null), json!([]));
    let path = sandbox.root().join(&id).join("state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
    state["command"] = json!(["echo", "\u{1b}]0;TITLE\u{7}"]);
    fs::write(&path, serde_json::to_vec(&state).expect("json")).expect("write");
    let table = sandbox.cradle().arg("list").output().expect("list");
    let text = String::from_utf8(table.stdout).expect("utf-8");
    assert!(text.contains("echo \\x1b]0;TITLE\\a"), "{text:?}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
    let listed = sandbox
        .cradle()
        .args(["list", "--format", "json"])
        .output()
        .expect("list");
    let raw = String::from_utf8(listed.stdout).expect("utf-8");
    assert!(!raw.contains('\u{1b}') && raw.contains("\\u001b"), "{raw:?}");
    fs::remove_dir_all(sandbox.root().join(&id)).expect("remove planted state");
    sandbox.assert_clean();
}
