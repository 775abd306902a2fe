//! Throughput: the total time of N launches of `/bin/true` in new pid,
//! mount, uts and ipc namespaces, each run to its exit and reaped. cradle
//! one launch after another with the blocking driver, cradle with all N in
//! flight at once on the mio driver (one thread), N `unshare --fork` runs
//! one after another, and N `crun run`s where crun works on this machine.
//!
//! Run as root with `bench/run` (or `cargo bench -p cradle-linux --bench
//! throughput -- [N]`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cradle_core::{Config, Namespace, NamespaceKind, Plan};
use cradle_linux::driver::{Driver, Event};
use cradle_linux::{Options, Process};

#[path = "support/small_init.rs"]
mod small_init;

/// Runs `/bin/true` this many times, to exit.
type Launcher<'a> = Box<dyn Fn(usize) + 'a>;

const DEFAULT_LAUNCHES: usize = 100;
/// Nanoseconds spent in [`Driver::start`], over every round.
static IN_START: AtomicU64 = AtomicU64::new(0);
/// Each column runs this many times; the median total is shown.
const ROUNDS: usize = 5;
const NAMESPACES: [NamespaceKind; 4] = [
    NamespaceKind::Pid,
    NamespaceKind::Mount,
    NamespaceKind::Uts,
    NamespaceKind::Ipc,
];

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the benchmark creates namespaces: run it as root");
        std::process::exit(1);
    }
    let launches = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(DEFAULT_LAUNCHES);
    let crun = CrunBundle::prepare();
    let mut columns: Vec<(&str, Launcher<'_>)> = vec![
        ("cradle, blocking, one by one", Box::new(cradle_blocking)),
        ("cradle, mio driver, one thread", Box::new(cradle_driver)),
        ("unshare --fork, one by one", Box::new(unshare)),
    ];
    match &crun {
        Ok(bundle) => columns.push(("crun run, one by one", Box::new(|n| bundle.run(n)))),
        Err(reason) => println!("crun run: skipped: {reason}"),
    }
    println!(
        "{launches} × /bin/true in new pid,mnt,uts,ipc namespaces, start to reap; median of {ROUNDS} rounds"
    );
    println!(
        "{:<32} {:>10} {:>12} {:>10}",
        "launcher", "total", "per launch", "launches/s"
    );
    for (name, run) in &columns {
        // Warm up the page cache and the kernel's slabs.
        run(launches.min(10));
        let mut totals: Vec<Duration> = (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                run(launches);
                started.elapsed()
            })
            .collect();
        totals.sort_unstable();
        let total = totals[ROUNDS / 2];
        println!(
            "{name:<32} {:>7.1} ms {:>9.0} µs {:>10.0}",
            total.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e6 / launches as f64,
            launches as f64 / total.as_secs_f64()
        );
    }
    // What the driver's thread spends inline: mostly `clone3` itself (the
    // namespaces it makes) and the cgroup writes; it does not wait for the
    // child's `exec`.
    let counted = (ROUNDS * launches + launches.min(10)) as f64;
    println!(
        "(mio driver: {:.0} µs a launch inside `Driver::start`)",
        IN_START.load(Ordering::Relaxed) as f64 / 1e3 / counted
    );
}

fn plan() -> Plan {
    let mut config = Config::new(["/bin/true"]);
    config.namespaces = NAMESPACES.map(Namespace::new).to_vec();
    Plan::init(config)
}

fn options() -> Options {
    small_init::options()
}

fn cradle_blocking(launches: usize) {
    for _ in 0..launches {
        let mut process = Process::start(plan(), options()).expect("cradle launch");
        let status = process.wait().expect("cradle wait");
        assert!(status.success(), "/bin/true in cradle: {status}");
    }
}

