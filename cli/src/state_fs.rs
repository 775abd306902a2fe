//! The state root's file operations, safe against a planted symlink or a
//! root another user could write to.
//!
//! The root is opened once per command with `O_NOFOLLOW` and checked as ssh
//! checks `~/.ssh`: a directory, not a symlink, owned by the caller and not
//! writable by group or others. Everything below it is reached from that
//! directory fd (`openat`, `mkdirat`, `renameat2`, `unlinkat`), never by a
//! path, and no symlink is followed: what the check proved is what is used.
//! A file is written by `openat(O_CREAT|O_EXCL|O_NOFOLLOW)` of a temporary
//! name and swapped with the old one (`renameat2(RENAME_EXCHANGE)`).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{fstat, fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{geteuid, unlinkat, UnlinkatFlags};
// rustix makes the syscall itself: musl has no `renameat2` to call.
use rustix::fs::{renameat_with, RenameFlags};

use crate::error::CliError;

/// The largest state file read: a real one is a few kilobytes.
const MAX_FILE: u64 = 1 << 20;

/// Opens (with `create`, makes: `0700`, parents too) the state root and
/// checks it; `None` when it does not exist and `create` is not set.
pub(crate) fn open_root(root: &Path, create: bool) -> Result<Option<OwnedFd>, CliError> {
    // Without a trailing slash, which would make O_NOFOLLOW follow.
    let root: PathBuf = root.components().collect();
    let unsafe_root = |reason: String| CliError::UnsafeRoot {
        path: root.clone(),
        reason,
    };
    if create {
        match fs::DirBuilder::new().recursive(true).mode(0o700).create(&root) {
            Ok(()) => {}
            // A symlink to nowhere, or a file: reported below.
            Err(_) if fs::symlink_metadata(&root).is_ok() => {}
            Err(error) => return Err(CliError::file(&root)(error)),
        }
    }
    match fs::symlink_metadata(&root) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(unsafe_root(
                "is a symlink; give the directory it points to".to_owned(),
            ));
        }
        Ok(meta) if !meta.is_dir() => return Err(unsafe_root("is not a directory".to_owned())),
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
        Err(error) => return Err(CliError::file(&root)(error)),
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match nix::fcntl::open(&root, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ELOOP | Errno::ENOTDIR) => {
            return Err(unsafe_root("is a symlink or not a directory".to_owned()));
        }
        Err(Errno::ENOENT) if !create => return Ok(None),
        Err(errno) => return Err(CliError::file(&root)(errno.into())),
    };
    let stat = fstat(&fd).map_err(|errno| CliError::file(&root)(errno.into()))?;
    let me = geteuid().as_raw();
    if stat.st_uid != me {
        return Err(unsafe_root(format!(
            "is owned by uid {}, not by this user (uid {me}); give a directory of your own",
            stat.st_uid
        )));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(unsafe_root(format!(
            "is writable by group or others (mode {mode:04o}); chmod 700 it"
        )));
    }
    Ok(Some(fd))
}

fn flags_dir() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Opens the directory `name` in `dir`, not following a symlink.
pub(crate) fn open_dir_at(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    openat(dir, name, flags_dir(), Mode::empty())
}

/// The directory `name` in `dir`, made (mode `0700`) if missing.
pub(crate) fn open_or_make_dir_at(dir: BorrowedFd<'_>, name: &str) -> Option<OwnedFd> {
    match open_dir_at(dir, name) {
        Err(Errno::ENOENT) => match mkdir_at(dir, name) {
            Ok(()) | Err(Errno::EEXIST) => open_dir_at(dir, name).ok(),
            Err(_) => None,
        },
        opened => opened.ok(),
    }
}

/// Makes the directory `name` in `dir`, mode `0700`.
pub(crate) fn mkdir_at(dir: BorrowedFd<'_>, name: &str) -> Result<(), Errno> {
    mkdirat(dir, name, Mode::S_IRWXU)
}

/// Whether `name` in `dir` is a directory (a symlink is not).
pub(crate) fn is_dir_at(dir: BorrowedFd<'_>, name: &str) -> bool {
    fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

/// The inode of `name` in `dir`, not following a symlink.
pub(crate) fn inode_at(dir: BorrowedFd<'_>, name: &str) -> Result<u64, Errno> {
    fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).map(|stat| stat.st_ino)
}

