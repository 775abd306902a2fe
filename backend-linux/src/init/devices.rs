//! The device nodes of the container's `/dev`: the standard ones and the
//! config's, made relative to the descriptor of `/dev` (cradle's new tmpfs,
//! or whatever `/dev` an OCI mount table left), never by a path through the
//! rootfs. Where the kernel refuses `mknod` (a user namespace), the host's
//! node is bound onto an empty file instead. An entry already at a node's
//! name is replaced, unless something is mounted on it: the mount table
//! put that there.
//!
//! Whether the process may open a node is not decided here but by the
//! cgroup's device rules, which the parent wrote before the child runs.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, fstatat, makedev, mkdirat, mknodat, Mode, SFlag};
use nix::sys::statfs::{fstatfs, TMPFS_MAGIC};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use cradle_core::confinement::{DeviceKind, DeviceNode};
use cradle_core::{ChildError, ChildStep};

use super::{failed, refused};

/// The character devices every container's `/dev` has: name, major, minor.
pub(super) const STANDARD: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The symlinks every `/dev` gets beside `ptmx`: link, target.
pub(super) const LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// What [`make_node`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placed {
    /// Made the node (or bound the host's onto a file it made).
    Made,
    /// Left what the mount table mounted at the name.
    Kept,
}

/// Fills `dev`, the `/dev` an OCI mount table left (a directory of the
/// rootfs), as runc does: the standard nodes, the config's, `ptmx` as a
/// link to `pts/ptmx` (unless the config has a `/dev/ptmx` node), and the
/// [`LINKS`], which are kept where the image has an entry of that name.
pub(super) fn populate(dev: &OwnedFd, nodes: &[DeviceNode]) -> Result<(), ChildError> {
    let step = ChildStep::Devices;
    for (name, major, minor) in STANDARD {
        make_node(
            dev,
            name,
            SFlag::S_IFCHR,
            0o666,
            makedev(major, minor),
            &Path::new("/dev").join(name),
            step,
        )?;
    }
    make_nodes(dev, nodes)?;
    let ptmx = Path::new("/dev/ptmx");
    if !nodes.iter().any(|node| node.path == ptmx) && clear_the_way(dev, "ptmx", ptmx, step)? == Placed::Made
    {
        symlinkat("pts/ptmx", dev, "ptmx").map_err(failed(step, "symlink /dev/ptmx"))?;
    }
    for (link, target) in LINKS {
        match symlinkat(target, dev, link) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err(failed(step, format!("symlink /dev/{link}"))(errno)),
        }
    }
    Ok(())
}

/// Opens the tmpfs just mounted on `dev` (an `O_PATH` descriptor of it,
/// resolved again after the mount) and checks that it is that tmpfs: on a
/// tmpfs of its own (another device than the rootfs's), and empty.
/// Anything else means `dev` was swapped after the mount, and nothing is
/// made.
pub(super) fn open_new_tmpfs(dev: &OwnedFd) -> Result<OwnedFd, ChildError> {
    let step = ChildStep::Mounts;
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY;
    let dir = openat(dev, ".", flags, Mode::empty()).map_err(failed(step, "open the new /dev"))?;
    let on_tmpfs = fstatfs(&dir)
        .map_err(failed(step, "statfs of the new /dev"))?
        .filesystem_type()
        == TMPFS_MAGIC;
    let stat = fstat(&dir).map_err(failed(step, "stat of the new /dev"))?;
    let rootfs = nix::sys::stat::stat(".").map_err(failed(step, "stat of the rootfs"))?;
    // An empty directory has two links: its entry and its own `.`.
    if !on_tmpfs || stat.st_dev == rootfs.st_dev || stat.st_nlink != 2 {
        return Err(refused(
            step,
            "the rootfs's dev changed while /dev was mounted on it (a symlink or rename race)",
        ));
    }
    Ok(dir)
}

/// A path that reaches `name` in the directory `dir` (or `dir` itself, for
/// an empty name) through its descriptor, for the calls that take no
/// directory fd (`mount`).
pub(super) fn fd_path(dir: &OwnedFd, name: &str) -> PathBuf {
    let fd = format!("/proc/self/fd/{}", dir.as_raw_fd());
    PathBuf::from(if name.is_empty() {
        fd
    } else {
        format!("{fd}/{name}")
    })
}

/// The standard character device `name` in `dir`.
pub(super) fn make_standard_node(dir: &OwnedFd, name: &str, device: libc::dev_t) -> Result<(), ChildError> {
    let host = Path::new("/dev").join(name);
    make_node(dir, name, SFlag::S_IFCHR, 0o666, device, &host, ChildStep::Mounts).map(drop)
}

