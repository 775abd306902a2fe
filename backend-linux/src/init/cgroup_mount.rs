//! The `cgroup` filesystem type of an OCI mount table: the container's
//! own cgroup in every hierarchy, never the tree above it.
//!
//! On a cgroup2 host that is one mount of the container's cgroup. On a
//! v1 (or hybrid) host, a tmpfs holds one directory per hierarchy, named
//! as the host names its mount point (`cpu,cpuacct`, `systemd`), with a
//! link for each co-mounted controller (`cpu -> cpu,cpuacct`), and a
//! hybrid host's v2 tree at `unified`.
//!
//! Each hierarchy's cgroup is a copy of the host's directory of it where
//! the host's mount shows it; where it does not (a cgroup namespace shows
//! the host's mounts as `/..`), a new mount of the hierarchy, which the
//! kernel roots at the namespace's cgroup, narrowed to the container's
//! cgroup below that.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::{umount2, MntFlags, MsFlags};
use nix::sys::stat::{mkdirat, Mode};
use nix::unistd::symlinkat;

use cradle_core::{ChildError, ChildStep};

use super::devices::fd_path;
use super::mount_options::MountOptions;
use super::mount_table::{attach, finish, new_filesystem, set_attributes};
use super::{failed, refused};
use crate::cgroup::{Hierarchy, Layout, Mode as CgroupMode, MountedHierarchy, Version};
use crate::sys::{self, MountChange};

const STEP: ChildStep = ChildStep::Mounts;

/// Mounts the container's cgroups on `target` (the resolved `destination`)
/// with `options`: `ro` makes every hierarchy read-only, and each is
/// `nosuid`, `nodev` and `noexec` whatever the options say.
pub(super) fn mount(
    target: BorrowedFd<'_>,
    destination: &Path,
    options: &MountOptions,
) -> Result<(), ChildError> {
    let shown = destination.display();
    let layout =
        Layout::detect().map_err(|error| refused(STEP, format!("cgroup mount on {shown}: {error}")))?;
    let readonly = options.flags.contains(MsFlags::MS_RDONLY);
    let mut hierarchy_change = MountChange {
        set: libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC,
        ..MountChange::default()
    };
    if readonly {
        hierarchy_change.set |= libc::MOUNT_ATTR_RDONLY;
    }
    let hierarchies = layout.hierarchies();
    let top = match layout.mode() {
        Some(CgroupMode::Unified) => {
            let [unified] = hierarchies else {
                return Err(refused(
                    STEP,
                    format!("cgroup mount on {shown}: more than one cgroup2 tree"),
                ));
            };
            mount_hierarchy(unified, target, hierarchy_change, destination)?
        }
        Some(CgroupMode::Legacy | CgroupMode::Hybrid) => {
            // The tmpfs is made read-only once its directories are made.
            let mut tmpfs_options = options.clone();
            tmpfs_options.flags.remove(MsFlags::MS_RDONLY);
            tmpfs_options.data = vec!["mode=755".to_owned()];
            let tmpfs = new_filesystem("tmpfs", Some(OsStr::new("cgroup")), &tmpfs_options, destination)?;
            attach(tmpfs.as_fd(), target, destination)?;
            for hierarchy in hierarchies {
                mount_in_tmpfs(tmpfs.as_fd(), hierarchy, hierarchy_change, destination)?;
            }
            if readonly {
                let change = MountChange {
                    set: libc::MOUNT_ATTR_RDONLY,
                    ..MountChange::default()
                };
                set_attributes(tmpfs.as_fd(), change, false, destination)?;
            }
            tmpfs
        }
        None => {
            return Err(refused(
                STEP,
                format!("cgroup mount on {shown}: no cgroup hierarchy is mounted"),
            ))
        }
    };
    finish(top.as_fd(), options, destination)
}

