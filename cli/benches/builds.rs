//! Two builds of cradle against each other: `cradle run --rootfs <busybox>
//! -- /bin/true` of each, whole processes, in one interleaved run, then
//! `cradle exec` of `/bin/true` into one running container the same way,
//! so that a change of a few tenths of a millisecond shows through the
//! machine's drift, which moves the `views` benchmark's rows by more.
//!
//! Copies of one binary can differ by half a millisecond a run when one
//! of them has sat in the page cache longer, so each build is copied
//! afresh into a directory of the benchmark's, the older one twice: its
//! second copy is a control, which shows what noise is left. `unshare` of
//! the same namespaces, and `nsenter -a` for the execs, run beside them as
//! the floors.
//!
//! Run as root with `bench/builds REV [v1|v2] [rounds]`, which builds
//! REV and the work tree, or alone:
//! `cargo bench -p cradle --bench builds -- BEFORE_DIR AFTER_DIR [rounds]`
//! (each DIR holding the `cradle` and `cradle-init` of one build).
//!
//! Run after run, the machine is never idle: `CRADLE_BENCH_PAUSE_MS=N`
//! pauses N ms before each run, so that each finds the machine as a
//! user's occasional command does (after an idle spell, the first write
//! of a pid to a v1 `cgroup.procs` waits for an RCU grace period).

// Shared with the views benchmark, which uses all of it.
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::cgroups::{SweepOnDrop, View};
use support::error::BenchError;
use support::sample::{timed, ErrorLog, Sample};
use support::stats::{ms, Stats};

const DEFAULT_ROUNDS: usize = 300;
/// How long to pause before each run, in ms.
const PAUSE_ENV: &str = "CRADLE_BENCH_PAUSE_MS";
/// Runs of each row before the rounds, to warm the caches.
const WARMUP: usize = 10;
/// The binaries of one build, copied together.
const BINARIES: [&str; 2] = ["cradle", "cradle-init"];

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("bench builds: the benchmark creates containers: run it as root");
        std::process::exit(1);
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--bench").collect();
    let (before, after, rounds) = match args.as_slice() {
        [before, after] => (before, after, DEFAULT_ROUNDS),
        [before, after, rounds] => match rounds.parse() {
            Ok(rounds) if rounds > 0 => (before, after, rounds),
            _ => usage(),
        },
        _ => usage(),
    };
    let pause = match std::env::var(PAUSE_ENV) {
        Err(_) => Duration::ZERO,
        Ok(ms) => match ms.parse() {
            Ok(ms) => Duration::from_millis(ms),
            Err(_) => {
                eprintln!("bench builds: {PAUSE_ENV} is a number of milliseconds, not {ms:?}");
                std::process::exit(2);
            }
        },
    };
    if let Err(error) = run(Path::new(before), Path::new(after), rounds, pause) {
        eprintln!("bench builds: {error}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: cargo bench -p cradle --bench builds -- BEFORE_DIR AFTER_DIR [rounds]");
    std::process::exit(2);
}

/// One row: a build's copy (or the kernel's floor), and its samples.
struct Row {
    name: String,
    cradle: Option<PathBuf>,
    samples: Vec<Sample>,
}

/// The rows of one table: each copy of `copies`, then `floor`.
fn rows(copies: &[(&str, PathBuf)], floor: &str, rounds: usize) -> Vec<Row> {
    copies
        .iter()
        .map(|(name, cradle)| (name.to_string(), Some(cradle.clone())))
        .chain(std::iter::once((floor.to_owned(), None)))
        .map(|(name, cradle)| Row {
            name,
            cradle,
            samples: Vec::with_capacity(rounds),
        })
        .collect()
}

