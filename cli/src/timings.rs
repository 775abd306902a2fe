//! `run --timings` and `exec --timings`: where the wall time of a
//! `cradle run` (or `exec`) went, phase by phase, on a monotonic clock:
//! cradle's own start (parsing, the plan, the state record), each step of
//! the launch as the parent reaches it (the cgroup, the clone, the config,
//! the child's whole set-up while the parent awaits `ready`, the `exec`),
//! the command's run, the teardown; then the CPU time cradle and the
//! processes it reaped used.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use cradle_core::{Step, StepTime};
use cradle_linux::cgroup::CgroupTimings;
use nix::sys::resource::{getrusage, UsageWho};

/// When `main` began.
static START: OnceLock<Instant> = OnceLock::new();
/// Parts of phases measured by whoever did them (the child's steps, the
/// kernel's cgroup work): the phase, the part, how long.
type Detail = (&'static str, String, Duration);
static DETAILS: Mutex<Vec<Detail>> = Mutex::new(Vec::new());
/// The phases the details belong to.
const AWAIT_READY: &str = "launch: await ready";
const CREATE_CGROUP: &str = "launch: create cgroup";
const APPLY_CGROUP: &str = "launch: apply cgroup";
const SPAWN: &str = "launch: spawn";
/// Whether phases are recorded.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Each phase's name and when it began, in order.
static PHASES: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

/// Notes when cradle started: first thing in `main`.
pub(crate) fn process_started() {
    START.get_or_init(Instant::now);
}

/// Records phases from now on; the first, from the start, is `first`.
pub(crate) fn enable(first: &str) {
    ENABLED.store(true, Ordering::Relaxed);
    let start = *START.get_or_init(Instant::now);
    if let Ok(mut phases) = PHASES.lock() {
        phases.push((first.to_owned(), start));
    }
}

/// Whether `--timings` asked for them.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A new phase, `name`, begins now (and the one before it ends).
pub(crate) fn begin(name: &str) {
    if !enabled() {
        return;
    }
    if let Ok(mut phases) = PHASES.lock() {
        // The launch may call its hook again at the same step.
        if phases.last().is_some_and(|(last, _)| last == name) {
            return;
        }
        phases.push((name.to_owned(), Instant::now()));
    }
}

/// The child's set-up steps as it timed them, shown within the parent's
/// wait for `ready`.
pub(crate) fn child_steps(steps: &[StepTime]) {
    for StepTime { step, nanos } in steps {
        detail(
            AWAIT_READY,
            format!("child: {step}"),
            Duration::from_nanos(*nanos),
        );
    }
}

/// Work the parent did while it awaited the child's `ready` (`label`,
/// how long), shown within that wait.
pub(crate) fn meanwhile(label: &str, took: Duration) {
    detail(AWAIT_READY, label.to_owned(), took);
}

/// The kernel's time over the cgroup in each hierarchy, shown within the
/// launch's steps that create it and put the child in it.
pub(crate) fn cgroup_steps(timings: &CgroupTimings) {
    for (hierarchy, took) in &timings.create {
        detail(CREATE_CGROUP, format!("{hierarchy}: mkdir and limits"), *took);
    }
    for (hierarchy, took) in &timings.create_after_clone {
        detail(
            SPAWN,
            format!("{hierarchy}: mkdir and limits, as the child execs"),
            *took,
        );
    }
    for (hierarchy, took) in &timings.attach {
        detail(APPLY_CGROUP, format!("{hierarchy}: attach"), *took);
    }
    if let Some(took) = timings.device_program {
        detail(
            SPAWN,
            "cgroup v2: device program, as the child execs".to_owned(),
            took,
        );
    }
}

/// A part of `phase`, measured by whoever did it, shown under it.
fn detail(phase: &'static str, label: String, took: Duration) {
    if !enabled() {
        return;
    }
    if let Ok(mut details) = DETAILS.lock() {
        details.push((phase, label, took));
    }
}

/// The parts of `phase`, indented under it, with their sum.
fn details_of(phase: &str) -> String {
    let details = DETAILS.lock().map(|details| details.clone()).unwrap_or_default();
    let parts: Vec<&(&str, String, Duration)> = details.iter().filter(|(of, ..)| *of == phase).collect();
    let mut text = String::new();
    for (_, label, took) in &parts {
        text.push_str(&format!("{:9.3}    {label}\n", took.as_secs_f64() * 1e3));
    }
    // Within the wait for `ready`, the child's steps add up; what the
    // parent did meanwhile overlaps them.
    let (summed, what): (Vec<_>, _) = if phase == AWAIT_READY {
        let steps = parts.iter().filter(|(_, label, _)| label.starts_with("child: "));
        (steps.collect(), "child: its set-up steps together")
    } else {
        (parts.iter().collect(), "together")
    };
    if !summed.is_empty() {
        let total: Duration = summed.iter().map(|(.., took)| *took).sum();
        text.push_str(&format!("{:9.3}    {what}\n", total.as_secs_f64() * 1e3));
    }
    text
}

/// The launch's step hook: the step is a phase.
pub(crate) fn at_step(step: Step) {
    begin(&format!("launch: {step}"));
}

/// Ends the last phase and prints them all to stderr, with the total and
/// the CPU time.
pub(crate) fn report(id: &str) {
    if !enabled() {
        return;
    }
    let end = Instant::now();
    let phases = PHASES.lock().map(|phases| phases.clone()).unwrap_or_default();
    let mut text = format!("cradle: timings of {id} (ms, wall clock)\n");
    for (index, (name, began)) in phases.iter().enumerate() {
        let ended = phases.get(index + 1).map_or(end, |(_, next)| *next);
        let ms = ended.duration_since(*began).as_secs_f64() * 1e3;
        text.push_str(&format!("{ms:9.3}  {name}\n"));
        // Under its last occurrence: a run waits for `ready` before and
        // after its early start, and the child's steps end with the last.
        if phases[index + 1..].iter().all(|(next, _)| next != name) {
            text.push_str(&details_of(name));
        }
    }
    if let Some(start) = START.get() {
        let ms = end.duration_since(*start).as_secs_f64() * 1e3;
        text.push_str(&format!("{ms:9.3}  total\n"));
    }
    let cpu_ms = |who| {
        getrusage(who).map_or(0.0, |usage| {
            let (user, system) = (usage.user_time(), usage.system_time());
            (user.tv_sec() + system.tv_sec()) as f64 * 1e3 + (user.tv_usec() + system.tv_usec()) as f64 / 1e3
        })
    };
    let (own, reaped) = (cpu_ms(UsageWho::RUSAGE_SELF), cpu_ms(UsageWho::RUSAGE_CHILDREN));
    text.push_str(&format!(
        "{:9.3}  CPU, user+sys: cradle {own:.3}, the processes it reaped {reaped:.3}\n",
        own + reaped
    ));
    let _ = std::io::stderr().write_all(text.as_bytes());
}
