//! The Sans-IO core of cradle: the parent/child launch handshake as pure
//! state machines.
//!
//! A parent starts a container's init process (new namespaces) or a process
//! inside a running container (setns), puts it in a cgroup, creates its
//! network interfaces, writes its id maps, sends its [`Config`], half-closes,
//! and learns from the child's reply whether it reached `exec`. This crate
//! models that as inputs and outputs; it does no I/O, reads no clock and
//! holds no file descriptor. Backends (`cradle-linux`, `cradle-mock`) carry
//! out the [`Command`]s through the [`backend`] traits.
//!
//! - [`message`] and [`config`]: the wire messages, newline-delimited JSON.
//! - [`framing`]: the encoder and the capped incremental decoder.
//! - [`Launch`]: the parent's machine; [`ChildHandshake`]: the child's.
//! - [`backend`] and [`driver`]: the traits and the blocking driver over them.
//!
//! # The run loop
//!
//! [`driver::drive`] is this loop; a non-blocking driver runs the same steps
//! on readiness instead of blocking in `wait`.
//!
//! ```
//! use cradle_core::backend::{Backend, Wake};
//! use cradle_core::driver::execute;
//! use cradle_core::{Event, Launch, LaunchError, Pid};
//!
//! fn run(launch: &mut Launch, backend: &mut impl Backend) -> Result<Pid, LaunchError> {
//!     let mut buf = [0; 4096];
//!     loop {
//!         // 1. Carry out commands, one at a time, reporting each.
//!         while let Some(command) = launch.poll_command() {
//!             let result = execute(backend, &command, launch.deadline());
//!             let now = backend.now();
//!             let _ = match result {
//!                 Ok(Some(pid)) => launch.handle_spawned(now, pid),
//!                 Ok(None) => launch.handle_done(now, Ok(())),
//!                 Err(error) => launch.handle_done(now, Err(error)),
//!             };
//!         }
//!         // 2. The terminal event ends the launch. (A held process would
//!         //    be recorded here before it is let go.)
//!         match launch.poll_event() {
//!             // (Created comes only after a hand-off, never asked here.)
//!             Some(Event::Running { pid } | Event::Created { pid }) => return Ok(pid),
//!             Some(Event::Failed(error)) => return Err(error),
//!             Some(Event::Held { .. }) => {
//!                 let _ = launch.handle_start(backend.now());
//!                 continue;
//!             }
//!             None => {}
//!         }
//!         // 3. Wait for the child, an exit, or the deadline.
//!         let wake = backend.wait(launch.poll_timeout(), launch.wants_read(), &mut buf);
//!         let now = backend.now();
//!         let _ = match wake {
//!             Wake::Read(n) => launch.handle_read(now, &buf[..n]),
//!             Wake::Eof => launch.handle_eof(now),
//!             Wake::ReadFailed(error) => launch.handle_read_error(now, error),
//!             Wake::Exited { pid, status } => launch.handle_exit(now, pid, status),
//!             Wake::Deadline => Ok(launch.handle_timeout(now)),
//!         };
//!     }
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod child;
pub mod config;
pub mod confinement;
pub mod driver;
pub mod framing;
pub mod launch;
pub mod message;
pub mod process;
pub mod time;

pub use crate::child::{ChildEvent, ChildHandshake};
pub use crate::config::{
    Config, Hook, HookStage, Interface, Namespace, NamespaceKind, Terminal, WindowSize, PROTOCOL_VERSION,
};
pub use crate::confinement::{Capabilities, Capability};
pub use crate::framing::{DecodeError, Decoder, Direction, Limits};
pub use crate::launch::{
    Command, CommandError, ConfigError, Event, IdMap, IdMaps, Kind, Launch, LaunchError, Plan, Role,
    SetnsEntry, Step,
};
pub use crate::message::{ChildError, ChildStep, Message, StepTime};
pub use crate::process::{ExitStatus, Pid};
pub use crate::time::Time;