/// The inode of an open file.
pub(crate) fn inode(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    fstat(fd).map(|stat| stat.st_ino)
}

/// Reads the regular file `name` in `dir`, not following a symlink.
pub(crate) fn read_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<Vec<u8>> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let file = File::from(openat(dir, name, flags, Mode::empty())?);
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
    }
    // Sized from the start: through `take`, std would probe with 32 bytes
    // and double, nine `read`s for a record.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(MAX_FILE)).unwrap_or(0) + 1);
    file.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "larger than 1 MiB"));
    }
    Ok(bytes)
}

/// Replaces `name` in `dir` with `bytes`: written to `temporary` (made
/// anew with `O_EXCL|O_NOFOLLOW`, whatever was there removed, a symlink
/// itself and not what it points to), then swapped with `name`
/// (`RENAME_EXCHANGE`) and the old file, now at `temporary`, removed; or,
/// with no `name` yet (or a filesystem that cannot swap), renamed to it.
///
/// Swapped, not renamed over `name`: ext4 (`auto_da_alloc`, its default)
/// writes a file back at once when it is renamed over another, so that a
/// power loss leaves the old content or the new one rather than an empty
/// file. That write-back gives the file its blocks, and removing the file
/// later (a foreground run's record, a few milliseconds on) frees them,
/// with `discard` a device request waited for: about 0.2 ms of a run here.
/// Records do not guard against a power loss (see the state module).
pub(crate) fn replace_at(dir: BorrowedFd<'_>, name: &str, temporary: &str, bytes: &[u8]) -> io::Result<()> {
    match unlinkat(dir, temporary, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => return Err(errno.into()),
    }
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut file = File::from(openat(dir, temporary, flags, Mode::from_bits_truncate(0o600))?);
    // No fsync: see the state module on what records guard against.
    let written = file.write_all(bytes);
    let replaced = written.and_then(|()| swap_in(dir, name, temporary));
    if replaced.is_err() {
        let _ = unlinkat(dir, temporary, UnlinkatFlags::NoRemoveDir);
    }
    replaced
}

/// Puts the file `temporary` in place of `name` (see [`replace_at`]); on
/// success `temporary` no longer exists, and neither does the old file.
fn swap_in(dir: BorrowedFd<'_>, name: &str, temporary: &str) -> io::Result<()> {
    // Refused as a rename over it refuses it (nobody else writes in the
    // caller's own directory, so it does not become one meanwhile).
    if is_dir_at(dir, name) {
        return Err(Errno::EISDIR.into());
    }
    match renameat_with(dir, temporary, dir, name, RenameFlags::EXCHANGE) {
        Ok(()) => {}
        // No `name` yet; or a filesystem that cannot swap (EINVAL), or a
        // kernel or sandbox without `renameat2` (ENOSYS).
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            return renameat(dir, temporary, dir, name).map_err(io::Error::from)
        }
        Err(errno) => return Err(errno.into()),
    }
    // The new file is in place. An old one left at `temporary` is removed
    // by the next write, or with the directory.
    let _ = unlinkat(dir, temporary, UnlinkatFlags::NoRemoveDir);
    Ok(())
}

/// Writes `bytes` to `name`, a new file in `dir` (`O_EXCL|O_NOFOLLOW`),
/// for a directory nobody else can see yet: in one that others read,
/// [`replace_at`] makes the file appear whole.
pub(crate) fn create_at(dir: BorrowedFd<'_>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut file = File::from(openat(dir, name, flags, Mode::from_bits_truncate(0o600))?);
    // No fsync: see the state module on what records guard against.
    let written = file.write_all(bytes);
    if written.is_err() {
        let _ = unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
    }
    written
}

