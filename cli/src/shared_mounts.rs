//! The mounts of a container without a mount namespace of its own (an OCI
//! bundle that lists none): its child makes them in this process's mount
//! namespace, where they outlive it. All of them are below one bind mount
//! of the rootfs, which the child stacks on the rootfs first; detaching
//! that bind (`MNT_DETACH`) takes every mount below it along.
//!
//! What finds the bind is recorded before the launch, in the container's
//! state: the rootfs, the mount it was on then, and the namespace. A mount
//! stacked on that mount at the rootfs since is the container's, as is
//! whatever is stacked on that one; the mount the rootfs was on, and what
//! was below the rootfs before, are not touched.

use std::fs;
use std::os::fd::{AsFd, AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use cradle_core::{Config, NamespaceKind};
use nix::fcntl::{open, OFlag};
use nix::mount::{umount2, MntFlags};
use nix::sys::stat::Mode;
use rustix::fs::{statx, AtFlags, StatxFlags};
use serde::{Deserialize, Serialize};

use crate::error::CliError;

const MOUNTINFO: &str = "/proc/self/mountinfo";
const OWN_NAMESPACE: &str = "/proc/self/ns/mnt";
/// More mounts stacked on the rootfs than this is no container's doing.
const STACK_BOUND: usize = 64;

/// Where a container's mounts in the caller's namespace are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SharedMounts {
    /// The rootfs, absolute and through no symlink: the mount point that
    /// `/proc/self/mountinfo` gives the child's bind.
    pub(crate) rootfs: PathBuf,
    /// The id of the mount the rootfs was on before the launch: the
    /// child's bind is stacked on it.
    pub(crate) under: u64,
    /// The mount namespace (its inode): where the mounts are.
    pub(crate) namespace: u64,
}

impl SharedMounts {
    /// What a launch of `config` will mount in this process's mount
    /// namespace: nothing with a mount namespace (new or joined) or
    /// without a rootfs.
    pub(crate) fn planned(config: &Config) -> Result<Option<SharedMounts>, CliError> {
        if config.has_namespace(NamespaceKind::Mount) {
            return Ok(None);
        }
        let Some(rootfs) = &config.rootfs else {
            return Ok(None);
        };
        let rootfs = fs::canonicalize(rootfs).map_err(CliError::file(rootfs))?;
        let under = mount_id(open_dir(&rootfs)?.as_fd(), &rootfs)?;
        Ok(Some(SharedMounts {
            rootfs,
            under,
            namespace: own_namespace()?,
        }))
    }

    /// Whether this process can reach the mounts of container `id`: in
    /// their mount namespace, yes; with that namespace gone (and its mounts
    /// with it), no, and there is nothing to detach; with it held by
    /// another process, an error naming that process.
    pub(crate) fn reachable(&self, id: &str) -> Result<bool, CliError> {
        if own_namespace()? == self.namespace {
            return Ok(true);
        }
        match holder_of(self.namespace) {
            Some(pid) => Err(CliError::Unreachable {
                id: id.to_owned(),
                reason: format!(
                    "its mounts below {} are in mount namespace mnt:[{}], not this cradle's: delete it from there \
                     (nsenter --mount=/proc/{pid}/ns/mnt)",
                    self.rootfs.display(),
                    self.namespace
                ),
            }),
            None => Ok(false),
        }
    }

    /// Detaches the container `id`'s mounts, the topmost first, each with
    /// every mount below it (see [`reachable`](SharedMounts::reachable)).
    pub(crate) fn remove(&self, id: &str) -> Result<(), CliError> {
        if !self.reachable(id)? {
            return Ok(());
        }
        for _ in 0..STACK_BOUND {
            let text = fs::read_to_string(MOUNTINFO).map_err(CliError::file(MOUNTINFO))?;
            let table = parse_mountinfo(&text);
            let Some(top) = top_of_stack(&table, self.under, &self.rootfs) else {
                return Ok(());
            };
            // The rootfs reaches the topmost mount on it; unmounting it
            // through this descriptor unmounts that one and no other.
            let dir = open_dir(&self.rootfs)?;
            let visible = mount_id(dir.as_fd(), &self.rootfs)?;
            if visible != top {
                return Err(CliError::Unreachable {
                    id: id.to_owned(),
                    reason: format!(
                        "its mount {top} on {} is hidden under mount {visible}, which is not the container's",
                        self.rootfs.display()
                    ),
                });
            }
            let by_descriptor = format!("/proc/self/fd/{}", dir.as_raw_fd());
            umount2(by_descriptor.as_str(), MntFlags::MNT_DETACH)
                .map_err(|errno| CliError::file(&self.rootfs)(errno.into()))?;
            tracing::debug!(id, mount = top, rootfs = %self.rootfs.display(), "detached the container's mount");
        }
        Err(CliError::Unreachable {
            id: id.to_owned(),
            reason: format!(
                "more than {STACK_BOUND} mounts are stacked on {}: none is detached past those",
                self.rootfs.display()
            ),
        })
    }
}

