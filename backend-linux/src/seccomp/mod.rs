//! Seccomp, the parent's side: the policy model (the OCI `linux.seccomp`
//! object), the default profile, and the compiler to classic BPF. The
//! parent compiles a policy once (libseccomp, behind a front of its own:
//! `front`) and sends the program to the child in its config
//! (`Config.seccomp`); the child only installs it.
//! A policy from outside is compiled in a process started for it, killed
//! at a bound (`compile_within`): libseccomp never returns from some.
//!
//! ```no_run
//! use std::collections::BTreeSet;
//! use cradle_core::confinement::Capability;
//! use cradle_linux::seccomp::{compile, default_policy};
//!
//! let caps: BTreeSet<Capability> = Capability::DEFAULT.into_iter().collect();
//! let program = compile(&default_policy(&caps))?;
//! # Ok::<(), cradle_linux::seccomp::SeccompError>(())
//! ```

mod bounded;
mod bpf;
mod by_number;
mod check;
mod compile;
mod default;
mod error;
mod front;
mod interpreter;
mod policy;
#[cfg(test)]
mod tests;

pub use bounded::compile_within;
pub(crate) use bounded::{serve as serve_compile, COMPILER_ENV};
pub use compile::{compile, PROGRAM_SHAPE};
pub use default::default_policy;
pub use error::SeccompError;
pub use policy::{Action, Arch, ArgCondition, ArgOp, Flag, Policy, Rule};