/// The config's device nodes, under `dev` (`/dev/net/tun` makes `net` and
/// then `tun`), owned as the config says.
pub(super) fn make_nodes(dev: &OwnedFd, nodes: &[DeviceNode]) -> Result<(), ChildError> {
    let step = ChildStep::Devices;
    for node in nodes {
        let shown = node.path.display();
        let names = relative_names(&node.path)
            .ok_or_else(|| refused(step, format!("device node {shown} is not under /dev")))?;
        let Some((last, parents)) = names.split_last() else {
            return Err(refused(step, format!("device node {shown} is /dev itself")));
        };
        let mut holder: Option<OwnedFd> = None;
        for name in parents {
            let at = holder.as_ref().unwrap_or(dev);
            match mkdirat(at, name.as_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(errno) => return Err(failed(step, format!("mkdir for {shown}"))(errno)),
            }
            let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY;
            let next = openat(at, name.as_str(), flags, Mode::empty())
                .map_err(failed(step, format!("open the directory of {shown}")))?;
            holder = Some(next);
        }
        let at = holder.as_ref().unwrap_or(dev);
        let kind = match node.kind {
            DeviceKind::Char => SFlag::S_IFCHR,
            DeviceKind::Block => SFlag::S_IFBLK,
            DeviceKind::Fifo => SFlag::S_IFIFO,
        };
        let device = makedev(u64::from(node.major), u64::from(node.minor));
        if make_node(at, last, kind, node.mode & 0o7777, device, &node.path, step)? == Placed::Kept {
            continue;
        }
        fchownat(
            at,
            last.as_str(),
            Some(Uid::from_raw(node.uid)),
            Some(Gid::from_raw(node.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(failed(step, format!("chown {shown}")))?;
    }
    Ok(())
}

/// The names of `path` below `/dev`, refusing `..` and anything that is
/// not under `/dev`.
fn relative_names(path: &Path) -> Option<Vec<String>> {
    let rest = path.strip_prefix("/dev").ok()?;
    rest.components()
        .map(|component| match component {
            Component::Normal(name) => name.to_str().map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// `mknod` of `name` in `dir` with mode `mode` exactly (the umask does
/// not apply); where the kernel refuses it (a user namespace), an empty
/// file with the host's node at `host` bound onto it. An entry in the way
/// is replaced (see [`clear_the_way`]).
fn make_node(
    dir: &OwnedFd,
    name: &str,
    kind: SFlag,
    mode: u32,
    device: libc::dev_t,
    host: &Path,
    step: ChildStep,
) -> Result<Placed, ChildError> {
    let shown = host.display();
    let perm = Mode::from_bits_truncate(mode);
    let mut result = mknod_exact(dir, name, kind, perm, device);
    if result == Err(Errno::EEXIST) {
        if clear_the_way(dir, name, host, step)? == Placed::Kept {
            return Ok(Placed::Kept);
        }
        result = mknod_exact(dir, name, kind, perm, device);
    }
    match result {
        Ok(()) => Ok(Placed::Made),
        Err(Errno::EPERM) => bind_host_node(dir, name, perm, host, step),
        Err(errno) => Err(failed(step, format!("mknod {shown}"))(errno)),
    }
}

/// `mknodat` with the umask cleared for the call, so that the node has
/// `perm` from the start: a `chmod` after it would follow whatever a race
/// put at the name in a `/dev` of the image's (a symlink to the host's
/// files, before the pivot). The init is single-threaded: nothing else
/// sees the umask change.
fn mknod_exact(dir: &OwnedFd, name: &str, kind: SFlag, perm: Mode, device: libc::dev_t) -> Result<(), Errno> {
    let umask = nix::sys::stat::umask(Mode::empty());
    let result = mknodat(dir, name, kind, perm, device);
    nix::sys::stat::umask(umask);
    result
}

/// Binds the host's node `host` onto a new empty file `name` in `dir`,
/// through the descriptor of the file made (no path is looked up again).
fn bind_host_node(
    dir: &OwnedFd,
    name: &str,
    perm: Mode,
    host: &Path,
    step: ChildStep,
) -> Result<Placed, ChildError> {
    let shown = host.display();
    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    let mut created = openat(dir, name, flags, perm);
    if created.as_ref().err() == Some(&Errno::EEXIST) {
        if clear_the_way(dir, name, host, step)? == Placed::Kept {
            return Ok(Placed::Kept);
        }
        created = openat(dir, name, flags, perm);
    }
    let created = created.map_err(failed(step, format!("create {shown} to bind onto")))?;
    mount(
        Some(host),
        &fd_path(&created, ""),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map(|()| Placed::Made)
    .map_err(failed(step, format!("bind mount of the host's {shown}")))
}

/// Removes the entry at `name` in `dir` so that a node or link can be made
/// there, unless something is mounted on it (its device differs from the
/// directory's): that, the mount table put there, and it is kept.
fn clear_the_way(dir: &OwnedFd, name: &str, shown: &Path, step: ChildStep) -> Result<Placed, ChildError> {
    let shown = shown.display();
    let entry = match fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(entry) => entry,
        Err(Errno::ENOENT) => return Ok(Placed::Made),
        Err(errno) => return Err(failed(step, format!("stat {shown}"))(errno)),
    };
    let dir_stat = fstat(dir).map_err(failed(step, format!("stat the directory of {shown}")))?;
    if entry.st_dev != dir_stat.st_dev {
        return Ok(Placed::Kept);
    }
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(Placed::Made),
        Err(Errno::EBUSY) => Ok(Placed::Kept),
        Err(errno) => Err(failed(step, format!("removing what is at {shown}"))(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_paths_stay_under_dev() {
        assert_eq!(
            relative_names(Path::new("/dev/net/tun")),
            Some(vec!["net".to_owned(), "tun".to_owned()])
        );
        assert_eq!(
            relative_names(Path::new("/dev/fuse")),
            Some(vec!["fuse".to_owned()])
        );
        assert_eq!(relative_names(Path::new("/dev/../etc/shadow")), None);
        assert_eq!(relative_names(Path::new("/etc/shadow")), None);
        assert_eq!(relative_names(Path::new("/device")), None);
    }
}
