//! Paths inside the rootfs, resolved before the pivot as the container
//! will see them after it: a symlink in the image to `/etc`, or to
//! `/../../etc`, means the rootfs's `/etc`, never the host's
//! (`openat2(RESOLVE_IN_ROOT)`). What is missing on the way is made, each
//! piece in the directory just resolved, by descriptor.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstat, mkdirat, Mode};

use cradle_core::{ChildError, ChildStep};

use super::{failed, io_failed, refused};
use crate::sys;

/// What to make at the end of a path that is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Leaf {
    /// A directory (a mount point for a directory or a filesystem).
    Dir,
    /// An empty file (a mount point for a file).
    File,
}

/// How often a lookup that raced with a rename is tried again.
const RETRIES: usize = 16;

/// Opens `path` (absolute, as the container names it) inside `root` as an
/// `O_PATH` descriptor, making the directories missing on the way and the
/// last entry as `leaf`, with errors at `step`. A path through a dangling
/// symlink is refused: what it names cannot be made safely.
pub(super) fn open_or_make(
    root: BorrowedFd<'_>,
    path: &Path,
    leaf: Leaf,
    step: ChildStep,
) -> Result<OwnedFd, ChildError> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(refused(step, format!("{shown} is not an absolute path")));
    }
    let mut resolved = root
        .try_clone_to_owned()
        .map_err(io_failed(step, "dup of the rootfs"))?;
    let mut prefix = PathBuf::from(".");
    let parts: Vec<Component<'_>> = path.components().collect();
    for (index, part) in parts.iter().enumerate() {
        let name = match part {
            Component::Normal(name) => Some(*name),
            Component::ParentDir => None,
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
        };
        prefix.push(part.as_os_str());
        match open(root, &prefix) {
            Ok(fd) => resolved = fd,
            Err(Errno::ENOENT) => {
                let Some(name) = name else {
                    return Err(failed(step, format!("resolving {shown} in the rootfs"))(
                        Errno::ENOENT,
                    ));
                };
                let last = index + 1 == parts.len();
                make(resolved.as_fd(), name, if last { leaf } else { Leaf::Dir }).map_err(failed(
                    step,
                    format!("making {} in the rootfs", prefix_shown(&prefix)),
                ))?;
                resolved = match open(root, &prefix) {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT) => {
                        return Err(refused(
                            step,
                            format!(
                                "{shown}: {} in the rootfs is a symlink to a missing path",
                                prefix_shown(&prefix)
                            ),
                        ))
                    }
                    Err(errno) => {
                        return Err(failed(
                            step,
                            format!("opening {} in the rootfs", prefix_shown(&prefix)),
                        )(errno))
                    }
                };
            }
            Err(errno) => {
                return Err(failed(
                    step,
                    format!("opening {} in the rootfs", prefix_shown(&prefix)),
                )(errno))
            }
        }
    }
    Ok(resolved)
}

/// Whether `fd` is `root` itself (the same directory of the same
/// filesystem): a mount there would cover the rootfs.
pub(super) fn is_root(root: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    let (root, fd) = (fstat(root)?, fstat(fd)?);
    Ok(root.st_dev == fd.st_dev && root.st_ino == fd.st_ino)
}

/// `prefix` (`./a/b`) as the container names it (`/a/b`).
fn prefix_shown(prefix: &Path) -> String {
    let relative = prefix.strip_prefix(".").unwrap_or(prefix);
    Path::new("/").join(relative).display().to_string()
}

/// `openat2(root, path, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`,
/// tried again when the kernel saw a rename race (`EAGAIN`).
pub(super) fn open(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let resolve = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS;
    let mut result = Err(Errno::EAGAIN);
    for _ in 0..RETRIES {
        result = sys::openat2(root, &path, libc::O_PATH, resolve);
        if !matches!(result, Err(Errno::EAGAIN)) {
            break;
        }
    }
    result
}

/// Makes `name` in `dir` as `leaf`; one already there (made by a race, or
/// a dangling symlink the caller then finds) is not an error.
fn make(dir: BorrowedFd<'_>, name: &OsStr, leaf: Leaf) -> Result<(), Errno> {
    let result = match leaf {
        Leaf::Dir => mkdirat(dir, name, Mode::from_bits_truncate(0o755)),
        Leaf::File => {
            let flags =
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
            openat(dir, name, flags, Mode::from_bits_truncate(0o644)).map(drop)
        }
    };
    match result {
        Err(Errno::EEXIST) => Ok(()),
        result => result,
    }
}
