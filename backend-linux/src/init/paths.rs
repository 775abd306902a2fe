//! Read-only and masked paths, each resolved once inside the container's
//! root and changed by descriptor: a path swapped for a symlink after its
//! resolution (by a process of a mount namespace joined, or of another
//! container sharing the image) cannot lead a mount elsewhere. (A
//! directory renamed away meanwhile takes the mount with it: whoever can
//! rename in the image can do that after the set-up as well.)

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{makedev, Mode};

use cradle_core::{ChildError, ChildStep, Config};

use super::mounts::open_dir;
use super::{failed, in_root, refused};
use crate::sys::{self, MountChange};

const STEP: ChildStep = ChildStep::Paths;

/// Makes the config's read-only paths read-only, then masks its masked
/// paths.
pub(super) fn paths(config: &Config) -> Result<(), ChildError> {
    let mut paths = Paths::default();
    for path in &config.readonly_paths {
        paths.make_readonly(path)?;
    }
    for path in &config.masked_paths {
        paths.mask(path)?;
    }
    Ok(())
}

/// What the paths are resolved in and masked with, each made once: the
/// root, the null device, and the empty read-only tmpfs of the first
/// directory masked.
#[derive(Default)]
struct Paths {
    root: Option<OwnedFd>,
    null: Option<OwnedFd>,
    empty_dir: Option<OwnedFd>,
}

impl Paths {
    /// Makes `path` read-only, with every mount below it (a missing path is
    /// skipped: images differ): a copy of its tree, made read-only while
    /// detached, is attached over it.
    fn make_readonly(&mut self, path: &Path) -> Result<(), ChildError> {
        let failure = |call: &str| failed(STEP, format!("read-only {}: {call}", path.display()));
        let Some(target) = self.resolve(path, "read-only")? else {
            return Ok(());
        };
        let tree = sys::open_tree_clone_fd(target.as_fd()).map_err(failure("open_tree"))?;
        let readonly = MountChange {
            set: libc::MOUNT_ATTR_RDONLY,
            ..MountChange::default()
        };
        sys::mount_setattr(tree.as_fd(), readonly, true).map_err(failure("mount_setattr"))?;
        sys::move_mount_onto(tree.as_fd(), target.as_fd()).map_err(failure("move_mount"))
    }

    /// Hides `path`: the null device over anything but a directory (a
    /// missing path is skipped), an empty read-only tmpfs over a
    /// directory. The first directory masked gets the tmpfs; the next ones
    /// get copies of its mount, read-only as it is: one superblock made,
    /// and torn down when the container ends, instead of one a directory.
    fn mask(&mut self, path: &Path) -> Result<(), ChildError> {
        let failure = |call: &str| failed(STEP, format!("masking {}: {call}", path.display()));
        let Some(target) = self.resolve(path, "masking")? else {
            return Ok(());
        };
        let kind = nix::sys::stat::fstat(&target).map_err(failure("fstat"))?.st_mode & libc::S_IFMT;
        let source = match (kind == libc::S_IFDIR, &self.empty_dir) {
            (false, _) => match &self.null {
                Some(null) => null,
                None => self.null.insert(null_device()?),
            },
            (true, Some(empty)) => empty,
            (true, None) => {
                let empty = empty_readonly_tmpfs().map_err(|(call, errno)| failure(call)(errno))?;
                sys::move_mount_onto(empty.as_fd(), target.as_fd()).map_err(failure("move_mount"))?;
                self.empty_dir = Some(empty);
                return Ok(());
            }
        };
        let tree = sys::open_tree_clone_fd(source.as_fd()).map_err(failure("open_tree"))?;
        sys::move_mount_onto(tree.as_fd(), target.as_fd()).map_err(failure("move_mount"))
    }

    /// `path`, opened (`O_PATH`) with its symlinks followed as `mount(2)`
    /// follows them, inside the root (the container's, entered), and no
    /// magic link, which could lead out of it where the container shares
    /// a pid namespace (tried again where the kernel saw a rename race);
    /// `None` where it does not exist.
    fn resolve(&mut self, path: &Path, what: &str) -> Result<Option<OwnedFd>, ChildError> {
        let root = match &self.root {
            Some(root) => root,
            None => self.root.insert(open_dir("/", STEP, "to resolve paths in")?),
        };
        match in_root::open(root.as_fd(), path) {
            Ok(target) => Ok(Some(target)),
            Err(Errno::ENOENT) => Ok(None),
            Err(errno) => Err(failed(STEP, format!("{what} {}: openat2", path.display()))(errno)),
        }
    }
}

/// A detached mount of a new tmpfs, read-only (its superblock and the
/// mount), empty for good; or the call that failed.
fn empty_readonly_tmpfs() -> Result<OwnedFd, (&'static str, Errno)> {
    let fs = sys::fsopen(c"tmpfs").map_err(|errno| ("fsopen(tmpfs)", errno))?;
    let set = |key: &CStr, value| sys::fsconfig_set(fs.as_fd(), key, value);
    set(c"source", Some(c"tmpfs")).map_err(|errno| ("fsconfig(source=tmpfs)", errno))?;
    set(c"ro", None).map_err(|errno| ("fsconfig(ro)", errno))?;
    sys::fsconfig_create(fs.as_fd()).map_err(|errno| ("fsconfig(create)", errno))?;
    sys::fsmount(fs.as_fd(), libc::MOUNT_ATTR_RDONLY).map_err(|errno| ("fsmount", errno))
}

/// The container's `/dev/null`, checked to be the null device (`c 1:3`),
/// not a symlink nor another file: a mask is a bind mount of it, made by
/// descriptor, so that a `/dev/null` the image (or a process of a mount
/// namespace joined) put there, a symlink to a `/proc` file say, is never
/// what is bound over a masked path (runc's CVE-2025-31133).
fn null_device() -> Result<OwnedFd, ChildError> {
    let null = nix::fcntl::open(
        "/dev/null",
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed(STEP, "open /dev/null"))?;
    let stat = nix::sys::stat::fstat(&null).map_err(failed(STEP, "stat /dev/null"))?;
    let is_char_device = stat.st_mode & libc::S_IFMT == libc::S_IFCHR;
    if !is_char_device || stat.st_rdev != makedev(1, 3) {
        return Err(refused(
            STEP,
            "/dev/null is not the null device (c 1:3): masks are bind mounts of it",
        ));
    }
    Ok(null)
}