/// Makes the directory `name` in `parent`, empty and mode `0700`: the
/// spare directory `spare` that [`retire_dir_at`] kept, renamed, if there
/// is one; else a new one.
///
/// On a filesystem of blocks (ext4), a new directory is given a block, and
/// removing it frees that block; with `discard`, a device request waited
/// for by the last close of the removed directory (about 0.05 to 0.25 ms
/// here). A spare's block is used again instead.
pub(crate) fn take_or_make_dir_at(parent: BorrowedFd<'_>, spare: &str, name: &str) -> Result<(), Errno> {
    match renameat_with(parent, spare, parent, name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // No spare (ENOENT), or another command took it first: a new one.
        Err(_) => mkdir_at(parent, name),
    }
}

/// Removes everything in `dir` (files and empty directories; nothing is
/// followed), then `name`, which is `dir`, from `parent`: kept as the
/// spare directory `spare` (see [`take_or_make_dir_at`]) unless there is
/// one already, else removed.
pub(crate) fn retire_dir_at(
    parent: BorrowedFd<'_>,
    name: &str,
    dir: BorrowedFd<'_>,
    spare: &str,
) -> io::Result<()> {
    empty_dir(dir)?;
    match renameat_with(parent, name, parent, spare, RenameFlags::NOREPLACE) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        // A spare is there already (or the filesystem cannot say so).
        Err(_) => remove_empty_dir_at(parent, name),
    }
}

/// Removes everything in `dir` (files and empty directories; nothing is
/// followed), then `name`, which is `dir`, from `parent`.
pub(crate) fn remove_dir_at(parent: BorrowedFd<'_>, name: &str, dir: BorrowedFd<'_>) -> io::Result<()> {
    empty_dir(dir)?;
    remove_empty_dir_at(parent, name)
}

