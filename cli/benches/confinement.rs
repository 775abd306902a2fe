//! What default confinement costs a launch: the whole `cradle run` process
//! (spawn to reap) of `/bin/true` in a busybox rootfs, confined by default
//! against `--privileged`, and against `crun run` with crun's default
//! config (`crun spec`) on the same rootfs; and, to split the cost, the
//! default with `--security-opt seccomp=unconfined`. The variants run interleaved,
//! one of each per round in an order shuffled each round (`support::order`),
//! so all see the same machine and none always follows the same one;
//! user+sys CPU per run comes from `getrusage(RUSAGE_CHILDREN)` deltas.
//! Last, the seccomp compile of the default profile, in this process.
//!
//! crun 1.8 refuses hybrid cgroup hosts: `bench/run` runs this inside
//! `bench/v1-view`, where both runtimes see cgroup v1 only. Without crun
//! (or where it fails) its row is skipped, saying why.
//!
//! Run as root with `bench/run`, or alone:
//! `bench/v1-view cargo bench -p cradle --bench confinement -- [runs]`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};

// Shared with the views benchmark, which uses all of it.
#[allow(dead_code)]
mod support;

const DEFAULT_RUNS: usize = 200;
const WARMUP: usize = 20;
/// Failed runs tolerated (each reported and run again) before giving up.
const MAX_FAILURES: usize = 5;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the benchmark creates containers: run it as root");
        std::process::exit(1);
    }
    let runs = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .or_else(|| std::env::var("CRADLE_BENCH_RUNS").ok()?.parse().ok())
        .unwrap_or(DEFAULT_RUNS);
    let dir = tempfile::Builder::new()
        .prefix("cradle-bench-confinement-")
        .tempdir()
        .expect("a temporary directory");
    let rootfs = support::rootfs::busybox(&dir.path().join("rootfs"))
        .unwrap_or_else(|error| panic!("the rootfs: {error}"));
    let state = dir.path().join("state");
    fs::create_dir(&state).expect("the state root");

    let cradle = |extra: &'static [&'static str]| {
        let (state, rootfs) = (state.clone(), rootfs.clone());
        Box::new(move |_| {
            let mut command = Command::new(support::cradle_binary());
            command
                .arg("--root")
                .arg(&state)
                .arg("run")
                .arg("--rootfs")
                .arg(&rootfs);
            command.args(extra);
            command.args(["--", "/bin/true"]);
            command
        })
    };
    let mut variants: Vec<Variant> = vec![
        Variant::new("cradle run (default)", cradle(&[])),
        Variant::new("cradle run --privileged", cradle(&["--privileged"])),
        // The default without its seccomp filter: what the rest costs.
        Variant::new(
            "cradle, seccomp=unconfined",
            cradle(&["--security-opt", "seccomp=unconfined"]),
        ),
    ];
    match CrunBundle::prepare(dir.path(), &rootfs) {
        Ok(bundle) => variants.push(Variant::new(
            "crun run (crun spec)",
            Box::new(move |i| bundle.run(i)),
        )),
        Err(reason) => println!("crun run: skipped: {reason}"),
    }
    for variant in &mut variants {
        // One run first, to fail with the launcher's own message.
        variant.check();
    }

    let mut binaries = support::cradle_binaries();
    binaries.extend([PathBuf::from("crun"), rootfs.join("bin/busybox")]);
    let evicted = support::page_cache::evict(binaries.iter().map(PathBuf::as_path));
    println!("page cache: dropped before the warm-up, which reads them back alike: {evicted}");
    println!(
        "/bin/true in a busybox rootfs, the whole launcher process from spawn to reap; \
         {runs} runs each after {WARMUP} warm-up runs, interleaved"
    );
    let mut errors = fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dir.path().join("stderr"))
        .expect("the error file");
    let count = variants.len();
    for round in 0..WARMUP + runs {
        for index in support::order::of_round(round, count) {
            let variant = &mut variants[index];
            let sample = loop {
                if let Some(sample) = variant.time(round, &mut errors) {
                    break sample;
                }
            };
            if round >= WARMUP {
                variant.samples.push(sample);
            }
        }
    }

    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>14}",
        "launcher", "median", "p90", "mean", "CPU (usr+sys)"
    );
    let stats: Vec<Stats> = variants.iter().map(|v| Stats::of(&v.samples)).collect();
    for (variant, s) in variants.iter().zip(&stats) {
        println!(
            "{:<26} {:>7} µs {:>7} µs {:>7} µs {:>11} µs",
            variant.name,
            s.median.as_micros(),
            s.p90.as_micros(),
            s.mean.as_micros(),
            s.cpu.as_micros()
        );
    }
    let (default, privileged) = (&stats[0], &stats[1]);
    let diff = default.median.as_micros() as i128 - privileged.median.as_micros() as i128;
    let cpu_diff = default.cpu.as_micros() as i128 - privileged.cpu.as_micros() as i128;
    println!(
        "confinement: default - privileged = {diff:+} µs wall (median), {cpu_diff:+} µs CPU (mean); \
         ratio {:.3}×",
        ratio(default.median, privileged.median)
    );
    let unfiltered = &stats[2];
    println!(
        "of which the seccomp filter {:+} µs wall, {:+} µs CPU; the rest {:+} µs wall, {:+} µs CPU",
        default.median.as_micros() as i128 - unfiltered.median.as_micros() as i128,
        default.cpu.as_micros() as i128 - unfiltered.cpu.as_micros() as i128,
        unfiltered.median.as_micros() as i128 - privileged.median.as_micros() as i128,
        unfiltered.cpu.as_micros() as i128 - privileged.cpu.as_micros() as i128,
    );
    if let Some(crun) = stats.get(3) {
        println!(
            "cradle/crun (medians): default {:.2}×, --privileged {:.2}×",
            ratio(default.median, crun.median),
            ratio(privileged.median, crun.median)
        );
    }
    for variant in &variants {
        if !variant.failures.is_empty() {
            println!(
                "{}: {} failed run(s), run again:",
                variant.name,
                variant.failures.len()
            );
            for failure in &variant.failures {
                println!("  {failure}");
            }
        }
    }
    seccomp_compile_time();
}

