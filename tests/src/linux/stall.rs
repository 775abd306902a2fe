//! Launches meant to time out at a stall, whatever the machine's load.
//!
//! A short launch timeout keeps these tests quick, but on a loaded machine
//! it can pass before the child has even reached its stall, and the launch
//! then times out somewhere else. So the tests wait for the stall itself:
//! the child announces it (`CRADLE_TEST_FAULT=announce@<step>` writes the
//! step's name to stdout, then sleeps), and a launch that timed out before
//! that is tried again with twice the timeout, up to [`DEADLINE`].

use std::time::{Duration, Instant};

use cradle_core::{LaunchError, Plan};
use cradle_linux::{Error, Options, Process};

use super::{pipe, read_line, DEADLINE};

/// The first timeout a stall is given.
pub const FIRST_STALL_TIMEOUT: Duration = Duration::from_millis(300);

/// Runs `attempt` with [`FIRST_STALL_TIMEOUT`], then with twice the
/// timeout for as long as it returns `None` (its launch timed out before
/// the child reached the stall), failing once the timeout would pass
/// [`DEADLINE`].
pub fn with_growing_timeout<T>(what: &str, mut attempt: impl FnMut(Duration) -> Option<T>) -> T {
    let mut timeout = FIRST_STALL_TIMEOUT;
    loop {
        if let Some(outcome) = attempt(timeout) {
            return outcome;
        }
        println!("{what}: timed out before the stall within {timeout:?}; trying again with more");
        timeout *= 2;
        assert!(
            timeout <= DEADLINE,
            "{what}: the child never reached its stall before the launch timed out"
        );
    }
}

/// How a launch whose child announced its stall ended.
#[derive(Debug)]
pub struct Stalled {
    /// What the launch returned.
    pub result: Result<Process, Error>,
    /// What the child announced (the step's name), without the newline.
    pub announced: String,
    /// The launch's timeout.
    pub timeout: Duration,
    /// How long the launch took.
    pub took: Duration,
}

/// Starts `plan` with `options()` and the child's stdout on a pipe, waits
/// for the child to announce its stall there, and returns once the launch
/// has ended. The launch gets [`FIRST_STALL_TIMEOUT`], or more where it
/// timed out before the announcement (see [`with_growing_timeout`]).
pub fn start_stalling(what: &str, plan: &Plan, mut options: impl FnMut() -> Options) -> Stalled {
    with_growing_timeout(what, |timeout| {
        let mut plan = plan.clone();
        plan.timeout = timeout;
        let (mut announcements, stdout) = pipe();
        let options = options().stdout(stdout);
        let started = Instant::now();
        let launch = std::thread::spawn(move || Process::start(plan, options));
        // The child writes its line, or the launch ends and, killing the
        // child, closes the pipe.
        let announced = read_line(&mut announcements, timeout + DEADLINE);
        let result = launch.join().expect("the launch thread");
        let took = started.elapsed();
        let early =
            announced.is_empty() && matches!(result, Err(Error::Launch(LaunchError::TimedOut { .. })));
        (!early).then(|| Stalled {
            result,
            announced: announced.trim_end().to_owned(),
            timeout,
            took,
        })
    })
}