/// `path`, a directory, opened to name it: through no symlink at its end.
fn open_dir(path: &Path) -> Result<OwnedFd, CliError> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    open(path, flags, Mode::empty()).map_err(|errno| CliError::file(path)(errno.into()))
}

/// The id of the mount `dir` is on, as `mountinfo` numbers it.
fn mount_id(dir: impl AsFd, path: &Path) -> Result<u64, CliError> {
    statx(dir, c"", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)
        .map(|stat| stat.stx_mnt_id)
        .map_err(|errno| CliError::file(path)(errno.into()))
}

/// The inode of this process's mount namespace.
fn own_namespace() -> Result<u64, CliError> {
    fs::metadata(OWN_NAMESPACE)
        .map(|metadata| metadata.ino())
        .map_err(CliError::file(OWN_NAMESPACE))
}

/// A process in the mount namespace `namespace`, if one is left.
fn holder_of(namespace: u64) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let metadata = fs::metadata(entry.path().join("ns/mnt")).ok()?;
        (metadata.ino() == namespace).then_some(pid)
    })
}

/// One line of `mountinfo`: the fields that place a mount.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MountEntry {
    id: u64,
    parent: u64,
    mount_point: PathBuf,
}

/// The mounts of a `mountinfo` (proc(5): `id parent major:minor root
/// mount_point ...`); a line that does not parse is skipped.
fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let id = fields.next()?.parse().ok()?;
            let parent = fields.next()?.parse().ok()?;
            let mount_point = fields.nth(2)?;
            Some(MountEntry {
                id,
                parent,
                mount_point: PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(mount_point))),
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\012` for a
/// newline, `\134` for a backslash).
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let octal = bytes
            .get(at + 1..at + 4)
            .filter(|digits| byte == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)))
            .and_then(|digits| u8::from_str_radix(std::str::from_utf8(digits).ok()?, 8).ok());
        match octal {
            Some(value) => {
                out.push(value);
                at += 4;
            }
            None => {
                out.push(byte);
                at += 1;
            }
        }
    }
    out
}

/// The topmost of the mounts stacked at `path` on the mount `under`: the
/// one mounted there on `under`, then each mounted there on the one before.
fn top_of_stack(table: &[MountEntry], under: u64, path: &Path) -> Option<u64> {
    let on = |parent: u64| {
        table
            .iter()
            .find(|entry| entry.parent == parent && entry.mount_point == path)
            .map(|entry| entry.id)
    };
    let mut top = on(under)?;
    // Bounded by the table: a loop of parents (which the kernel never
    // shows) ends there.
    for _ in 0..table.len() {
        match on(top) {
            Some(next) => top = next,
            None => break,
        }
    }
    Some(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 0:21 / / rw - ext4 /dev/vda rw
40 22 0:30 / /tmp rw - tmpfs tmpfs rw
50 40 0:30 /b/rootfs /tmp/b/rootfs rw - tmpfs tmpfs rw
51 50 0:31 / /tmp/b/rootfs/proc rw - proc proc rw
52 50 0:32 / /tmp/b/rootfs rw - tmpfs tmpfs rw
60 40 0:33 / /tmp/b/rootfs/data rw - tmpfs tmpfs rw
70 40 0:34 / /tmp/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn the_top_of_the_stack_on_the_recorded_mount_is_found() {
        let table = parse_mountinfo(TABLE);
        let rootfs = Path::new("/tmp/b/rootfs");
        // 50 (the bind) is on 40, 52 on 50: 52 is detached first, then 50.
        assert_eq!(top_of_stack(&table, 40, rootfs), Some(52));
        let without_52: Vec<_> = table.iter().filter(|entry| entry.id != 52).cloned().collect();
        assert_eq!(top_of_stack(&without_52, 40, rootfs), Some(50));
        // 60 was below the rootfs on 40 before: not stacked on it.
        let only_60: Vec<_> = table.iter().filter(|entry| entry.id == 60).cloned().collect();
        assert_eq!(top_of_stack(&only_60, 40, rootfs), None);
        // Nothing stacked on another mount, nor on a path below the rootfs.
        assert_eq!(top_of_stack(&table, 22, rootfs), None);
        assert_eq!(top_of_stack(&table, 40, Path::new("/tmp/b")), None);
    }

    #[test]
    fn mount_points_are_unescaped_and_bad_lines_skipped() {
        let table = parse_mountinfo(&format!("{TABLE}garbage\n71 x 0:1 / /y rw\n"));
        assert_eq!(table.len(), 7);
        assert_eq!(table[6].mount_point, Path::new("/tmp/with space"));
        assert_eq!(unescape(r"a\134b\012c\9"), b"a\\b\nc\\9");
    }
}