fn run(before: &Path, after: &Path, rounds: usize, pause: Duration) -> Result<(), BenchError> {
    let view = View::detect()?;
    let pid = std::process::id();
    let tag = format!("cb{pid}");
    let dir = tempfile::Builder::new()
        .prefix("cradle-bench-builds-")
        .tempdir()
        .map_err(BenchError::io("/tmp/cradle-bench-builds-*"))?;
    let cradle_cgroups = format!("cradle-{tag}-");
    let _sweep = SweepOnDrop::new("builds", move |name| name.starts_with(&cradle_cgroups))?;
    let rootfs = support::rootfs::busybox(&dir.path().join("rootfs"))?;
    let state = dir.path().join("state");
    // Copied last of all, so that no copy has sat in the page cache longer.
    let mut copies = Vec::new();
    for (name, build, copy) in [
        ("before", before, "before"),
        ("before, control copy", before, "control"),
        ("after", after, "after"),
    ] {
        copies.push((name, fresh_copy(build, &dir.path().join(copy))?));
    }
    let cradle = |program: &Path| {
        let mut command = Command::new(program);
        command.arg("--root").arg(&state);
        command
    };

    println!("== two builds: {} ==", view.title());
    println!("load average at the start: {}", support::load_average());
    println!("before: {}", before.display());
    println!("after: {}", after.display());
    if !pause.is_zero() {
        println!(
            "each run after a pause of {} ms, the machine idle",
            pause.as_millis()
        );
    }
    let mut errors = ErrorLog::create(&dir.path().join("stderr"))?;

    println!(
        "cradle run --rootfs <busybox> -- /bin/true (and unshare of the same namespaces); \
         {rounds} rounds after {WARMUP} warm-up, the rows in an order shuffled each round"
    );
    let mut runs = rows(&copies, "unshare --fork (same ns)", rounds);
    let mut run_id = 0usize;
    interleave(&mut runs, rounds, pause, &mut errors, |program| match program {
        Some(program) => {
            run_id += 1;
            let mut command = cradle(program);
            command.args(["run", "--name", &format!("{tag}-{run_id}"), "--rootfs"]);
            command.arg(&rootfs).args(["--", "/bin/true"]);
            command
        }
        None => support::unshare_true(),
    })?;
    report(&runs);

    // Into a container of the after build's; each build's exec reads its
    // record, so the builds' state formats must agree.
    let target = format!("{tag}-exec");
    println!(
        "cradle exec {target} -- /bin/true (and nsenter -a into it); {rounds} rounds after {WARMUP} \
         warm-up, the rows in an order shuffled each round"
    );
    let (_, after_copy) = &copies[2];
    let execs = support::container::start_sleeping(|| cradle(after_copy), &target, &rootfs, &mut errors)
        .and_then(|init| {
            let mut execs = rows(&copies, "nsenter -t PID -a", rounds);
            interleave(&mut execs, rounds, pause, &mut errors, |program| match program {
                Some(program) => {
                    let mut command = cradle(program);
                    command.args(["exec", &target, "--", "/bin/true"]);
                    command
                }
                None => support::nsenter_true(init),
            })?;
            Ok(execs)
        });
    // Removed whatever happened; its cgroup is swept on drop besides.
    let deleted = support::sample::output(cradle(after_copy).args(["delete", "--force", &target]));
    match execs {
        Ok(execs) => report(&execs),
        Err(error) => println!("cradle exec: stopped: {error}"),
    }
    if let Err(error) = deleted {
        println!("the exec rows' container: {error}");
    }
    println!("load average at the end: {}", support::load_average());
    Ok(())
}

/// Runs each row's command (`command` of its copy, or of `None` for the
/// floor) once a round, in an order shuffled each round (see
/// `support::order`), each after `pause`, keeping
/// the samples after [`WARMUP`] rounds.
fn interleave(
    rows: &mut [Row],
    rounds: usize,
    pause: Duration,
    errors: &mut ErrorLog,
    mut command: impl FnMut(Option<&Path>) -> Command,
) -> Result<(), BenchError> {
    let count = rows.len();
    for round in 0..WARMUP + rounds {
        for index in support::order::of_round(round, count) {
            let row = &mut rows[index];
            std::thread::sleep(pause);
            let sample = timed(&mut command(row.cradle.as_deref()), errors)?;
            if round >= WARMUP {
                row.samples.push(sample);
            }
        }
    }
    Ok(())
}

/// The table of `rows` (the three copies, then the floor) and the
/// differences of the copies' medians.
fn report(rows: &[Row]) {
    println!("row (ms, whole process)          median        p90   CPU usr+sys  samples");
    let stats: Vec<Option<Stats>> = rows.iter().map(|row| Stats::of(&row.samples)).collect();
    for (row, stats) in rows.iter().zip(&stats) {
        match stats {
            Some(stats) => println!(
                "{:<30} {:>8} {:>10} {:>13} {:>8}",
                row.name,
                ms(stats.median),
                ms(stats.p90),
                ms(stats.cpu),
                row.samples.len()
            ),
            None => println!("{:<30} no samples", row.name),
        }
    }
    let median = |index: usize| stats[index].map(|stats| stats.median.as_secs_f64() * 1e3);
    if let (Some(before), Some(control), Some(after)) = (median(0), median(1), median(2)) {
        println!("after - before: {:+.2} ms", after - before);
        println!(
            "control - before: {:+.2} ms (what the same build's two copies differ by)",
            control - before
        );
    }
}

/// Copies the binaries of the build in `build` into the new directory
/// `to`; the path of the copied `cradle`. A build without `cradle-init`
/// (before it existed) runs `cradle` as its own init.
fn fresh_copy(build: &Path, to: &Path) -> Result<PathBuf, BenchError> {
    std::fs::create_dir(to).map_err(BenchError::io(to))?;
    for binary in BINARIES {
        let from = build.join(binary);
        if binary != "cradle" && !from.exists() {
            continue;
        }
        std::fs::copy(&from, to.join(binary)).map_err(BenchError::io(&from))?;
    }
    Ok(to.join("cradle"))
}
