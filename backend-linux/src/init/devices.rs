//! The device nodes of the container's `/dev`: the standard ones and the
//! config's, made relative to the descriptor of the new tmpfs, never by a
//! path through the rootfs. Where the kernel refuses `mknod` (a user
//! namespace), the host's node is bound onto an empty file instead.
//!
//! Whether the process may open a node is not decided here but by the
//! cgroup's device rules, which the parent wrote before the child runs.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fchmodat, fstat, makedev, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::sys::statfs::{fstatfs, TMPFS_MAGIC};
use nix::unistd::{fchownat, Gid, Uid};

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
    make_node(dir, name, SFlag::S_IFCHR, 0o666, device, &host, ChildStep::Mounts)
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
        };
        let device = makedev(u64::from(node.major), u64::from(node.minor));
        make_node(at, last, kind, node.mode & 0o7777, device, &node.path, step)?;
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

/// `mknod` of `name` in `dir` with mode `mode` (the umask does not apply:
/// the mode is set again); where the kernel refuses it (a user
/// namespace), an empty file with the host's node at `host` bound onto it.
fn make_node(
    dir: &OwnedFd,
    name: &str,
    kind: SFlag,
    mode: u32,
    device: libc::dev_t,
    host: &Path,
    step: ChildStep,
) -> Result<(), ChildError> {
    let shown = host.display();
    let perm = Mode::from_bits_truncate(mode);
    match mknodat(dir, name, kind, perm, device) {
        // The node was made by us in a tmpfs only this process can see:
        // nothing can have swapped it for a symlink.
        Ok(()) => fchmodat(dir, name, perm, FchmodatFlags::FollowSymlink)
            .map_err(failed(step, format!("chmod {shown}"))),
        Err(Errno::EPERM) => {
            let flags =
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
            drop(
                openat(dir, name, flags, perm)
                    .map_err(failed(step, format!("create {shown} to bind onto")))?,
            );
            mount(
                Some(host),
                &fd_path(dir, name),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(failed(step, format!("bind mount of the host's {shown}")))
        }
        Err(errno) => Err(failed(step, format!("mknod {shown}"))(errno)),
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
