//! The roles taken before `main`: an ELF constructor (`.init_array`, made
//! with the `ctor` crate) that runs in every program linking this crate
//! and, when the process was started as a container's init, a setns
//! helper or a seccomp compiler, takes that role there and then.
//!
//! Before `main` the process has one thread: nothing (an async runtime's
//! workers, say) can hold a lock that the setns helper's fork would then
//! find held forever, and the kernel lets it join a user namespace. And a
//! program that never calls [`init`](crate::init) still takes its role
//! instead of running `main` again in the child, relaunching itself.
//!
//! What runs here uses only what is sound before `main` on glibc: the
//! environment (`getenv`), allocation, system calls. Everywhere else, the
//! constructor returns at once: nothing is read but three variables.
//!
//! A program that calls [`init_with_hook`](crate::init_with_hook) itself
//! declares so with [`init_in_main!`](crate::init_in_main), whose own
//! constructor runs first (ctor's `early` priority, 101) and leaves the
//! role to `main`.

use std::os::fd::{IntoRawFd as _, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::fcntl::{open, OFlag};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::stat::Mode;

use super::Role;

/// Set by a program's [`init_in_main!`](crate::init_in_main): its `main`
/// takes the role.
static ROLE_IN_MAIN: AtomicBool = AtomicBool::new(false);

/// Called by [`init_in_main!`](crate::init_in_main)'s constructor, before
/// [`take_role_before_main`]'s.
#[doc(hidden)]
pub fn leave_role_to_main() {
    ROLE_IN_MAIN.store(true, Ordering::Relaxed);
}

/// Declares that this program takes its role itself, by calling
/// [`init_with_hook`](crate::init_with_hook) first thing in `main`, instead
/// of leaving it to this crate's constructor before `main`: for an init
/// binary whose hook must see the set-up steps (a test's, a tracer's).
/// Write it once, at the top level of the binary's crate.
///
/// `main` must then call it, while the process has one thread: a role
/// taken in a process with more is refused (the launch fails with a
/// [`ChildError`](cradle_core::ChildError) saying so), and a process
/// started as an init that launches instead fails that launch, so a
/// forgotten call cannot relaunch the program again and again.
///
/// ```no_run
/// cradle_linux::init_in_main!();
///
/// fn main() {
///     cradle_linux::init_with_hook(|step, _config| eprintln!("init: {step}"));
///     // ... the program: no container's init gets here.
/// }
/// ```
#[macro_export]
macro_rules! init_in_main {
    () => {
        $crate::__private::ctor::declarative::ctor! {
            #[ctor(unsafe, anonymous, priority = early)]
            fn cradle_linux_init_in_main() {
                $crate::__private::leave_role_to_main();
            }
        }
    };
}

ctor::declarative::ctor! {
    #[ctor(unsafe, priority = 102)]
    /// Takes the process's role, if it has one and `main` is not to. Right
    /// after ctor's `early` constructors (where [`init_in_main!`]'s runs)
    /// and before any later one: none of those runs in a role process,
    /// which `exec`s or exits here.
    ///
    /// [`init_in_main!`]: crate::init_in_main
    fn take_role_before_main() {
        // Whatever `main` does with an init's role: it knows nothing of
        // this one.
        if let Some(caller) = std::env::var_os(crate::seccomp::COMPILER_ENV) {
            as_rust_main_would();
            crate::seccomp::serve_compile(&caller)
        }
        if ROLE_IN_MAIN.load(Ordering::Relaxed) {
            return;
        }
        let Some(role) = Role::from_env() else {
            return;
        };
        as_rust_main_would();
        role.take(|_, _| {}, None)
    }
}

/// What Rust's runtime does before `main`, which the roles were written
/// for and which has not happened yet: `SIGPIPE` ignored (a write to a
/// parent that is gone fails with `EPIPE` instead of killing the process),
/// and stdin, stdout and stderr open (on `/dev/null` where closed), so
/// that no descriptor the roles open lands on one of them.
fn as_rust_main_would() {
    // SAFETY: no handler is installed, only SIG_IGN; the process has one
    // thread.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
    for fd in 0..3 {
        open_if_closed(fd);
    }
}

/// Opens `/dev/null` at `fd` if `fd` is closed. Called for 0, 1, 2 in
/// order, so the lowest free descriptor, which `open` takes, is `fd`.
fn open_if_closed(fd: RawFd) {
    if crate::sys::fd_is_open(fd) {
        return;
    }
    if let Ok(null) = open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
        // Left open for good, as the runtime leaves it.
        let _ = null.into_raw_fd();
    }
}
