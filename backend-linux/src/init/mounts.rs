//! The container's filesystem: a private mount table, the rootfs,
//! `/proc`, `/dev`, `/sys`, the config's mounts, the root's propagation,
//! read-only and masked paths.
//!
//! With `Config::default_mounts` (cradle's own configs), cradle's
//! `/proc`, `/dev` and `/sys` are made in the rootfs through descriptors
//! resolved without symlinks, then the config's mounts, then the pivot.
//! The config's mounts, and an OCI bundle's table (without default
//! mounts), are made by [`super::mount_table`]: each destination resolved
//! inside the rootfs by descriptor, so a symlink in the image cannot
//! point a mount at the host; bind sources are host paths, copied as
//! detached mounts (`open_tree`) and attached by descriptor. Without a
//! mount namespace of its own, only such a table is made, in the
//! caller's namespace, and the root is entered with `chroot` instead of
//! the pivot ([`in_callers_namespace`]).
//!
//! `/proc`, `/dev` and `/sys` are mounted in the rootfs just *before* the
//! pivot, for user namespaces: there the kernel mounts a new proc or sysfs
//! only while one is fully visible already (`mnt_too_revealing`), which the
//! host's stop being once the old root is detached. A user namespace also
//! cannot `mknod`, so its `/dev` nodes are bind mounts of the host's; a
//! sysfs it may not mount (no network namespace of its own) is the host's
//! `/sys`, bound read-only.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, AT_FDCWD};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mkdirat, Mode};
use nix::unistd::{chdir, chroot, fchdir, pivot_root, symlinkat};

use cradle_core::{ChildError, ChildStep, Config, HookStage, NamespaceKind};

use super::devices;
use super::in_root::{self, Leaf};
use super::mount_options;
use super::mount_table::MountTable;
use super::setup::Hook;
use super::{failed, refused};
use crate::sys;

/// Sets up the container's filesystem, calling `hook` before each step:
/// the mount table, the rootfs with its `/proc`, `/dev` (and the config's
/// device nodes) and `/sys` or an OCI table, the config's mounts, and the
/// root's propagation. Read-only and masked
/// paths ([`paths`]) and the read-only root ([`readonly_rootfs`]) come
/// later, after the sysctls are written.
///
/// In a mount namespace joined by path all of it happens there, as runc
/// does it: the namespace's owner shares its mounts with the container.
/// Without a mount namespace, see [`in_callers_namespace`].
pub(super) fn run(config: &Config, hook: Hook<'_>) -> Result<(), ChildError> {
    hook(ChildStep::Mounts, config);
    if !config.has_namespace(NamespaceKind::Mount) {
        return in_callers_namespace(config, hook);
    }
    if config.rootfs.is_none() {
        no_device_nodes(config, hook)?;
        hook(ChildStep::Mounts, config);
    }
    let propagation = RootPropagation::of(config)?;
    // Nothing mounted from here on propagates back to the host.
    mount_at(None, "/", None, propagation.initial(), None)
        .map_err(failed(ChildStep::Mounts, "making / rprivate (or rslave)"))?;
    match &config.rootfs {
        Some(rootfs) if !config.default_mounts => mount_table(config, rootfs, hook, EnterRoot::Pivot)?,
        _ => {
            default_mounts(config, hook)?;
            no_create_container_hooks(config, hook)?;
        }
    }
    propagation.apply()
}