/// Removes the files and empty directories in `dir`, following nothing.
fn empty_dir(dir: BorrowedFd<'_>) -> io::Result<()> {
    let listing = nix::dir::Dir::from_fd(openat(dir, ".", flags_dir(), Mode::empty())?)?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry?;
        let entry_name = entry.file_name().to_bytes();
        if entry_name != b"." && entry_name != b".." {
            names.push(entry_name.to_vec());
        }
    }
    for entry_name in names {
        let entry_name = OsStr::from_bytes(&entry_name);
        match unlinkat(dir, entry_name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(Errno::EISDIR) => unlinkat(dir, entry_name, UnlinkatFlags::RemoveDir)?,
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}

fn remove_empty_dir_at(parent: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    match unlinkat(parent, name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}

/// The names in the directory `dir`, but `.` and `..`, that are UTF-8.
pub(crate) fn names(dir: BorrowedFd<'_>) -> io::Result<Vec<String>> {
    let listing = nix::dir::Dir::from_fd(openat(dir, ".", flags_dir(), Mode::empty())?)?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry?;
        if let Ok(name) = entry.file_name().to_str() {
            if name != "." && name != ".." {
                names.push(name.to_owned());
            }
        }
    }
    Ok(names)
}

/// The default state root of a caller `uid` that is not root:
/// `$XDG_RUNTIME_DIR/cradle` (absolute); else `/run/user/<uid>/cradle` when
/// that runtime directory exists; else `$HOME/.local/state/cradle`; else
/// (no usable `HOME`) `/run/user/<uid>/cradle`, which then fails to be made
/// and says so. Whichever it is, [`open_root`] checks it like any other.
pub(crate) fn user_root(uid: u32) -> PathBuf {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
    };
    if let Some(dir) = absolute("XDG_RUNTIME_DIR") {
        return dir.join("cradle");
    }
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    if run_user.is_dir() {
        return run_user.join("cradle");
    }
    match absolute("HOME") {
        Some(home) => home.join(".local/state/cradle"),
        None => run_user.join("cradle"),
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd as _;

    use super::*;

    #[test]
    fn a_new_file_is_written_whole_and_never_over_or_through_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fd = File::open(dir.path()).expect("open the directory");
        create_at(fd.as_fd(), "state.json", b"{}").expect("create");
        assert_eq!(fs::read(dir.path().join("state.json")).expect("read"), b"{}");
        let again = create_at(fd.as_fd(), "state.json", b"[]").expect_err("created twice");
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(dir.path().join("state.json")).expect("read"), b"{}");
        let target = dir.path().join("target");
        std::os::unix::fs::symlink(&target, dir.path().join("planted")).expect("symlink");
        create_at(fd.as_fd(), "planted", b"{}").expect_err("wrote through a symlink");
        assert!(!target.exists(), "the symlink was followed");
    }

    #[test]
    fn a_replaced_file_is_whole_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fd = File::open(dir.path()).expect("open the directory");
        let names = || {
            let mut names = names(fd.as_fd()).expect("list");
            names.sort();
            names
        };
        replace_at(fd.as_fd(), "state.json", ".state.json.tmp", b"first").expect("with no file yet");
        replace_at(fd.as_fd(), "state.json", ".state.json.tmp", b"second").expect("over the first");
        assert_eq!(fs::read(dir.path().join("state.json")).expect("read"), b"second");
        assert_eq!(names(), ["state.json"]);

        let target = dir.path().join("target");
        std::os::unix::fs::symlink(&target, dir.path().join("planted")).expect("symlink");
        replace_at(fd.as_fd(), "planted", ".planted.tmp", b"file").expect("over a symlink");
        assert!(!target.exists(), "the symlink was followed");
        assert!(fs::symlink_metadata(dir.path().join("planted"))
            .expect("stat")
            .is_file());

        fs::create_dir(dir.path().join("a-directory")).expect("mkdir");
        let refused = replace_at(fd.as_fd(), "a-directory", ".a-directory.tmp", b"file")
            .expect_err("replaced a directory");
        assert_eq!(refused.raw_os_error(), Some(Errno::EISDIR as i32));
        assert!(dir.path().join("a-directory").is_dir());
        assert_eq!(names(), ["a-directory", "planted", "state.json"]);
    }

    /// The reason [`replace_at`] swaps: on ext4 a file renamed over another
    /// is written back at once, and its blocks allocated; a swapped one
    /// keeps its delayed allocation (`filefrag` shows it), so removing it
    /// soon after frees nothing on the device. Checked against a rename
    /// over a file in the same directory, which must show the write-back:
    /// elsewhere (not ext4, or ext4 without delayed allocation) there is
    /// nothing to see.
    #[test]
    fn a_replaced_file_on_ext4_is_not_written_back_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let filesystem = nix::sys::statfs::statfs(dir.path())
            .expect("statfs")
            .filesystem_type();
        if filesystem != nix::sys::statfs::EXT4_SUPER_MAGIC {
            eprintln!("not on ext4 ({filesystem:?}): nothing to check here");
            return;
        }
        // Larger than ext4 keeps inline in an inode.
        let record = |n: u8| vec![b'0' + n; 4096];
        let fd = File::open(dir.path()).expect("open the directory");
        let delayed = |name: &str| {
            let filefrag = ["/usr/sbin/filefrag", "/sbin/filefrag"]
                .into_iter()
                .find(|path| Path::new(path).exists())
                .unwrap_or("filefrag");
            let output = std::process::Command::new(filefrag)
                .arg("-v")
                .arg(dir.path().join(name))
                .output()
                .expect("run filefrag (e2fsprogs)");
            let shown = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(output.status.success(), "filefrag: {shown}");
            (shown.contains("delalloc"), shown)
        };

        fs::write(dir.path().join("renamed"), record(1)).expect("write");
        fs::write(dir.path().join(".renamed.tmp"), record(2)).expect("write");
        if !delayed(".renamed.tmp").0 {
            eprintln!("ext4 without delayed allocation here: nothing to check");
            return;
        }
        renameat(fd.as_fd(), ".renamed.tmp", fd.as_fd(), "renamed").expect("rename");
        let (control, shown) = delayed("renamed");
        assert!(
            !control,
            "a rename over a file was not written back (the control):\n{shown}"
        );

        replace_at(fd.as_fd(), "state.json", ".state.json.tmp", &record(1)).expect("first");
        replace_at(fd.as_fd(), "state.json", ".state.json.tmp", &record(2)).expect("second");
        let (swapped, shown) = delayed("state.json");
        assert!(swapped, "the replaced record was written back:\n{shown}");
        assert_eq!(fs::read(dir.path().join("state.json")).expect("read"), record(2));
    }
}
