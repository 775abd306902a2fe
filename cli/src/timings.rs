//! `run --timings`: where the wall time of a `cradle run` went, phase by
//! phase, on a monotonic clock: cradle's own start (parsing, the plan, the
//! state record), each step of the launch as the parent reaches it (the
//! cgroup, the clone, the config, the child's whole set-up while the
//! parent awaits `ready`, the `exec`), the command's run, the teardown;
//! then the CPU time cradle and the processes it reaped used.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use cradle_core::{Step, StepTime};
use nix::sys::resource::{getrusage, UsageWho};

/// When `main` began.
static START: OnceLock<Instant> = OnceLock::new();
/// The child's own account of its set-up steps, reported with `ready`.
static CHILD_STEPS: Mutex<Vec<StepTime>> = Mutex::new(Vec::new());
/// The phase the child's steps happen in.
const AWAIT_READY: &str = "launch: await ready";
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
    if let Ok(mut child_steps) = CHILD_STEPS.lock() {
        child_steps.extend_from_slice(steps);
    }
}

/// The launch's step hook: the step is a phase.
pub(crate) fn at_step(step: Step) {
    begin(&format!("launch: {step}"));
}

/// The child's steps, indented under the wait for `ready`, with what of
/// the wait they do not account for (the child's `exec` of the init
/// binary, its config, the messages).
fn child_report() -> String {
    let steps = CHILD_STEPS.lock().map(|steps| steps.clone()).unwrap_or_default();
    let mut text = String::new();
    for StepTime { step, nanos } in &steps {
        let ms = *nanos as f64 / 1e6;
        text.push_str(&format!("{ms:9.3}    child: {step}\n"));
    }
    if !steps.is_empty() {
        let total: u64 = steps.iter().map(|step| step.nanos).sum();
        text.push_str(&format!(
            "{:9.3}    child: its set-up steps together\n",
            total as f64 / 1e6
        ));
    }
    text
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
        if name == AWAIT_READY {
            text.push_str(&child_report());
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
