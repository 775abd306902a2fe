//! An OCI bundle's mount table (`Config::default_mounts` off): cradle adds
//! no mount of its own, and each of the config's mounts is made inside the
//! rootfs before the pivot, in order.
//!
//! Every mount is made detached first, with its flags set there: a new
//! filesystem by `fsopen`/`fsmount`, a bind as a copy of the host's tree
//! (`open_tree`, flags by `mount_setattr`, recursive for `rbind`). It is
//! then attached by descriptor (`move_mount`) onto its destination,
//! resolved inside the rootfs ([`in_root`]); its propagation and
//! recursive attributes are changed once it is attached, through the same
//! descriptor. No path is looked up again after it is resolved, so a
//! rename in the image midway cannot move a mount elsewhere.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::fstat;

use cradle_core::config::Mount;
use cradle_core::{ChildError, ChildStep};

use super::in_root::{self, Leaf};
use super::mount_options::{self, MountOptions};
use super::{cgroup_mount, failed, io_failed, refused};
use crate::sys;

const STEP: ChildStep = ChildStep::Mounts;

/// The config's mounts, with relative bind sources made absolute while
/// the working directory is still the caller's, which they are named
/// from (before the rootfs is entered, where they would be looked up
/// instead).
#[derive(Debug)]
pub(super) struct MountTable<'a> {
    entries: Vec<Entry<'a>>,
}

#[derive(Debug)]
struct Entry<'a> {
    mount: &'a Mount,
    options: MountOptions,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// A host path, copied as a detached tree (its submounts too for
    /// `rbind`) when its turn comes: still before the pivot, so the host
    /// path resolves, and in the table's order, so that the mounts are in
    /// `/proc/self/mountinfo` in the config's order as the spec asks.
    Bind(CString),
    /// A filesystem of this type.
    Filesystem(String),
}

