//! cradle's Linux backend.

pub mod cgroup;
