//! Joining the v1 cgroups the parent made for this init: the parent sends
//! the descriptors of their `tasks` files with the config, and the init
//! writes `0`, itself, to each, before any other set-up step.
//!
//! Why the init and not the parent: a write of a pid to `cgroup.procs`
//! moves a whole thread group, under the kernel's lock on every thread
//! group (`cgroup_threadgroup_rwsem`), whose first writer after an idle
//! spell waits for an RCU grace period, 8 to 12 ms here. A thread that
//! moves itself through `tasks` takes no such lock, on a kernel with the
//! single-thread migration that skips it (this project's 6.18 has it; on
//! an older one the join takes the lock too: as slow as the parent's
//! write, and as correct). The init has one thread (the role is refused
//! to a process with more), so that thread is the whole process. The
//! descriptors were opened by the parent, whose credentials the kernel
//! checks (a `tasks` write is allowed to the opener), so an init in a
//! user namespace joins as well.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::unistd;

use cradle_core::{ChildError, ChildStep};

use super::failed;

/// Moves this process into each cgroup whose `tasks` file is open in
/// `tasks`, and closes them.
pub(super) fn join(tasks: Vec<OwnedFd>) -> Result<(), ChildError> {
    let refused = |errno| failed(ChildStep::Cgroup, "write of 0 to a cgroup's tasks file")(errno);
    for file in &tasks {
        loop {
            match unistd::write(file, b"0") {
                Ok(1) => break,
                Ok(_) => return Err(refused(Errno::EIO)),
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(refused(errno)),
            }
        }
    }
    Ok(())
}