/// Mounts `hierarchy` in its directory of the v1 `tmpfs`, with the links
/// of its co-mounted controllers.
fn mount_in_tmpfs(
    tmpfs: BorrowedFd<'_>,
    hierarchy: &MountedHierarchy,
    change: MountChange,
    destination: &Path,
) -> Result<(), ChildError> {
    let name = match hierarchy.hierarchy.version() {
        Version::V2 => OsStr::new("unified"),
        Version::V1 => hierarchy.mount_point.file_name().unwrap_or(OsStr::new("cgroup")),
    };
    let shown = format!("{}/{}", destination.display(), name.to_string_lossy());
    mkdirat(tmpfs, name, Mode::from_bits_truncate(0o755)).map_err(failed(STEP, format!("mkdir {shown}")))?;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let dir = openat(tmpfs, name, flags, Mode::empty()).map_err(failed(STEP, format!("open {shown}")))?;
    mount_hierarchy(hierarchy, dir.as_fd(), change, Path::new(&shown))?;
    if let Hierarchy::V1 { controllers } = &hierarchy.hierarchy {
        let links = controllers
            .iter()
            .filter(|controller| !controller.starts_with("name=") && OsStr::new(controller) != name);
        for controller in links {
            match symlinkat(name, tmpfs, controller.as_str()) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(errno) => {
                    let what = format!("symlink {}/{controller}", destination.display());
                    return Err(failed(STEP, what)(errno));
                }
            }
        }
    }
    Ok(())
}

/// Attaches the container's cgroup of `hierarchy` on `target` with
/// `change`; returns the attached mount.
fn mount_hierarchy(
    hierarchy: &MountedHierarchy,
    target: BorrowedFd<'_>,
    change: MountChange,
    destination: &Path,
) -> Result<OwnedFd, ChildError> {
    let shown = destination.display();
    let tree = match hierarchy.dir(&hierarchy.own_cgroup) {
        Some(dir) => {
            let path = CString::new(dir.as_os_str().as_bytes())
                .map_err(|_| failed(STEP, format!("cgroup {}", dir.display()))(Errno::EINVAL))?;
            sys::open_tree_clone(&path, false)
                .map_err(failed(STEP, format!("open_tree {} for {shown}", dir.display())))?
        }
        None => own_cgroup_in_namespace(hierarchy, target, destination)?,
    };
    set_attributes(tree.as_fd(), change, false, destination)?;
    attach(tree.as_fd(), target, destination)?;
    Ok(tree)
}

/// The container's cgroup of `hierarchy`, detached, from a new mount of
/// the hierarchy (rooted by the kernel at the cgroup namespace's cgroup),
/// when the host's mount cannot show it. The new mount is attached on
/// `target` only while the copy is taken, then taken away again.
fn own_cgroup_in_namespace(
    hierarchy: &MountedHierarchy,
    target: BorrowedFd<'_>,
    destination: &Path,
) -> Result<OwnedFd, ChildError> {
    let shown = destination.display();
    let own = &hierarchy.own_cgroup;
    let relative = own.strip_prefix("/").unwrap_or(own);
    if relative
        .components()
        .any(|part| !matches!(part, Component::Normal(_)))
    {
        return Err(refused(
            STEP,
            format!(
                "cgroup mount on {shown}: the container's {} cgroup {} is outside the cgroup namespace",
                hierarchy.hierarchy,
                own.display()
            ),
        ));
    }
    let (fstype, data) = match &hierarchy.hierarchy {
        Hierarchy::V1 { controllers } => ("cgroup", controllers.clone()),
        Hierarchy::V2 => ("cgroup2", Vec::new()),
    };
    let options = MountOptions {
        data,
        ..MountOptions::default()
    };
    let whole = new_filesystem(fstype, Some(OsStr::new(fstype)), &options, destination)?;
    if relative.as_os_str().is_empty() {
        return Ok(whole);
    }
    // A copy is taken of an attached mount only (before Linux 6.15).
    attach(whole.as_fd(), target, destination)?;
    let path = CString::new(relative.as_os_str().as_bytes())
        .map_err(|_| failed(STEP, format!("cgroup {}", own.display()))(Errno::EINVAL))?;
    let copy = sys::open_tree_clone_at(whole.as_fd(), &path, false).map_err(failed(
        STEP,
        format!("open_tree of the cgroup {} for {shown}", own.display()),
    ))?;
    umount2(&fd_path(&whole, ""), MntFlags::MNT_DETACH).map_err(failed(
        STEP,
        format!("unmounting the cgroup namespace's root from {shown}"),
    ))?;
    Ok(copy)
}