/// Without a mount namespace of its own, the container's mounts are made
/// in the caller's, as runc and crun make them, where they outlive the
/// container: only an OCI mount table is made there, all of it below the
/// bind mount of the rootfs stacked on the rootfs (which the caller
/// detaches, with everything below it, when it removes the container).
/// The root is entered with `chroot`, as `pivot_root` would change the
/// root of every process in the namespace; the propagation of `/` is the
/// caller's and is left as it is. What would change the caller's mounts,
/// or only seem to confine the container while it shares them (masked and
/// read-only paths), is refused.
fn in_callers_namespace(config: &Config, hook: Hook<'_>) -> Result<(), ChildError> {
    let Some(rootfs) = config.rootfs.as_ref().filter(|_| !config.default_mounts) else {
        let changes_mounts = config.rootfs.is_some()
            || !config.mounts.is_empty()
            || !config.readonly_paths.is_empty()
            || !config.masked_paths.is_empty()
            || config.readonly_rootfs
            || config.rootfs_propagation.is_some();
        if changes_mounts {
            return Err(refused(
                ChildStep::Mounts,
                "cradle's own mounts, read-only and masked paths, a read-only root and a root propagation \
                 need a mount namespace (new, or joined by path); without one only an OCI mount table is made",
            ));
        }
        no_device_nodes(config, hook)?;
        return no_create_container_hooks(config, hook);
    };
    let needs_namespace = [
        ("a root propagation", config.rootfs_propagation.is_some()),
        ("read-only paths", !config.readonly_paths.is_empty()),
        ("masked paths", !config.masked_paths.is_empty()),
    ];
    if let Some((what, _)) = needs_namespace.iter().find(|(_, set)| *set) {
        return Err(refused(
            ChildStep::Mounts,
            format!("{what} need a mount namespace (new, or joined by path): without one the mounts are the caller's"),
        ));
    }
    mount_table(config, rootfs, hook, EnterRoot::Chroot)
}

/// Walks the root and device steps where there is no root to enter and
/// no `/dev` of the container's is made, refusing device nodes for it.
fn no_device_nodes(config: &Config, hook: Hook<'_>) -> Result<(), ChildError> {
    // No root to enter: the step is walked all the same, so that every
    // config walks every step (the mock's model, and a hook's view).
    hook(ChildStep::Rootfs, config);
    hook(ChildStep::Devices, config);
    if !config.devices.is_empty() {
        return Err(refused(
            ChildStep::Devices,
            "device nodes are made in the container's own /dev, which needs a rootfs",
        ));
    }
    Ok(())
}

/// Cradle's own `/proc`, `/dev` and `/sys` in the rootfs, then the
/// config's mounts, then the pivot; without a rootfs, the config's mounts
/// (and, in a new mount namespace, a `/proc` of the init's pid namespace
/// where that is not the launcher's) over the tree it has.
///
/// The config's mounts are made as an OCI table's are ([`MountTable`]):
/// each destination resolved inside the root by descriptor, through no
/// magic link and no symlink out of it, so that an image's
/// `/data -> /proc/1/root/...` can neither make directories on the host
/// nor put a mount there. With a rootfs they are made in it before the
/// pivot, while the bind sources, named by the host's paths, are in view.
fn default_mounts(config: &Config, hook: Hook<'_>) -> Result<(), ChildError> {
    let table = MountTable::open(&config.mounts)?;
    if let Some(rootfs) = &config.rootfs {
        hook(ChildStep::Rootfs, config);
        enter_rootfs(rootfs)?;
        hook(ChildStep::Mounts, config);
        // In the rootfs, the working directory, each by a descriptor
        // resolved without symlinks.
        let proc = mount_point("proc")?;
        mount_proc(&devices::fd_path(&proc, ""))?;
        drop(proc);
        let dev = mount_dev()?;
        hook(ChildStep::Devices, config);
        devices::make_nodes(&dev, &config.devices)?;
        drop(dev);
        // Each part shown as the step its errors name, so that a step's
        // time (`--timings`) is its own.
        hook(ChildStep::Mounts, config);
        mount_sys()?;
        table.mount_all(open_root(".")?.as_fd())?;
        hook(ChildStep::Rootfs, config);
        return pivot();
    }
    if config.creates(NamespaceKind::Mount) && config.has_namespace(NamespaceKind::Pid) {
        // The host's /proc shows the host's processes; a new (or joined)
        // pid namespace gets its own, as `unshare --mount-proc` does. A
        // joined mount namespace keeps the /proc its owner gave it.
        mount_proc(Path::new("/proc"))?;
    }
    hook(ChildStep::Mounts, config);
    table.mount_all(open_root("/")?.as_fd())
}

