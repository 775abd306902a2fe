//! Many launches (issue 18, item 4): N containers of `/bin/true` run to
//! their exit, each with a busybox rootfs and new pid, mount, uts, ipc and
//! net namespaces, in a cgroup of its own (but `unshare`'s, which makes
//! none). cradle's mio driver with all N in flight on one thread, against
//! N `unshare --fork` one after another, N `crun run` two at a time, and N
//! `cradle run --rootfs` two at a time. The columns take turns, one round
//! each in an order shuffled each round; each shows the median total of its rounds and
//! the user+sys CPU time per launch (this process's own and that of every
//! process it reaped).
//!
//! crun 1.8 refuses hybrid hosts: `bench/run` runs this in `bench/cgroup-view
//! v1`. Every cgroup goes below this process's own.
//!
//! Run as root with `bench/run`, or alone:
//! `bench/cgroup-view v1 cargo bench -p cradle --bench launches -- [N]`.

// Shared with the views benchmark, which uses all of it.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cradle_core::{Config, Namespace, NamespaceKind, Plan};
use cradle_linux::cgroup::CgroupConfig;
use cradle_linux::driver::{Driver, Event};
use cradle_linux::Options;
use nix::sys::resource::UsageWho;

use support::bundle::Spec;
use support::cgroups::{SweepOnDrop, View};
use support::error::BenchError;
use support::sample::{children_cpu, cpu_time, output};

const DEFAULT_LAUNCHES: usize = 100;
/// Each column runs this many times; the median total is shown.
const ROUNDS: usize = 5;
/// Launches of each column before the rounds, to warm the caches.
const WARMUP: usize = 10;
const NAMESPACES: [NamespaceKind; 5] = [
    NamespaceKind::Pid,
    NamespaceKind::Mount,
    NamespaceKind::Uts,
    NamespaceKind::Ipc,
    NamespaceKind::Net,
];
/// How long the driver waits for its next event before it gives up.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `/bin/true` N times, to exit: `Err` says what failed.
type Launcher<'a> = Box<dyn Fn(usize) -> Result<(), String> + 'a>;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("bench launches: the benchmark creates containers: run it as root");
        std::process::exit(1);
    }
    let launches = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(DEFAULT_LAUNCHES);
    if let Err(error) = run(launches) {
        eprintln!("bench launches: {error}");
        std::process::exit(1);
    }
}

