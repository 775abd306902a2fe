//! Writes to the kernel's own `/proc` files (`oom_score_adj`, sysctls).
//!
//! The child writes them as the host's root, after it has joined the
//! container's mount namespace (an exec's process) or entered its root
//! (an init), where the container's processes may have mounted over
//! `/proc` (root in a user namespace of its own may): a tmpfs whose
//! `self/oom_score_adj` is a bind mount of a host sysctl would take the
//! write (runc's CVE-2025-52881 is of this class). So `/proc` must be the
//! root of a procfs, and each file is opened beneath it crossing no mount
//! point and following no magic link; anything else is refused, naming
//! the step.

use std::ffi::CString;
use std::os::fd::{AsFd as _, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode};
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};
use nix::unistd::write;

use cradle_core::{ChildError, ChildStep};

use super::{failed, refused};
use crate::sys::{self, RESOLVE_BENEATH, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_XDEV};

/// The inode of a procfs's root directory (`PROC_ROOT_INO`).
const PROC_ROOT_INODE: u64 = 1;

/// Writes `value` to the file `relative` of the procfs at `/proc`
/// (`self/oom_score_adj`, `sys/net/ipv4/ip_forward`): refused unless
/// `/proc` is the root of a procfs with no mount on the way to the file.
pub(super) fn write_value(relative: &str, value: &str, step: ChildStep) -> Result<(), ChildError> {
    let root = proc_root(step)?;
    let name =
        CString::new(relative).map_err(|_| refused(step, format!("/proc/{relative} holds a NUL byte")))?;
    let file = sys::openat2(
        root.as_fd(),
        &name,
        libc::O_WRONLY | libc::O_NOFOLLOW,
        RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
    )
    .map_err(|errno| match errno {
        Errno::EXDEV => refused(
            step,
            format!(
                "/proc/{relative} has a mount over it (or on the way to it): it is not the kernel's file"
            ),
        ),
        errno => failed(step, format!("open /proc/{relative}"))(errno),
    })?;
    let written = write(&file, value.as_bytes())
        .map_err(failed(step, format!("write {value:?} to /proc/{relative}")))?;
    if written != value.len() {
        return Err(failed(step, format!("write {value:?} to /proc/{relative}"))(
            Errno::EIO,
        ));
    }
    Ok(())
}

/// `/proc`, checked to be the root of a procfs.
fn proc_root(step: ChildStep) -> Result<OwnedFd, ChildError> {
    let root = nix::fcntl::open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed(step, "open /proc"))?;
    let kind = fstatfs(&root)
        .map_err(failed(step, "statfs /proc"))?
        .filesystem_type();
    if kind != PROC_SUPER_MAGIC {
        return Err(refused(
            step,
            format!("/proc is not a procfs (filesystem type {:#x})", kind.0),
        ));
    }
    let inode = fstat(&root).map_err(failed(step, "stat /proc"))?.st_ino;
    if inode != PROC_ROOT_INODE {
        return Err(refused(
            step,
            format!("/proc is not the root of a procfs (inode {inode})"),
        ));
    }
    Ok(root)
}
