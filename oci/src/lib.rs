//! An OCI runtime bundle mapped onto cradle's launch.
//!
//! [`Bundle::load`] reads a bundle's `config.json` (runtime-spec 1.0 to
//! 1.2), refuses every field cradle does not implement with an error naming
//! its JSON path, and maps the rest onto the core's [`Config`] and
//! [`Plan`], the Linux backend's cgroup ([`CgroupConfig`]) and seccomp
//! [`Policy`]; [`Bundle::container`] gives what to launch for a container
//! id. [`ExecProcess`] is a `process` object on its own, as `exec
//! --process FILE` reads it, mapped for a process in a running container.
//! [`State`] and [`features`] are the spec's state and features
//! documents; [`default_spec`] is the `config.json` of `cradle spec`.
//!
//! No syscalls but reading `config.json` (or a process file) and
//! resolving `root.path` (and the backend's `uname`, when a seccomp
//! profile is read).
//!
//! [`Config`]: cradle_core::Config
//! [`Plan`]: cradle_core::Plan
//! [`CgroupConfig`]: cradle_linux::cgroup::CgroupConfig
//! [`Policy`]: cradle_linux::seccomp::Policy
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bundle;
mod cgroup_path;
mod default_spec;
mod error;
mod exec;
mod features;
mod hooks;
mod linux;
mod mounts;
mod process;
mod raw;
mod resources;
mod state;
mod version;

pub use bundle::{Bundle, Container};
pub use default_spec::{default_spec, spec_json};
pub use error::OciError;
pub use exec::ExecProcess;
pub use features::features;
pub use hooks::{Hook, Hooks};
pub use state::{State, Status};
pub use version::OCI_VERSION;

/// The runtime-spec types, as oci-spec has them.
pub use oci_spec::runtime as spec;

#[cfg(test)]
mod tests;