fn run(launches: usize) -> Result<(), BenchError> {
    let view = View::detect()?;
    let pid = std::process::id();
    let cgroup_parent = format!("cradle-launches-{pid}");
    let tag = format!("cl{pid}");
    let dir = tempfile::Builder::new()
        .prefix("cradle-bench-launches-")
        .tempdir()
        .map_err(BenchError::io("/tmp/cradle-bench-launches-*"))?;
    // The driver's and crun's parent, and cradle run's `cradle-<id>`.
    let (parent, cradle_cgroups) = (cgroup_parent.clone(), format!("cradle-{tag}-"));
    let _sweep = SweepOnDrop::new("launches", move |name| {
        name == parent || name.starts_with(&cradle_cgroups)
    })?;
    let rootfs = support::rootfs::busybox(&dir.path().join("rootfs"))?;
    let cradle_state = dir.path().join("state-cradle");
    let crun_state = dir.path().join("state-crun");

    let mut columns: Vec<(&str, Launcher<'_>)> = vec![
        (
            "cradle, mio driver, one thread",
            Box::new(|n| driver(n, &rootfs, &cgroup_parent)),
        ),
        ("unshare --fork, one by one", Box::new(unshare)),
    ];
    match crun_bundles(dir.path(), &rootfs, &cgroup_parent) {
        Ok(bundles) => {
            let (crun_state, tag) = (&crun_state, &tag);
            let crun = move |n: usize| {
                two_at_a_time(n, |worker, i| {
                    let mut command = Command::new("crun");
                    command.arg("--root").arg(crun_state).args(["run", "--bundle"]);
                    command.arg(&bundles[worker]).arg(format!("{tag}-crun-{i}"));
                    command
                })
            };
            columns.push(("crun run, two at a time", Box::new(crun)));
        }
        Err(error) => println!("crun run: skipped: {error}"),
    }
    let cradle_run = |n: usize| {
        let tag = &tag;
        two_at_a_time(n, |_, i| {
            let mut command = Command::new(support::cradle_binary());
            command.arg("--root").arg(&cradle_state).args(["run", "--name"]);
            command.arg(format!("{tag}-run-{i}")).arg("--rootfs").arg(&rootfs);
            command.args(["--", "/bin/true"]);
            command
        })
    };
    columns.push(("cradle run --rootfs, two at a time", Box::new(cradle_run)));

    println!("== many launches: view {} ==", view.title());
    println!("load average at the start: {}", support::load_average());
    println!(
        "{launches} x /bin/true to exit, busybox rootfs, new pid,mount,uts,ipc,net namespaces, \
         each in a cgroup of its own (unshare: none); median of {ROUNDS} rounds, the columns in an order shuffled each round"
    );
    let mut totals: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); columns.len()];
    let mut failed: Vec<Option<String>> = vec![None; columns.len()];
    for (index, (name, launch)) in columns.iter().enumerate() {
        if let Err(error) = launch(WARMUP.min(launches)) {
            println!("{name}: skipped: {error}");
            failed[index] = Some(error);
        }
    }
    for round in 0..ROUNDS {
        for index in support::order::of_round(round, columns.len()) {
            if failed[index].is_some() {
                continue;
            }
            let (cpu_before, start) = (all_cpu(), Instant::now());
            match columns[index].1(launches) {
                Ok(()) => totals[index].push((start.elapsed(), all_cpu() - cpu_before)),
                Err(error) => {
                    println!("{}: dropped: {error}", columns[index].0);
                    failed[index] = Some(error);
                }
            }
        }
    }

    println!(
        "{:<36} {:>10} {:>12} {:>10} {:>14} {:>10}",
        "launcher", "total ms", "ms a launch", "launches/s", "CPU ms/launch", "vs driver"
    );
    let median = |index: usize| {
        let mut walls: Vec<Duration> = totals[index].iter().map(|&(wall, _)| wall).collect();
        walls.sort_unstable();
        walls.get(walls.len() / 2).copied()
    };
    let driver_total = median(0).filter(|_| failed[0].is_none());
    for (index, (name, _)) in columns.iter().enumerate() {
        let Some(total) = median(index).filter(|_| failed[index].is_none()) else {
            println!("{name:<36} {:>10}", "skipped");
            continue;
        };
        let rounds = u32::try_from(totals[index].len()).unwrap_or(1);
        let cpu = totals[index].iter().map(|&(_, cpu)| cpu).sum::<Duration>() / rounds;
        let per = |d: Duration| d.as_secs_f64() * 1e3 / launches as f64;
        println!(
            "{name:<36} {:>10.1} {:>12.2} {:>10.0} {:>14.2} {:>10}",
            total.as_secs_f64() * 1e3,
            per(total),
            launches as f64 / total.as_secs_f64(),
            per(cpu),
            driver_total.map_or("-".to_owned(), |d| format!(
                "{:.2}x",
                total.as_secs_f64() / d.as_secs_f64()
            ))
        );
    }
    println!("load average at the end: {}", support::load_average());
    println!();
    Ok(())
}

/// User+sys time of this process and of every process it reaped.
fn all_cpu() -> Duration {
    cpu_time(UsageWho::RUSAGE_SELF) + children_cpu()
}

