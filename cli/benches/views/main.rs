//! What users run, timed whole: `cradle run --rootfs <busybox> --
//! /bin/true` against `unshare --fork` of the same namespaces, against
//! itself with `--privileged` (what confinement costs), and against `crun
//! run` and `runc run` of one OCI bundle over the same rootfs (and cradle
//! on that bundle); `cradle exec` into a running container against
//! `nsenter -t PID -a`, `crun exec` and `runc exec`. Each run is a whole
//! process: fork+exec to reap on the monotonic clock, with its user+sys
//! CPU time and that of everything it reaped.
//!
//! The rows run interleaved, one run of each per round in an order
//! shuffled each round (`support::order`), so that drift hits all alike
//! and no row always runs after the same one; the ratios of medians come from
//! the same run. The cgroup layout is the one this process sees:
//! `bench/run` runs it on this host as it is (hybrid), and in the
//! cgroup-v1-only and cgroup2-only views of `bench/cgroup-view`. A row a
//! runtime cannot run here (crun refuses hybrid hosts) is skipped with its
//! error; a missed target is reported, never a failure.
//!
//! Run as root with `bench/run`, or alone:
//! `bench/cgroup-view v2 cargo bench -p cradle --bench views -- [rounds]`.

mod containers;
mod report;
mod rows;
#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use containers::Cleanup;
use rows::{Plan, Row, RowId, Runtime};
use support::cgroups::View;
use support::error::BenchError;
use support::sample::{timed, ErrorLog};

const DEFAULT_ROUNDS: usize = 300;
const WARMUP: usize = 10;
/// Failed runs a row may have (each run again) before it is dropped.
const MAX_FAILURES: usize = 5;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("bench views: the benchmark creates containers: run it as root");
        std::process::exit(1);
    }
    let rounds = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        if let Err(error) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("bench views: signal {signal}: {error}: an interruption will not clean up");
        }
    }
    let code = match run(rounds, &stop) {
        Ok(true) => 0,
        Ok(false) => 130,
        Err(error) => {
            eprintln!("bench views: {error}");
            1
        }
    };
    std::process::exit(code);
}

/// The whole benchmark in this view; false when interrupted.
fn run(rounds: usize, stop: &AtomicBool) -> Result<bool, BenchError> {
    let view = View::detect()?;
    let tag = format!("cv{}", std::process::id());
    let dir = tempfile::Builder::new()
        .prefix("cradle-bench-views-")
        .tempdir()
        .map_err(BenchError::io("/tmp/cradle-bench-views-*"))?;
    let rootfs = support::rootfs::busybox(&dir.path().join("rootfs"))?;
    let runtime = |name: &'static str, program: &Path| -> Result<Runtime, BenchError> {
        let state = dir.path().join(format!("state-{name}"));
        std::fs::create_dir(&state).map_err(BenchError::io(&state))?;
        Ok(Runtime {
            name,
            program: program.to_path_buf(),
            state,
        })
    };
    let mut plan = Plan {
        rootfs,
        cradle: runtime("cradle", &support::cradle_binary())?,
        crun: runtime("crun", Path::new("crun"))?,
        runc: runtime("runc", Path::new("runc"))?,
        run_bundles: [None, None, None],
        exec_ids: [None, None, None],
        exec_pid: None,
        tag,
    };

    println!("== view: {} ==", view.title());
    println!("cgroups: {}", view.describe()?);
    println!("load average at the start: {}", support::load_average());
    for runtime in [&plan.cradle, &plan.crun, &plan.runc] {
        match containers::installed(&runtime.program) {
            Ok(version) => println!("{}: {version}", runtime.name),
            Err(error) => println!("{}: not usable ({error})", runtime.name),
        }
    }
    let mut errors = ErrorLog::create(&dir.path().join("stderr"))?;
    let states: Vec<PathBuf> = [&plan.cradle, &plan.crun, &plan.runc]
        .iter()
        .map(|runtime| runtime.state.clone())
        .collect();
    let mut cleanup = Cleanup::new(&plan.tag, &format!("cradle-views-{}", std::process::id()), states)?;
    containers::prepare(dir.path(), &mut plan, &mut cleanup, &mut errors)?;

    let mut rows: Vec<Row> = RowId::ALL.into_iter().map(Row::new).collect();
    for row in &mut rows {
        // One run first, not counted: a row that fails is skipped, saying why.
        let probe = plan
            .command(row.id, "probe")
            .and_then(|mut command| timed(&mut command, &mut errors).map_err(|e| e.to_string()));
        if let Err(reason) = probe {
            row.skipped = Some(reason);
        }
    }
    let mut binaries = support::cradle_binaries();
    binaries.extend(["unshare", "nsenter", "crun", "runc", "/bin/true"].map(PathBuf::from));
    binaries.push(plan.rootfs.join("bin/busybox"));
    let evicted = support::page_cache::evict(binaries.iter().map(PathBuf::as_path));
    println!("page cache: dropped before the warm-up, which reads them back alike: {evicted}");
    println!(
        "/bin/true, namespaces pid, mount, uts, ipc, net (cradle: lo up, its default); {rounds} rounds \
         after {WARMUP} warm-up, the rows interleaved in an order shuffled each round"
    );
    let interrupted = !interleave(&plan, &mut rows, rounds, &mut errors, stop);
    let left = cleanup.finish();
    if interrupted {
        println!("interrupted: containers and cgroups removed");
        return Ok(false);
    }
    report::print(view, &rows);
    println!("load average at the end: {}", support::load_average());
    if left.is_empty() {
        println!("checked: no container, state or cgroup of this run is left");
    } else {
        println!("left behind by a runtime (now removed where possible):");
        for line in left {
            println!("  {line}");
        }
    }
    println!();
    Ok(true)
}

/// Runs the rows that were not skipped, one sample each per round; false
/// when a signal stopped it.
fn interleave(
    plan: &Plan,
    rows: &mut [Row],
    rounds: usize,
    errors: &mut ErrorLog,
    stop: &AtomicBool,
) -> bool {
    let count = rows.len();
    for round in 0..WARMUP + rounds {
        for index in support::order::of_round(round, count) {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let row = &mut rows[index];
            if row.skipped.is_some() {
                continue;
            }
            loop {
                let sample = plan
                    .command(row.id, &round.to_string())
                    .map_err(|reason| reason.to_string())
                    .and_then(|mut command| timed(&mut command, errors).map_err(|e| e.to_string()));
                match sample {
                    Ok(sample) => {
                        if round >= WARMUP {
                            row.samples.push(sample);
                        }
                        break;
                    }
                    Err(failure) => {
                        row.failures.push(format!("round {round}: {failure}"));
                        if row.failures.len() >= MAX_FAILURES || stop.load(Ordering::Relaxed) {
                            row.skipped = Some(format!("dropped after {} failed runs", row.failures.len()));
                            row.samples.clear();
                            break;
                        }
                    }
                }
            }
        }
    }
    true
}