fn cradle_driver(launches: usize) {
    let mut driver = Driver::new().expect("driver");
    let mut exited = 0;
    let mut on = |driver: &mut Driver, event: Event| match event {
        Event::Launched { result, .. } => {
            driver.watch(result.expect("cradle launch"));
        }
        Event::Exited { status, .. } => {
            let status = status.expect("cradle wait");
            assert!(status.success(), "/bin/true in cradle: {status}");
            exited += 1;
        }
        other => panic!("unexpected {other:?}"),
    };
    for _ in 0..launches {
        let starting = Instant::now();
        driver.start(plan(), options()).expect("cradle launch");
        let nanos = u64::try_from(starting.elapsed().as_nanos()).unwrap_or(u64::MAX);
        IN_START.fetch_add(nanos, Ordering::Relaxed);
        for event in driver.poll(Some(Duration::ZERO)).expect("poll") {
            on(&mut driver, event);
        }
    }
    while !driver.is_idle() {
        for event in driver.poll(Some(Duration::from_secs(10))).expect("poll") {
            on(&mut driver, event);
        }
    }
    assert_eq!(exited, launches);
}

fn unshare(launches: usize) {
    for _ in 0..launches {
        let status = Command::new("unshare")
            .args([
                "--fork",
                "--pid",
                "--mount",
                "--uts",
                "--ipc",
                "--mount-proc",
                "/bin/true",
            ])
            .status()
            .expect("unshare");
        assert!(status.success(), "unshare: {status}");
    }
}

/// An OCI bundle for `crun run`: busybox's `true` as the container's
/// `/bin/true`, in the namespaces of the other columns.
struct CrunBundle {
    dir: PathBuf,
}

impl CrunBundle {
    /// The bundle, or why crun cannot run here.
    fn prepare() -> Result<CrunBundle, String> {
        let dir = std::env::temp_dir().join(format!("cradle-bench-crun-{}", std::process::id()));
        let bundle = CrunBundle { dir };
        bundle.fill()?;
        // One run to see whether crun works on this host at all.
        bundle.run_once(0)?;
        Ok(bundle)
    }

    fn fill(&self) -> Result<(), String> {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .map(Path::new)
            .find(|path| path.is_file())
            .ok_or("busybox is missing (apt-get install busybox-static)")?;
        let bin = self.dir.join("rootfs/bin");
        std::fs::create_dir_all(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
        std::fs::copy(busybox, bin.join("busybox")).map_err(|e| format!("copy busybox: {e}"))?;
        std::os::unix::fs::symlink("busybox", bin.join("true")).map_err(|e| format!("symlink: {e}"))?;
        for sub in ["proc", "dev", "sys"] {
            std::fs::create_dir_all(self.dir.join("rootfs").join(sub)).map_err(|e| e.to_string())?;
        }
        let spec = Command::new("crun").arg("spec").current_dir(&self.dir).output();
        match spec {
            Ok(output) if output.status.success() => {}
            Ok(output) => {
                return Err(format!(
                    "crun spec: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
            }
            Err(error) => return Err(format!("crun is not installed ({error}): apt-get install crun")),
        }
        let path = self.dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut config: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["/bin/true"]);
        // The namespaces of the other columns (no network or cgroup one).
        config["linux"]["namespaces"] = serde_json::json!([
            {"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}
        ]);
        std::fs::write(&path, config.to_string()).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn run(&self, launches: usize) {
        for i in 0..launches {
            if let Err(error) = self.run_once(i) {
                panic!("{error}");
            }
        }
    }

    fn run_once(&self, i: usize) -> Result<(), String> {
        let id = format!("cradle-bench-{}-{i}", std::process::id());
        // No cgroup, as in the other columns: crun would make one outside
        // this process's own.
        let output = Command::new("crun")
            .args(["--cgroup-manager=disabled", "run", "--bundle"])
            .arg(&self.dir)
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("crun run: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            // Leave no state behind a failed run.
            let _ = Command::new("crun").args(["delete", "--force", &id]).output();
            Err(format!(
                "crun run: {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

impl Drop for CrunBundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
