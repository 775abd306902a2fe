//! The init binary of the root-only suites: `cradle_linux::init()`, plus
//! faults on request. It takes its role in `main` (`init_in_main!`), so
//! that its hook sees the set-up steps.
//!
//! A config whose environment holds `CRADLE_TEST_FAULT=<action>@<step>`
//! makes the child act the first time it reaches that set-up step
//! (`<step>` as `ChildStep` names it on the wire; `exec` is after
//! `ready`): `stall` sleeps for an hour;
//! `announce` writes the step's name and a newline to stdout, then sleeps,
//! for a test to kill it there; `pause` writes it too, then stops itself
//! (`SIGSTOP`), for a test to let it go on with `SIGCONT`. (The child
//! cannot kill itself: as pid 1 of a pid namespace, it is immune to its
//! own signals.) `garbage` writes a
//! line that is not a message to the launch socket and goes on; `forge`
//! (for the helper, at `fork`) reports the pid of the host's init instead
//! of forking, and exits 0.
//!
//! A setns helper has no config: its fault is the name it runs under, a
//! link to this binary named `<action>@<step>` (`setns` or `fork`).

include!("test_init/body.rs");
