//! cgroups v1, v2 and hybrid: detection, a manager for the container's
//! cgroup, and entering a running container's cgroups.
//!
//! - [`Layout`] reads the host's layout from `/proc/self/mountinfo` and
//!   `/proc/self/cgroup`: [legacy](Mode::Legacy) (v1 only),
//!   [unified](Mode::Unified) (v2 only) or [hybrid](Mode::Hybrid) (v1
//!   controllers beside a v2 tree, often without controllers).
//! - [`Cgroup`] is one container's cgroup: a directory in every hierarchy
//!   the caller belongs to, under the caller's own cgroup or a parent named
//!   relative to it or to the root (made on the way). It writes limits in
//!   each hierarchy's format (a limit goes to the v1 hierarchy with its
//!   controller, else to v2, and one the chosen hierarchy or this kernel
//!   cannot take is refused, never skipped), puts processes in
//!   (at clone time on v2, see [`Cgroup::clone_into`]), freezes and thaws,
//!   kills everything in it, waits until it is empty and removes it.
//! - [`DeviceRule`]s restrict the devices the container may open or
//!   create: v1's `devices.allow`/`devices.deny`, or a `BPF_CGROUP_DEVICE`
//!   program on v2 ([`attach_device_program`]), which processes that
//!   [share](share_device_programs) a directory load once between them.
//! - [`enter`] puts a setns process into a running container's cgroups;
//!   [`pids_max`] reads their pids limit.
//!
//! cradle only ever writes to cgroups it created: an existing directory is
//! an error, not something to take over, and a v2 controller the parent
//! has not enabled is reported rather than enabled in the parent.
//!
//! Every wait has a deadline. Errors name the file and the hierarchy.

mod bpf;
mod detect;
mod devices;
mod error;
mod freezer;
mod fs;
mod hierarchy;
mod kill;
mod limits;
mod manager;
mod shared_programs;
mod wait;

pub use detect::{Layout, Mode, MountedHierarchy};
pub use devices::{attach_device_program, DeviceAccess, DeviceRule, DeviceType, ParseDeviceAccessError};
pub use error::CgroupError;
pub use freezer::FreezerState;
pub use hierarchy::{CgroupDir, CgroupPaths, Hierarchy, Version};
pub use kill::DESTROY_BOUND;
pub use limits::{HumanSize, Resources};
pub use manager::{enter, pids_max, Cgroup, CgroupConfig, CgroupTimings};
pub(crate) use manager::{fork_into_v1_pids, v1_tasks, PidsFork};
pub use shared_programs::share_device_programs;