/// One launcher: how to make its command for round `i`, and its samples.
struct Variant {
    name: &'static str,
    command: Box<dyn Fn(usize) -> Command>,
    samples: Vec<Sample>,
    /// The runs that failed (and were run again), with cradle's message.
    failures: Vec<String>,
}

#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

impl Variant {
    fn new(name: &'static str, command: Box<dyn Fn(usize) -> Command>) -> Variant {
        Variant {
            name,
            command,
            samples: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// One run with its output kept: panics with it if the run fails.
    fn check(&mut self) {
        let output = (self.command)(usize::MAX)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        assert!(
            output.status.success(),
            "{}: {}: {}",
            self.name,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }

    /// One run: wall time from spawn to reap, and the CPU time of the
    /// launcher and of everything it reaped. Its stderr goes to
    /// `errors`, to say why if it fails: a failed run is reported and
    /// not counted, and the caller runs it again.
    fn time(&mut self, round: usize, errors: &mut fs::File) -> Option<Sample> {
        use std::io::{Read as _, Seek as _};

        errors.set_len(0).expect("truncate the error file");
        errors.rewind().expect("rewind the error file");
        let mut command = (self.command)(round);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errors.try_clone().expect("the error file"));
        let before = children_cpu();
        let start = Instant::now();
        let status = command
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
            .wait()
            .expect("wait");
        let wall = start.elapsed();
        let cpu = children_cpu() - before;
        if status.success() {
            return Some(Sample { wall, cpu });
        }
        let mut message = String::new();
        errors.rewind().expect("rewind the error file");
        let _ = errors.read_to_string(&mut message);
        let failure = format!("{}: {status} (round {round}): {}", self.name, message.trim());
        println!("failed: {failure}");
        self.failures.push(failure);
        assert!(
            self.failures.len() <= MAX_FAILURES,
            "{}: too many failed runs",
            self.name
        );
        None
    }
}

/// User and system time of every child reaped so far.
fn children_cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let of = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    of(usage.user_time()) + of(usage.system_time())
}

struct Stats {
    median: Duration,
    p90: Duration,
    mean: Duration,
    /// Mean user+sys CPU time per run.
    cpu: Duration,
}

impl Stats {
    fn of(samples: &[Sample]) -> Stats {
        let mut wall: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
        wall.sort();
        let n = wall.len() as u32;
        Stats {
            median: wall[wall.len() / 2],
            p90: wall[wall.len() * 9 / 10],
            mean: wall.iter().sum::<Duration>() / n,
            cpu: samples.iter().map(|s| s.cpu).sum::<Duration>() / n,
        }
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// A bundle of crun's default config (`crun spec`) on the same rootfs,
/// running `/bin/true` without a terminal; crun's state in a directory of
/// its own.
struct CrunBundle {
    dir: PathBuf,
    state: PathBuf,
}

impl CrunBundle {
    fn prepare(dir: &Path, rootfs: &Path) -> Result<CrunBundle, String> {
        match Command::new("crun").arg("--version").output() {
            Ok(output) if output.status.success() => {}
            _ => return Err("crun is not installed (apt-get install crun)".to_owned()),
        }
        let bundle = CrunBundle {
            dir: dir.join("bundle"),
            state: dir.join("crun-state"),
        };
        fs::create_dir_all(&bundle.dir).map_err(|e| e.to_string())?;
        let spec = Command::new("crun")
            .arg("spec")
            .current_dir(&bundle.dir)
            .output()
            .map_err(|e| format!("crun spec: {e}"))?;
        if !spec.status.success() {
            return Err(format!(
                "crun spec: {}",
                String::from_utf8_lossy(&spec.stderr).trim()
            ));
        }
        let path = bundle.dir.join("config.json");
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut config: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["/bin/true"]);
        config["root"]["path"] = rootfs.to_string_lossy().into_owned().into();
        fs::write(&path, config.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
        // Whether crun runs here at all (it refuses hybrid cgroup hosts).
        let output = bundle
            .run(usize::MAX - 1)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("crun run: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "crun run: {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(bundle)
    }

    /// `crun run` of the bundle, as container `i` (crun removes it when
    /// it exits).
    fn run(&self, i: usize) -> Command {
        let mut command = Command::new("crun");
        command
            .arg("--root")
            .arg(&self.state)
            .arg("run")
            .arg("--bundle")
            .arg(&self.dir)
            .arg(format!("cradle-bench-{}-{i}", std::process::id()));
        command
    }
}

/// The seccomp filter of the default profile, compiled in this process as
/// `cradle run` compiles it once a launch (median of 50).
fn seccomp_compile_time() {
    use std::collections::BTreeSet;

    use cradle_core::confinement::Capability;
    use cradle_linux::seccomp;

    let caps: BTreeSet<Capability> = Capability::DEFAULT.iter().copied().collect();
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let start = Instant::now();
            let policy = seccomp::default_policy(&caps);
            seccomp::compile(&policy).expect("the default profile compiles");
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "seccomp: the default profile's policy and compile (libseccomp), in process: median {} µs",
        times[times.len() / 2].as_micros()
    );
}
