//! cradle's Linux backend: real processes in real namespaces.
//!
//! A launch runs the core's handshake ([`cradle_core::Launch`]) over
//! [`LinuxLaunch`], which carries out each command with a syscall:
//! `clone3` into new namespaces with a pidfd, id maps, cgroups, the launch
//! socket, and `ppoll`/`waitid` on the socket and the pidfd (no `SIGCHLD`
//! handler, ever). [`Process::start`] runs a whole launch and returns the
//! running [`Process`].
//!
//! Most programs want [`command::Command`] instead: one value in the shape
//! of `std::process::Command` for the whole container (command, stdio,
//! root, limits, network, confinement), whose [`command::Child`] kills and
//! removes what the container holds when it is waited for or dropped, and
//! starts processes in it with [`command::Child::exec`].
//!
//! The child side is [`init`]: the child `exec`s an *init binary*, which
//! receives its config over the socket, sets itself up (hostname, rlimits,
//! mounts and `pivot_root`, user, working directory, descriptors), reports
//! `ready` and `exec`s the container's command, or reports the step that
//! failed, with its errno.
//!
//! # The init binary
//!
//! By default the init binary is the running program itself
//! (`/proc/self/exe`), and linking this crate is all that takes: the
//! crate's constructor runs before `main` in every program that links it,
//! and in a process started as a container's init or setns helper takes
//! that role there, while the process has one thread (so no runtime's
//! worker can hold a lock the setns helper's fork needs), never reaching
//! `main`; anywhere else it returns at once. [`init`] is kept for
//! compatibility and does nothing.
//!
//! ```no_run
//! use cradle_core::{Config, Namespace, NamespaceKind, Plan};
//! use cradle_linux::{Options, Process};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut config = Config::new(["/bin/echo", "hello from the container"]);
//!     config.namespaces = [NamespaceKind::Pid, NamespaceKind::Mount, NamespaceKind::Uts]
//!         .map(Namespace::new)
//!         .to_vec();
//!     config.hostname = Some("box".to_owned());
//!     let mut process = Process::start(Plan::init(config), Options::new())?;
//!     println!("exited with {}", process.wait()?);
//!     Ok(())
//! }
//! ```
//!
//! An init binary whose hook must see the set-up steps takes its role in
//! `main` instead: it declares [`init_in_main!`] and calls
//! [`init_with_hook`] first thing there. [`Options::init_binary`] names
//! another init binary: any program that links this crate, such as the
//! `cradle` command's `cradle-init`, which does nothing else and, a third
//! of `cradle`'s size, starts sooner; [`init_beside`] finds one of this
//! very build beside the running program.
//!
//! # A new process in a running container
//!
//! A setns plan runs a command inside a running [`Container`], named by its
//! init: [`Container::of`] a [`Process`] this program started, or
//! [`Container::open`] with the pid and start time a state file kept
//! ([`proc_stat`] reads a start time, and tells whether a pid and start
//! time still name a running process). The init binary, in its setns
//! role, joins the init's namespaces and root: cloned by this program into
//! the container's pid namespace, where [`Container::setns_entry`] says it
//! may be, or forked there by a helper. The process gets its own args,
//! env, cwd, user and rlimits from the config, and the same [`Process`] API
//! as an init.
//!
//! ```no_run
//! use cradle_core::{Config, Plan};
//! use cradle_linux::{Container, Options, Process};
//!
//! fn exec(init: &Process) -> Result<(), Box<dyn std::error::Error>> {
//!     let container = Container::of(init)?;
//!     let mut plan = Plan::setns(Config::new(["/bin/hostname"]));
//!     // No cgroups to enter here.
//!     plan.setns_entry = container.setns_entry(None);
//!     let mut process = Process::start(plan, Options::new().container(container))?;
//!     println!("exited with {}", process.wait()?);
//!     Ok(())
//! }
//! ```
//!
//! Needs Linux 5.11 (`clone3` with pidfds, `waitid(P_PIDFD)`,
//! `close_range`). A caller without root can launch into a new user
//! namespace that maps only its own uid and gid (no cgroup, loopback only);
//! anything more needs root.

pub mod bounding_set;
mod build_note;
pub mod cgroup;
pub mod clock;
pub mod command;
pub mod console;
pub mod driver;
mod elf;
mod error;
mod held;
mod id_maps;
mod init;
mod launch;
pub mod net;
mod options;
pub mod proc_stat;
mod process;
mod resume;
#[cfg(test)]
mod root_gate;
pub mod seccomp;
mod setns;
mod signal;
pub mod small_file;
mod spawn;
pub mod strict_json;
mod sys;
mod wait;
#[cfg(feature = "tokio")]
pub mod with_tokio;

pub use crate::build_note::{build_fingerprint, init_beside, is_of_this_build};
pub use crate::error::{Error, ErrorKind};
pub use crate::held::{CreatedProcess, HeldProcess};
pub use crate::init::{init, init_with_hook};
pub use crate::launch::LinuxLaunch;
pub use crate::options::{take_inherited_fd, InitBinary, Options};
pub use crate::process::Process;
pub use crate::resume::resume;
pub use crate::setns::Container;
pub use crate::signal::Signal;

/// What [`init_in_main!`] expands to needs, from the program's crate.
#[doc(hidden)]
pub mod __private {
    pub use crate::init::leave_role_to_main;
    pub use ctor;
}