/// The directory the config's mounts are made in (`.`, the rootfs being
/// entered, or `/`), as a descriptor.
fn open_root(path: &str) -> Result<OwnedFd, ChildError> {
    open_dir(path, ChildStep::Mounts, "for the config's mounts")
}

/// The directory `path`, as an `O_PATH` descriptor; a failure is `step`'s,
/// naming its `purpose`.
pub(super) fn open_dir(path: &str, step: ChildStep, purpose: &str) -> Result<OwnedFd, ChildError> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed(step, format!("open of {path} {purpose}")))
}

/// An OCI bundle's mount table: the config's mounts made inside the
/// rootfs before the pivot ([`MountTable`]), then the device nodes and
/// links in whatever `/dev` they left; then the root is entered.
fn mount_table(config: &Config, rootfs: &Path, hook: Hook<'_>, enter: EnterRoot) -> Result<(), ChildError> {
    let table = MountTable::open(&config.mounts)?;
    hook(ChildStep::Rootfs, config);
    enter_rootfs(rootfs)?;
    hook(ChildStep::Mounts, config);
    let root = open_root(".")?;
    table.mount_all(root.as_fd())?;
    hook(ChildStep::Devices, config);
    if table.binds_dev() {
        if !config.devices.is_empty() {
            return Err(refused(
                ChildStep::Devices,
                "the mount table binds a /dev of the host's: no device node is made in it",
            ));
        }
    } else {
        let dev = in_root::open_or_make(root.as_fd(), Path::new("/dev"), Leaf::Dir, ChildStep::Devices)?;
        devices::populate(&dev, &config.devices)?;
    }
    drop(root);
    // In the container's namespaces, its mounts made, before the pivot.
    let step = ChildStep::CreateContainerHooks;
    hook(step, config);
    super::hooks::run(config, HookStage::CreateContainer, step)?;
    hook(ChildStep::Rootfs, config);
    match enter {
        EnterRoot::Pivot => pivot(),
        EnterRoot::Chroot => chroot_into_rootfs(),
    }
}

/// How the process makes the rootfs its root.
#[derive(Clone, Copy, Debug)]
enum EnterRoot {
    /// In a mount namespace of its own: `pivot_root`, the old root detached.
    Pivot,
    /// In the caller's: `chroot`, which changes this process's root alone.
    Chroot,
}

/// Walks the `createContainer` step where there is no OCI mount table,
/// refusing hooks for it: they run between the table and the pivot.
fn no_create_container_hooks(config: &Config, hook: Hook<'_>) -> Result<(), ChildError> {
    let step = ChildStep::CreateContainerHooks;
    hook(step, config);
    if config.hooks.iter().any(|h| h.stage == HookStage::CreateContainer) {
        return Err(refused(
            step,
            "createContainer hooks run between an OCI mount table and the pivot: they need a rootfs and default_mounts off",
        ));
    }
    Ok(())
}

/// `Config::rootfs_propagation`, applied as runc does: the mount table is
/// cut from the host's first (recursively private, or a slave of the
/// host's mounts when a slave is asked for, so that the host's mounts
/// still reach it), and the root gets the propagation asked for last,
/// once it is the root: a shared root is shared with no mount of the
/// host's, so nothing the container mounts ever reaches the host.
#[derive(Clone, Copy, Debug)]
struct RootPropagation(Option<MsFlags>);

impl RootPropagation {
    fn of(config: &Config) -> Result<RootPropagation, ChildError> {
        match &config.rootfs_propagation {
            None => Ok(RootPropagation(None)),
            Some(name) => mount_options::propagation(name).map(|flags| RootPropagation(Some(flags))).ok_or_else(|| {
                refused(
                    ChildStep::Mounts,
                    format!("rootfs propagation {name:?}: not one of (r)private, (r)shared, (r)slave, (r)unbindable"),
                )
            }),
        }
    }

