//! A simulated kernel for cradle: every launch path, deterministic, without
//! root.
//!
//! - [`Kernel`]: the simulated world. A process table whose pids are reused
//!   once reaped, with parents, creators (`CLONE_PARENT` makes them differ),
//!   killed processes that take time to exit, zombies and exit statuses; socketpairs with chunked deliveries and
//!   Linux's close and reset rules; cgroups with membership, freezing and an
//!   `rmdir` refused while populated, one directory per hierarchy; host
//!   interfaces; id maps; a virtual clock. It boots a host with one running
//!   container.
//! - Simulated children: an init process and a setns helper (which forks
//!   the container process as the parent's child) that run the core's real
//!   child side, [`ChildHandshake`](cradle_core::ChildHandshake) and
//!   [`pid_report`](cradle_core::child::pid_report).
//! - [`MockBackend`]: one launch's backend over the kernel, implementing
//!   every [`cradle_core::backend`] trait, so the core's driver runs over it
//!   unchanged.
//! - [`Fault`]: a script that can fail or slow any command (or fail a
//!   multi-part one partway, leaving what Linux leaves), kill, stall or
//!   fail a child at any point (each of its set-up steps among them, walked
//!   one at a time in the order Linux runs them: [`set_up_steps`]), make it
//!   send garbage, oversized, truncated, unexpected or forged messages, or
//!   hang up.
//! - [`Pair`], [`Scenario`] and [`run`]: a parent and child driven to the
//!   end, and a [`Report`] of the outcome and of what the launch left, with
//!   its invariants checked by [`Report::violations`]. [`plans`] has plans
//!   that use every part of a launch.
//!
//! ```
//! use cradle_core::{ChildStep, Config, ExitStatus, LaunchError, Plan, Step};
//! use cradle_mock::{At, Fault, ProcessPoint, Scenario};
//!
//! let plan = Plan::init(Config::new(["/bin/sh"]));
//!
//! let report = cradle_mock::run(&Scenario::new(plan.clone())).unwrap();
//! let pid = report.result.clone().unwrap();
//! assert!(report.kernel.process(pid).unwrap().is_alive());
//! assert!(report.violations().is_empty());
//!
//! // The child dies at a set-up step: the launch says so, and leaves nothing.
//! let dies = Fault::Die {
//!     at: At::Process(ProcessPoint::SetUp(ChildStep::Mounts)),
//!     status: ExitStatus::Signaled(9),
//! };
//! let report = cradle_mock::run(&Scenario::new(plan).with_fault(dies)).unwrap();
//! assert!(matches!(report.result, Err(LaunchError::Exited { step: Step::AwaitReady, .. })));
//! assert!(report.leftovers.is_empty());
//! assert!(report.violations().is_empty());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod cgroup;
mod child;
mod faults;
mod kernel;
mod net;
mod pair;
pub mod plans;
mod process;
mod report;
mod socket;

pub use crate::backend::{MockBackend, Options, Schedule, DESTROY_BOUND, REAP_BOUND, SOCKET_BUFFER};
pub use crate::cgroup::{Cgroup, HIERARCHIES, ROOT};
pub use crate::faults::{
    set_up_steps, At, CommandKind, Fault, FaultScript, Forgery, HelperPoint, ProcessPoint, INIT_SET_UP,
    SETNS_SET_UP,
};
pub use crate::kernel::{
    Container, Errno, Kernel, LaunchId, LeftProcess, Leftovers, DEFAULT_PID_MAX, DYING_TIME, SIGKILL,
};
pub use crate::net::HostInterface;
pub use crate::pair::{run, run_on, Pair, Scenario, RECORD_TIME};
pub use crate::process::{Process, ProcessState};
pub use crate::report::{Report, Violation};
pub use crate::socket::{SocketId, SocketPair};
