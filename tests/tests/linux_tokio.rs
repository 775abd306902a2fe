//! The backend's `tokio` feature, as root: many containers and execs at
//! once under a multi-threaded runtime, round after round, each round
//! with a deadline; and a launch future dropped at any point leaves no
//! process, zombie, descriptor or cgroup.

use std::fs;
use std::time::Duration;

use cradle_linux::command::{Command, Stdio};
use cradle_tests::linux::{self, require_root, serial, BusyboxRootfs, Leftovers};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

/// How long one round of launches may take, at most.
const ROUND_DEADLINE: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A container of the busybox rootfs named `name`, running until killed.
fn container(rootfs: &BusyboxRootfs, name: &str) -> Command {
    let mut command = Command::new("/bin/sleep");
    command
        .arg("1000")
        .hostname(name)
        .rootfs(rootfs.path())
        .init_binary(INIT)
        .stdin(Stdio::null());
    command
}

/// The cgroups of this process's containers (`cradle-<pid>-<n>`) in every
/// hierarchy, below this process's own cgroups.
fn own_container_cgroups() -> Vec<String> {
    let prefix = format!("cradle-{}-", std::process::id());
    let mut found = Vec::new();
    for dir in linux::cgroup_dirs_of("self") {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                found.push(entry.path().display().to_string());
            }
        }
    }
    found
}

#[test]
fn a_container_launched_on_tokio_is_in_its_cgroup_in_every_hierarchy() {
    if !require_root("a_container_launched_on_tokio_is_in_its_cgroup_in_every_hierarchy") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let runtime = runtime();
    let leftovers = Leftovers::before();
    let mut container = runtime
        .block_on(container(&rootfs, "member").spawn_async())
        .expect("a launch");
    // The config went out through tokio's sends, with the v1 hierarchies'
    // `tasks` files, which the init joined itself.
    let prefix = format!("cradle-{}-", std::process::id());
    let dirs = linux::cgroup_dirs_of(&container.id().to_string());
    let outside: Vec<_> = dirs
        .iter()
        .filter(|dir| {
            !dir.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(&prefix))
        })
        .collect();
    assert!(
        !dirs.is_empty() && outside.is_empty(),
        "outside its cgroup in {outside:?}"
    );
    runtime.block_on(container.kill_async()).expect("kill");
    drop(container);
    leftovers.assert_none("after the launch");
    assert_eq!(own_container_cgroups(), Vec::<String>::new());
    drop(runtime);
}

#[test]
fn a_hundred_launches_at_once_twenty_rounds_in_a_row() {
    if !require_root("a_hundred_launches_at_once_twenty_rounds_in_a_row") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let leftovers = Leftovers::before();
    let runtime = runtime();
    for round in 0..20 {
        let outcome = runtime.block_on(async {
            tokio::time::timeout(ROUND_DEADLINE, async {
                // 20 containers, then 4 execs into each: 100 launches, all
                // in flight together on the runtime's threads.
                let mut tasks = tokio::task::JoinSet::new();
                for index in 0..20 {
                    let name = format!("r{round}c{index}");
                    let mut command = container(&rootfs, &name);
                    tasks.spawn(async move {
                        let mut container = command.spawn_async().await.expect("container");
                        let execs = (0..4).map(|_| {
                            let mut exec = container.exec("/bin/hostname");
                            async move { exec.output_async().await }
                        });
                        let outputs = futures_join_all(execs).await;
                        for output in outputs {
                            let output = output.expect("exec");
                            assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{name}\n"));
                        }
                        container.kill_async().await.expect("kill");
                    });
                }
                while let Some(joined) = tasks.join_next().await {
                    joined.expect("a launch task");
                }
            })
            .await
        });
        assert!(
            outcome.is_ok(),
            "round {round} did not finish within {ROUND_DEADLINE:?}"
        );
    }
    drop(runtime);
    leftovers.assert_none("after 20 rounds");
    assert_eq!(own_container_cgroups(), Vec::<String>::new());
}

/// Polls every future of `futures` to its end, together on this task.
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("every future ended"))
        .collect()
}

#[test]
fn a_launch_dropped_at_any_point_leaves_nothing() {
    if !require_root("a_launch_dropped_at_any_point_leaves_nothing") {
        return;
    }
    let _serial = serial();
    let rootfs = BusyboxRootfs::new();
    let runtime = runtime();
    let leftovers = Leftovers::before();
    // How long a whole launch takes here, now: the drops are spread over
    // it and a little past it.
    let started = std::time::Instant::now();
    let whole = runtime
        .block_on(container(&rootfs, "measured").spawn_async())
        .expect("a launch");
    let took = started.elapsed();
    drop(whole);
    let mut finished = 0;
    // Cancelled at 0, 1/40, 2/40, ... of that: at every await point of the
    // launch in turn (the config send, the replies, the exec), and past
    // its end.
    let points = 60u32;
    for step in 0..points {
        let mut command = container(&rootfs, "cancelled");
        let after = took * step / 40;
        let outcome = runtime.block_on(async { tokio::time::timeout(after, command.spawn_async()).await });
        if let Ok(child) = outcome {
            finished += 1;
            drop(child.expect("a finished launch succeeds"));
        }
        // The runtime's threads have nothing of it left either.
        assert_eq!(
            own_container_cgroups(),
            Vec::<String>::new(),
            "after a drop at {after:?}"
        );
    }
    leftovers.assert_none("after launches dropped at every point");
    assert!(
        finished > 0 && finished < points,
        "the drops fell before and after the end: {finished} finished"
    );
    drop(runtime);
}