    /// The change that cuts the new mount table from the host's.
    fn initial(self) -> MsFlags {
        match self.0 {
            Some(flags) if flags.contains(MsFlags::MS_SLAVE) => MsFlags::MS_REC | MsFlags::MS_SLAVE,
            _ => MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        }
    }

    /// Gives `/` the propagation asked for (private it already is).
    fn apply(self) -> Result<(), ChildError> {
        match self.0 {
            Some(flags) if !flags.contains(MsFlags::MS_PRIVATE) => mount_at(None, "/", None, flags, None)
                .map_err(failed(
                    ChildStep::Mounts,
                    format!("mount propagation {flags:?} of /"),
                )),
            _ => Ok(()),
        }
    }
}

/// Makes the root mount read-only (the mounts on it keep their own
/// flags: `/proc`, `/dev`, volumes).
pub(super) fn readonly_rootfs(config: &Config) -> Result<(), ChildError> {
    if !config.readonly_rootfs {
        return Ok(());
    }
    sys::mount_setattr_readonly(c"/", false)
        .map_err(failed(ChildStep::ReadonlyRootfs, "mount_setattr / read-only"))
}

/// `mount(2)` with the path types this module uses.
fn mount_at(
    source: Option<&str>,
    target: impl AsRef<Path>,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), Errno> {
    mount(source, target.as_ref(), fstype, flags, data)
}

/// Opens the rootfs once, through no symlink, binds a copy of its mount
/// tree onto it (`pivot_root` needs a mount point) and makes that copy the
/// working directory: everything after works from that descriptor, so a
/// rootfs path swapped for a symlink (to the host's `/`) midway fails the
/// launch instead of redirecting it.
fn enter_rootfs(rootfs: &Path) -> Result<(), ChildError> {
    let step = ChildStep::Rootfs;
    let shown = rootfs.display();
    if !rootfs.is_absolute() {
        return Err(refused(step, format!("rootfs {shown}: not an absolute path")));
    }
    let path = c_path(rootfs).map_err(failed(step, format!("rootfs {shown}")))?;
    let resolve = sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_MAGICLINKS;
    let dir = match sys::openat2(AT_FDCWD, &path, libc::O_PATH | libc::O_DIRECTORY, resolve) {
        Ok(dir) => dir,
        Err(Errno::ELOOP) => {
            return Err(refused(
                step,
                format!(
                    "rootfs {shown}: the path goes through a symlink, which could be swapped while \
                     cradle uses it; give the real path (readlink -f)"
                ),
            ))
        }
        Err(errno) => return Err(failed(step, format!("open the rootfs {shown}"))(errno)),
    };
    let tree = sys::open_tree_clone_fd(dir.as_fd())
        .map_err(failed(step, format!("open_tree of the rootfs {shown}")))?;
    sys::move_mount_onto(tree.as_fd(), dir.as_fd())
        .map_err(failed(step, format!("bind mount of the rootfs {shown}")))?;
    fchdir(&tree).map_err(failed(step, format!("chdir into the rootfs {shown}")))
}

/// The directory `name` of the rootfs (the working directory), made if
/// missing, opened as a mount point: resolved inside the rootfs, through no
/// symlink. A symlink there is refused: before the pivot it would be
/// followed on the host.
fn mount_point(name: &str) -> Result<OwnedFd, ChildError> {
    let step = ChildStep::Mounts;
    match mkdirat(AT_FDCWD, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(errno) => return Err(failed(step, format!("mkdir /{name} in the rootfs"))(errno)),
    }
    let path = c_path(Path::new(name)).map_err(failed(step, format!("/{name}")))?;
    let resolve = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_MAGICLINKS;
    match sys::openat2(AT_FDCWD, &path, libc::O_PATH | libc::O_DIRECTORY, resolve) {
        Ok(dir) => Ok(dir),
        Err(Errno::ELOOP) => Err(refused(step, format!("/{name} in the rootfs is a symlink"))),
        Err(Errno::ENOTDIR) => Err(refused(step, format!("/{name} in the rootfs is not a directory"))),
        Err(errno) => Err(failed(step, format!("open /{name} in the rootfs"))(errno)),
    }
}

