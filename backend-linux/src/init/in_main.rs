//! The checks for a role taken in `main`, by a program that declared
//! [`init_in_main!`](crate::init_in_main): there, what the constructor
//! guarantees (one thread; a process started for a role never runs the
//! program) is the program's to keep, and these make a slip fail at once,
//! naming the fix, instead of hanging or relaunching the program.

use cradle_core::{ChildError, ChildStep};

use super::refused;

/// The refusal of a role taken in a process with more than one thread:
/// its fork (the setns helper's, a reaper's) could deadlock in the child
/// on a lock another thread held, and the kernel refuses a threaded
/// process a user namespace. Reported as the error of `step`. `None` if
/// the process has one thread, or its count cannot be read.
pub(super) fn refusal_if_threaded(step: ChildStep) -> Option<ChildError> {
    let threads = thread_count().filter(|&threads| threads > 1)?;
    Some(refused(
        step,
        format!(
            "the init binary took its role in main with {threads} threads running, where a fork \
             can deadlock: call cradle_linux::init_with_hook first thing in main, before anything \
             starts a thread (#[tokio::main] starts its runtime before main's body), or remove \
             cradle_linux::init_in_main!() so that the role is taken before main"
        ),
    ))
}

/// This process's threads, as `/proc/self/status` counts them.
fn thread_count() -> Option<usize> {
    threads_in(&crate::small_file::read_lossy("/proc/self/status").ok()?)
}

/// The `Threads:` count of a `/proc/<pid>/status`.
fn threads_in(status: &str) -> Option<usize> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// Why a launch is refused in a process that was started as a container's
/// init or a setns helper and runs the program instead: its launch would
/// start the program again, in a child that does the same, until the
/// kernel refuses a deeper pid namespace. Only a program that declared
/// [`init_in_main!`](crate::init_in_main) and forgot to call
/// [`init_with_hook`](crate::init_with_hook) gets here.
pub(crate) fn role_not_taken() -> Option<&'static str> {
    super::Role::from_env().map(|_| {
        "this process was started as a container's init or setns helper and did not take that \
         role: a program that declares cradle_linux::init_in_main!() must call \
         cradle_linux::init_with_hook first thing in main"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_counted() {
        assert_eq!(
            threads_in("Name:\tcradle\nUmask:\t0022\nThreads:\t7\nSigQ:\t0/1\n"),
            Some(7)
        );
        assert_eq!(threads_in("Name:\tcradle\n"), None);
        // The harness's other tests start and end threads meanwhile: this
        // test's and the one it spawns are there at least.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || stopped.recv());
        let counted = thread_count().expect("/proc/self/status");
        assert!(counted >= 2, "{counted}");
        drop(stop);
        let _ = thread.join();
    }

    /// The test harness runs each test on a thread of its own.
    #[test]
    fn a_threaded_process_is_refused_with_the_fix() {
        let error = refusal_if_threaded(ChildStep::Setns).expect("refused");
        assert_eq!(error.step, ChildStep::Setns);
        assert_eq!(error.errno, None);
        assert!(error
            .message
            .contains("cradle_linux::init_with_hook first thing in main"));
    }

    #[test]
    fn a_process_started_for_no_role_launches() {
        assert_eq!(role_not_taken(), None);
    }
}