impl<'a> MountTable<'a> {
    /// Parses `mounts` and copies their bind sources.
    pub(super) fn open(mounts: &'a [Mount]) -> Result<MountTable<'a>, ChildError> {
        let entries = mounts.iter().map(Entry::open).collect::<Result<_, _>>()?;
        Ok(MountTable { entries })
    }

    /// Whether a bind mount puts something (the host's `/dev`) on `/dev`:
    /// then, as with runc, no node or link is made there.
    pub(super) fn binds_dev(&self) -> bool {
        self.entries.iter().any(|entry| {
            matches!(entry.kind, Kind::Bind(_))
                && entry
                    .mount
                    .destination
                    .components()
                    .eq(Path::new("/dev").components())
        })
    }

    /// Makes every mount, in order, inside `root` (the rootfs).
    pub(super) fn mount_all(&self, root: BorrowedFd<'_>) -> Result<(), ChildError> {
        self.entries.iter().try_for_each(|entry| entry.mount(root))
    }
}

impl<'a> Entry<'a> {
    fn open(mount: &'a Mount) -> Result<Entry<'a>, ChildError> {
        let options = mount_options::parse(&mount.options);
        let shown = mount.destination.display();
        // A bind's copy gets its flags before it is attached (from the
        // attributes, where `remount` has none): the remount a bind needs
        // with mount(2) is done already.
        if options.flags.contains(MsFlags::MS_REMOUNT) && !options.is_bind() {
            return Err(refused(
                STEP,
                format!("mount on {shown}: `remount` changes a mount, which a mount table cannot name"),
            ));
        }
        let fstype = mount.fstype.as_deref();
        let kind = if options.is_bind() || fstype == Some("bind") {
            let Some(source) = &mount.source else {
                return Err(refused(STEP, format!("bind mount on {shown} without a source")));
            };
            let source = if source.is_relative() {
                std::env::current_dir()
                    .map_err(io_failed(
                        STEP,
                        format!("the working directory, for {}", source.display()),
                    ))?
                    .join(source)
            } else {
                source.clone()
            };
            let path = CString::new(source.as_os_str().as_bytes()).map_err(|_| {
                failed(STEP, format!("open_tree {} for {shown}", source.display()))(Errno::EINVAL)
            })?;
            Kind::Bind(path)
        } else {
            match fstype {
                Some(fstype) => Kind::Filesystem(fstype.to_owned()),
                None => {
                    return Err(refused(
                        STEP,
                        format!("mount on {shown} has no type and is not a bind mount"),
                    ))
                }
            }
        };
        Ok(Entry { mount, options, kind })
    }

    fn mount(&self, root: BorrowedFd<'_>) -> Result<(), ChildError> {
        let destination = &self.mount.destination;
        match &self.kind {
            Kind::Bind(source) => {
                let shown = destination.display();
                let recursive = self.options.flags.contains(MsFlags::MS_REC);
                let tree = sys::open_tree_clone(source, recursive).map_err(failed(
                    STEP,
                    format!("open_tree {} for {shown}", source.to_string_lossy()),
                ))?;
                let is_dir = fstat(&tree)
                    .map_err(failed(
                        STEP,
                        format!("stat of the source for {}", destination.display()),
                    ))?
                    .st_mode
                    & libc::S_IFMT
                    == libc::S_IFDIR;
                let target = destination_in(root, destination, if is_dir { Leaf::Dir } else { Leaf::File })?;
                set_attributes(tree.as_fd(), self.options.bind_change(), recursive, destination)?;
                attach(tree.as_fd(), target.as_fd(), destination)?;
                finish(tree.as_fd(), &self.options, destination)
            }
            Kind::Filesystem(fstype) if fstype == "cgroup" => {
                let target = destination_in(root, destination, Leaf::Dir)?;
                cgroup_mount::mount(target.as_fd(), destination, &self.options)
            }
            Kind::Filesystem(fstype) => {
                let target = destination_in(root, destination, Leaf::Dir)?;
                let source = self.mount.source.as_deref().map(Path::as_os_str);
                let tree = match new_filesystem(fstype, source, &self.options, destination) {
                    // A user namespace without a network namespace of its
                    // own may not mount a sysfs: the host's, read-only.
                    Err(error) if fstype == "sysfs" && error.errno == Some(Errno::EPERM as i32) => {
                        host_sysfs(&self.options, destination)?
                    }
                    result => result?,
                };
                attach(tree.as_fd(), target.as_fd(), destination)?;
                finish(tree.as_fd(), &self.options, destination)
            }
        }
    }
}

/// The destination `path` resolved (and made) inside `root`; the rootfs
/// itself is refused: a mount there would cover it.
fn destination_in(root: BorrowedFd<'_>, path: &Path, leaf: Leaf) -> Result<OwnedFd, ChildError> {
    let target = in_root::open_or_make(root, path, leaf, STEP)?;
    let shown = path.display();
    if in_root::is_root(root, target.as_fd()).map_err(failed(STEP, format!("stat of {shown}")))? {
        return Err(refused(
            STEP,
            format!("mount on {shown}: that is the rootfs itself"),
        ));
    }
    Ok(target)
}

/// A new detached mount of a `fstype` filesystem: `source`, the options'
/// superblock flags and data set one by one (as `mount(2)` passes its
/// comma-separated data), the mount attributes set by `fsmount`. Errors
/// name `destination` and carry the kernel's own message about the
/// option it refused, where it gave one.
pub(super) fn new_filesystem(
    fstype: &str,
    source: Option<&std::ffi::OsStr>,
    options: &MountOptions,
    destination: &Path,
) -> Result<OwnedFd, ChildError> {
    let shown = destination.display();
    let c_string = |text: &[u8]| {
        CString::new(text).map_err(|_| failed(STEP, format!("mount on {shown}"))(Errno::EINVAL))
    };
    let fs = sys::fsopen(&c_string(fstype.as_bytes())?)
        .map_err(failed(STEP, format!("mount of {fstype} on {shown}: fsopen")))?;
    let fail = |what: &str, errno: Errno| {
        kernel_failure(fs.as_fd(), format!("mount of {fstype} on {shown}: {what}"), errno)
    };
    if let Some(source) = source {
        sys::fsconfig_set(fs.as_fd(), c"source", Some(&c_string(source.as_bytes())?))
            .map_err(|errno| fail("fsconfig source", errno))?;
    }
    let flags = options.superblock_flags().map(|flag| (flag.to_owned(), None));
    let data = options.data.iter().map(|option| match option.split_once('=') {
        Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
        None => (option.clone(), None),
    });
    for (key, value) in flags.chain(data) {
        let c_key = c_string(key.as_bytes())?;
        let c_value = value
            .as_deref()
            .map(|value| c_string(value.as_bytes()))
            .transpose()?;
        sys::fsconfig_set(fs.as_fd(), &c_key, c_value.as_deref())
            .map_err(|errno| fail(&format!("fsconfig {key}"), errno))?;
    }
    sys::fsconfig_create(fs.as_fd()).map_err(|errno| fail("fsconfig create", errno))?;
    sys::fsmount(fs.as_fd(), options.attributes()).map_err(|errno| fail("fsmount", errno))
}

/// The host's `/sys` and every mount below it, with the options' flags.
fn host_sysfs(options: &MountOptions, destination: &Path) -> Result<OwnedFd, ChildError> {
    let tree = sys::open_tree_clone(c"/sys", true).map_err(failed(
        STEP,
        format!("open_tree of the host's /sys for {}", destination.display()),
    ))?;
    set_attributes(tree.as_fd(), options.bind_change(), true, destination)?;
    Ok(tree)
}

/// `mount_setattr` of `change` on `tree`, unless it changes nothing.
pub(super) fn set_attributes(
    tree: BorrowedFd<'_>,
    change: sys::MountChange,
    recursive: bool,
    destination: &Path,
) -> Result<(), ChildError> {
    if change.is_empty() {
        return Ok(());
    }
    sys::mount_setattr(tree, change, recursive).map_err(failed(
        STEP,
        format!("mount_setattr of the mount on {}", destination.display()),
    ))
}

/// Attaches the detached mount `tree` on `target`.
pub(super) fn attach(
    tree: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    destination: &Path,
) -> Result<(), ChildError> {
    sys::move_mount_onto(tree, target)
        .map_err(failed(STEP, format!("move_mount onto {}", destination.display())))
}

/// What is changed once the mount is attached: the recursive attributes
/// (`rro`...) and the propagation.
pub(super) fn finish(
    tree: BorrowedFd<'_>,
    options: &MountOptions,
    destination: &Path,
) -> Result<(), ChildError> {
    set_attributes(tree, options.recursive, true, destination)?;
    match options.propagation_change() {
        Some((change, recursive)) => set_attributes(tree, change, recursive, destination),
        None => Ok(()),
    }
}

/// The `ChildError` of a failed `fsconfig` or `fsmount`, with the
/// messages the kernel logged on the filesystem context `fs`.
fn kernel_failure(fs: BorrowedFd<'_>, what: String, errno: Errno) -> ChildError {
    let mut message = format!("{what}: {}", errno.desc());
    let mut buf = [0u8; 512];
    // Each read returns one message ("e ...", "w ...", "i ..."); ENODATA
    // once there are none left.
    for _ in 0..8 {
        match nix::unistd::read(fs, &mut buf) {
            Ok(n) if n > 0 => {
                let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                message.push_str(&format!(" ({})", text.trim_end()));
            }
            _ => break,
        }
    }
    ChildError {
        message,
        step: STEP,
        errno: Some(errno as i32),
    }
}