/// Makes the working directory (the rootfs) `/`; the old root is detached.
fn pivot() -> Result<(), ChildError> {
    // pivot_root(".", ".") stacks the old root on top of the new one, where
    // a lazy unmount of "." takes it away: no directory for it is needed.
    pivot_root(".", ".").map_err(failed(ChildStep::Rootfs, "pivot_root into the rootfs"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(failed(ChildStep::Rootfs, "unmounting the old root"))?;
    chdir("/").map_err(failed(ChildStep::Rootfs, "chdir /"))
}

/// Makes the working directory (the rootfs) this process's root, leaving
/// the mount namespace it shares as it is.
fn chroot_into_rootfs() -> Result<(), ChildError> {
    chroot(".").map_err(failed(ChildStep::Rootfs, "chroot into the rootfs"))?;
    chdir("/").map_err(failed(ChildStep::Rootfs, "chdir /"))
}

/// A new proc at `target`.
fn mount_proc(target: &Path) -> Result<(), ChildError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_at(Some("proc"), target, Some("proc"), flags, None)
        .map_err(failed(ChildStep::Mounts, "mount /proc"))
}

/// A minimal `/dev` at `dev` (a directory of the rootfs, before the pivot):
/// a new tmpfs, opened once and checked to be that tmpfs, in which every
/// node, link and mount point is then made relative to its descriptor. A
/// rootfs whose `dev` is swapped for a symlink or another directory midway
/// cannot point any of it at the host. Returns the directory.
fn mount_dev() -> Result<OwnedFd, ChildError> {
    let step = ChildStep::Mounts;
    let point = mount_point("dev")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    mount_at(
        Some("tmpfs"),
        devices::fd_path(&point, ""),
        Some("tmpfs"),
        flags,
        Some("mode=755,size=65536k"),
    )
    .map_err(failed(step, "mount /dev"))?;
    // The descriptor of the mount point reaches the directory under the
    // tmpfs: resolve `dev` again, into the tmpfs, and check it is the one.
    let dir = devices::open_new_tmpfs(&mount_point("dev")?)?;
    for (name, major, minor) in devices::STANDARD {
        devices::make_standard_node(&dir, name, makedev(major, minor))?;
    }
    for (sub, fstype, flags, data) in [
        (
            "pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620",
        ),
        (
            "shm",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            "mode=1777,size=65536k",
        ),
    ] {
        mkdirat(&dir, sub, Mode::from_bits_truncate(0o755))
            .map_err(failed(step, format!("mkdir /dev/{sub}")))?;
        let target = devices::fd_path(&dir, sub);
        mount_at(Some(fstype), &target, Some(fstype), flags, Some(data))
            .map_err(failed(step, format!("mount /dev/{sub}")))?;
    }
    for (link, target) in [("ptmx", "pts/ptmx")].into_iter().chain(devices::LINKS) {
        symlinkat(target, &dir, link).map_err(failed(step, format!("symlink /dev/{link}")))?;
    }
    Ok(dir)
}

/// A read-only sysfs at `target`; in a user namespace that may not mount
/// one, the host's `/sys`, bound read-only.
fn mount_sys() -> Result<(), ChildError> {
    let step = ChildStep::Mounts;
    // The descriptor stays open as long as its path is used.
    let point = mount_point("sys")?;
    let target = devices::fd_path(&point, "");
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match mount_at(Some("sysfs"), &target, Some("sysfs"), flags, None) {
        Err(Errno::EPERM) => {}
        result => return result.map_err(failed(step, "mount /sys")),
    }
    let failure = || failed(step, "bind mount of the host's /sys");
    mount_at(
        Some("/sys"),
        &target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(failure())?;
    // The flags the host's mount has are locked in a user namespace: the
    // remount keeps them. It acts on the new mount, reached again by name.
    let mounted = mount_point("sys")?;
    mount_at(
        None,
        devices::fd_path(&mounted, ""),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
        None,
    )
    .map_err(failure())
}

fn c_path(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}
