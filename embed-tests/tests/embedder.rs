//! cradle as an embedder uses it, as root, through `cradle-linux`'s public
//! API alone: this test binary is its containers' init binary too, with
//! nothing to call for it (the crate takes the role before `main`). A run
//! with captured output; a container with limits, an exec into it, and
//! nothing left once its handle is dropped; a missing program's error by
//! kind and errno; a hundred launches at once under tokio.

use std::sync::Mutex;
use std::time::Duration;

use cradle_embed_tests::{children, require_root, Rootfs};
use cradle_linux::cgroup::Layout;
use cradle_linux::command::{Command, ExitStatus, Stdio};
use cradle_linux::ErrorKind;

/// The tests count this process's children: one at a time.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn a_run_with_its_output_captured() {
    if !require_root("a_run_with_its_output_captured") {
        return;
    }
    let _turn = turn();
    let rootfs = Rootfs::new();
    let output = Command::new("/bin/sh")
        .args(["-c", "echo hello from $(hostname) as pid $$; exit 2"])
        .hostname("embedded")
        .rootfs(rootfs.path())
        .output()
        .expect("output");
    assert_eq!(output.stdout, b"hello from embedded as pid 1\n");
    assert_eq!(output.status, ExitStatus::Exited(2));
}

#[test]
fn a_container_with_limits_an_exec_and_nothing_left_after_the_drop() {
    if !require_root("a_container_with_limits_an_exec_and_nothing_left_after_the_drop") {
        return;
    }
    let _turn = turn();
    let rootfs = Rootfs::new();
    let before = children();
    let container = Command::new("/bin/sleep")
        .arg("1000")
        .rootfs(rootfs.path())
        .memory_limit(32 << 20)
        .pids_limit(8)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = container.id();
    let cgroups = cgroup_dirs(pid);
    assert!(!cgroups.is_empty(), "it has cgroups");
    let exec = container
        .exec("/bin/cat")
        .arg("/proc/1/comm")
        .output()
        .expect("exec");
    assert_eq!(exec.stdout, b"sleep\n");
    drop(container);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container's init is left"
    );
    assert_eq!(children(), before, "children or zombies are left");
    // Every cgroup it was in is gone.
    for dir in cgroups {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

/// The directories of `pid`'s cgroups, as cradle-linux maps them.
fn cgroup_dirs(pid: u32) -> Vec<std::path::PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroups");
    Layout::parse(&mountinfo, &membership)
        .hierarchies()
        .iter()
        .filter_map(|hierarchy| hierarchy.dir(&hierarchy.own_cgroup))
        .collect()
}

#[test]
fn a_missing_program_is_not_found_with_its_errno() {
    if !require_root("a_missing_program_is_not_found_with_its_errno") {
        return;
    }
    let _turn = turn();
    let rootfs = Rootfs::new();
    let error = Command::new("/bin/no-such-program")
        .rootfs(rootfs.path())
        .spawn()
        .expect_err("no such program");
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert_eq!(error.errno(), Some(libc::ENOENT), "{error}");
    assert_eq!(error.to_string().lines().count(), 1, "{error}");
}

#[test]
fn a_hundred_launches_at_once_under_tokio() {
    if !require_root("a_hundred_launches_at_once_under_tokio") {
        return;
    }
    let _turn = turn();
    let rootfs = Rootfs::new();
    let before = children();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            let mut tasks = tokio::task::JoinSet::new();
            for index in 0..20 {
                let name = format!("box{index}");
                let mut command = Command::new("/bin/sleep");
                command
                    .arg("1000")
                    .hostname(&name)
                    .rootfs(rootfs.path())
                    .stdin(Stdio::null());
                tasks.spawn(async move {
                    let mut container = command.spawn_async().await.expect("container");
                    for _ in 0..4 {
                        let output = container
                            .exec("/bin/hostname")
                            .output_async()
                            .await
                            .expect("exec");
                        assert_eq!(output.stdout, format!("{name}\n").into_bytes());
                    }
                    container.kill_async().await.expect("kill");
                });
            }
            while let Some(joined) = tasks.join_next().await {
                joined.expect("a launch task");
            }
        })
        .await
        .expect("100 launches within a minute");
    });
    drop(runtime);
    assert_eq!(children(), before, "children or zombies are left");
}