/// cradle's mio driver: all `launches` started on this thread, each
/// watched to its exit and its cgroup destroyed then.
fn driver(launches: usize, rootfs: &Path, cgroup_parent: &str) -> Result<(), String> {
    let mut config = Config::new(["/bin/true"]);
    config.namespaces = NAMESPACES.map(Namespace::new).to_vec();
    config.rootfs = Some(rootfs.to_path_buf());
    let mut driver = Driver::new().map_err(|e| format!("driver: {e}"))?;
    let (mut exited, mut failure) = (0, None);
    let mut on = |driver: &mut Driver, event: Event| match event {
        Event::Launched {
            result: Ok(process), ..
        } => {
            driver.watch(process);
        }
        Event::Launched {
            result: Err(error), ..
        } => {
            exited += 1;
            failure.get_or_insert(format!("launch: {error}"));
        }
        Event::Exited { process, status, .. } => {
            exited += 1;
            if let Some(Err(error)) = process.cgroup().map(|cgroup| cgroup.destroy()) {
                failure.get_or_insert(format!("destroy the cgroup: {error}"));
            }
            match status {
                Ok(status) if status.success() => {}
                Ok(status) => {
                    failure.get_or_insert(format!("/bin/true: {status}"));
                }
                Err(error) => {
                    failure.get_or_insert(format!("wait: {error}"));
                }
            }
        }
        other => {
            failure.get_or_insert(format!("unexpected {other:?}"));
        }
    };
    for _ in 0..launches {
        let mut plan = Plan::init(config.clone());
        plan.cgroup = true;
        let options = Options::new().cgroup(CgroupConfig {
            parent: Some(PathBuf::from(cgroup_parent)),
            ..CgroupConfig::default()
        });
        driver.start(plan, options).map_err(|e| format!("start: {e}"))?;
        for event in driver
            .poll(Some(Duration::ZERO))
            .map_err(|e| format!("poll: {e}"))?
        {
            on(&mut driver, event);
        }
    }
    // A poll may move launches on without ending one: only a long
    // stretch without any event is a hang.
    let mut last_event = Instant::now();
    while !driver.is_idle() {
        let events = driver
            .poll(Some(POLL_TIMEOUT))
            .map_err(|e| format!("poll: {e}"))?;
        if !events.is_empty() {
            last_event = Instant::now();
        } else if last_event.elapsed() > POLL_TIMEOUT {
            return Err(format!("no launch ended or exited for {POLL_TIMEOUT:?}"));
        }
        for event in events {
            on(&mut driver, event);
        }
    }
    match failure {
        Some(failure) => Err(failure),
        None if exited == launches => Ok(()),
        None => Err(format!("{exited} of {launches} exited")),
    }
}

fn unshare(launches: usize) -> Result<(), String> {
    for _ in 0..launches {
        output(&mut support::unshare_true()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs `launches` commands, two at a time: two threads, each one command
/// after another (`command(worker, i)` for i = worker, worker + 2, ...).
fn two_at_a_time(launches: usize, command: impl Fn(usize, usize) -> Command + Sync) -> Result<(), String> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|worker| {
                let command = &command;
                scope.spawn(move || {
                    (worker..launches).step_by(2).try_for_each(|i| {
                        output(&mut command(worker, i))
                            .map(drop)
                            .map_err(|e| e.to_string())
                    })
                })
            })
            .collect();
        // The scope joins both workers whichever fails first.
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .unwrap_or_else(|_| Err("a worker thread panicked".to_owned()))
        })
    })
}

/// One bundle for each of the two workers: its own cgroupsPath (below this
/// process's own cgroup), so that two containers never share a cgroup.
fn crun_bundles(dir: &Path, rootfs: &Path, cgroup_parent: &str) -> Result<[PathBuf; 2], BenchError> {
    let spec = Spec::generate(&dir.join("spec"), rootfs)?;
    let bundle = |worker: usize| {
        spec.write(
            &dir.join(format!("bundle-crun-{worker}")),
            &["/bin/true"],
            &format!("{cgroup_parent}/crun-{worker}"),
        )
    };
    Ok([bundle(0)?, bundle(1)?])
}
