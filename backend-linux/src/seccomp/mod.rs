//! Seccomp, the parent's side: the policy model (the OCI `linux.seccomp`
//! object), the default profile, and the compiler to classic BPF. The
//! parent compiles a policy once, with libseccomp, and sends the program
//! to the child in its config (`Config.seccomp`); the child only installs
//! it.
//!
//! ```no_run
//! use std::collections::BTreeSet;
//! use cradle_linux::seccomp::{compile, Policy};
//!
//! let profile = std::fs::read("seccomp.json").expect("a profile");
//! let program = compile(&Policy::from_json(&profile, &BTreeSet::new())?)?;
//! # Ok::<(), cradle_linux::seccomp::SeccompError>(())
//! ```

mod compile;
mod error;
mod policy;

pub use compile::compile;
pub use error::SeccompError;
pub use policy::{Action, Arch, ArgCondition, ArgOp, Flag, Policy, Rule};
