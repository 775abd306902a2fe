//! The init binary in a form no container can write, so that it can never
//! reach the host's binary through `/proc/<pid>/exe` (CVE-2019-5736).
//!
//! Between `exec` of the init binary and `exec` of the command, the
//! container's init (and a setns helper's process) runs that binary, in
//! the container's namespaces. Were it the host's file as is, root inside
//! could open `/proc/<pid>/exe` for writing and replace cradle (or the
//! embedding program) for the next caller. Instead every launch `exec`s,
//! once per parent process and binary:
//! - a detached, read-only bind mount of the binary, where the caller may
//!   make one (root): `/proc/<pid>/exe` leads to that mount, which refuses
//!   every write (`EROFS`), and making it costs two syscalls;
//! - otherwise a copy in a memfd sealed against writes, growing and
//!   shrinking: an anonymous, immutable file, at the cost of a copy of the
//!   binary (a few milliseconds for the `cradle` command).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};

use crate::error::Error;

/// `MFD_EXEC` (Linux 6.3): executable even where `vm.memfd_noexec` makes
/// memfds non-executable by default.
const MFD_EXEC: libc::c_uint = 0x10;

/// How often sealing is tried when the kernel says the memfd is busy.
const SEAL_TRIES: u32 = 50;

/// Every binary sealed so far, by the path it was read from. The
/// descriptors live as long as the process: every later launch reuses them.
static SEALED: Mutex<Vec<(PathBuf, OwnedFd)>> = Mutex::new(Vec::new());

/// The sealed form of the binary at `path` (made on first use).
pub(crate) fn sealed(path: &Path) -> Result<BorrowedFd<'static>, Error> {
    let mut sealed = SEALED.lock().unwrap_or_else(PoisonError::into_inner);
    let index = match sealed.iter().position(|(source, _)| source == path) {
        Some(index) => index,
        None => {
            sealed.push((path.to_owned(), seal(path)?));
            sealed.len() - 1
        }
    };
    let fd = sealed[index].1.as_raw_fd();
    // SAFETY: the descriptor belongs to an entry of SEALED, from which
    // nothing is ever removed: it stays open until the process ends.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Whether the sealed binary `fd` is static (see `elf::is_static`): it
/// starts the same from any root. Read from `fd` itself (a mount's
/// descriptor is opened for reading through `/proc`), and at each call: a
/// read-only mount of the host's file does not freeze it, and the host
/// may write a dynamic build over it. A binary that cannot be read is
/// taken for dynamic.
pub(crate) fn is_static(fd: BorrowedFd<'_>) -> bool {
    File::open(format!("/proc/self/fd/{}", fd.as_raw_fd())).is_ok_and(|file| crate::elf::is_static(&file))
}

/// A form of `path` that refuses writes: a read-only bind mount where
/// the caller may make one, else a sealed memfd copy.
fn seal(path: &Path) -> Result<OwnedFd, Error> {
    match read_only_mount(path) {
        Ok(tree) => Ok(tree),
        // No CAP_SYS_ADMIN (a caller without privileges), or a kernel
        // without the new mount API.
        Err(_) => sealed_copy(path),
    }
}

/// A detached bind mount of the file `path`, made read-only.
fn read_only_mount(path: &Path) -> Result<OwnedFd, Errno> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let tree = crate::sys::open_tree_clone(&path, false)?;
    crate::sys::mount_setattr_readonly_fd(std::os::fd::AsFd::as_fd(&tree))?;
    Ok(tree)
}

/// Copies `path` into a new memfd and seals it.
fn sealed_copy(path: &Path) -> Result<OwnedFd, Error> {
    let file_error = |source: io::Error| Error::File {
        path: path.to_owned(),
        source,
    };
    let mut source = File::open(path).map_err(file_error)?;
    let memfd = new_memfd()?;
    let mut copy = File::from(memfd);
    // Between two files std copies in the kernel (copy_file_range or
    // sendfile): the binary is not read into this process.
    io::copy(&mut source, &mut copy).map_err(file_error)?;
    let seals =
        SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
    // The write seal is refused (EBUSY) while a page of the file is still
    // pinned, which the copy can leave for a moment: try again, briefly.
    let mut tries = 0;
    loop {
        match fcntl(&copy, FcntlArg::F_ADD_SEALS(seals)) {
            Ok(_) => return Ok(OwnedFd::from(copy)),
            Err(Errno::EBUSY) if tries < SEAL_TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(errno) => {
                return Err(Error::syscall("fcntl(F_ADD_SEALS) on the init binary's memfd")(
                    errno,
                ))
            }
        }
    }
}

/// A close-on-exec memfd that can be sealed and executed.
fn new_memfd() -> Result<OwnedFd, Error> {
    let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    let exec = MFdFlags::from_bits_retain(MFD_EXEC);
    match memfd_create(c"cradle-init", flags | exec) {
        // Before Linux 6.3 there is no MFD_EXEC, and memfds are executable.
        Err(Errno::EINVAL) => memfd_create(c"cradle-init", flags),
        result => result,
    }
    .map_err(Error::syscall("memfd_create for the init binary"))
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Seek as _, Write as _};

    use super::*;

    #[test]
    fn a_sealed_copy_has_the_binary_and_refuses_writes() {
        let exe = std::fs::read_link("/proc/self/exe").expect("own binary");
        let copy = sealed_copy(&exe).expect("sealed");
        let mut copy = File::from(copy);
        let mut head = [0u8; 4];
        copy.rewind().expect("seek");
        copy.read_exact(&mut head).expect("read");
        assert_eq!(&head, b"\x7fELF");
        assert_eq!(
            copy.metadata().expect("stat").len(),
            std::fs::metadata(&exe).expect("stat").len()
        );
        let mut writable = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", copy.as_raw_fd()))
            .expect("a memfd opens for writing");
        let error = writable.write_all(b"x").expect_err("the write seal holds");
        assert_eq!(error.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn a_read_only_mount_of_the_binary_refuses_writers() {
        // A file no process runs, so that the answer is the mount's, not
        // ETXTBSY.
        let dir = tempfile_dir();
        let path = dir.join("init");
        std::fs::write(&path, b"not run").expect("a file");
        let tree = read_only_mount(&path).expect("a read-only mount (root)");
        let error = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", tree.as_raw_fd()))
            .expect_err("the mount is read-only");
        assert_eq!(error.raw_os_error(), Some(libc::EROFS));
        assert_eq!(std::fs::read(&path).expect("read"), b"not run");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn the_binary_is_sealed_once_per_process() {
        let exe = std::fs::read_link("/proc/self/exe").expect("own binary");
        let first = sealed(&exe).expect("sealed");
        let again = sealed(&exe).expect("sealed again");
        assert_eq!(first.as_raw_fd(), again.as_raw_fd(), "one per binary and process");
        let own = File::open("/proc/self/exe").expect("own binary");
        assert_eq!(is_static(first), crate::elf::is_static(&own));
    }

    /// A directory of this test's own (the crate has no tempfile).
    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cradle-sealed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        dir
    }
}
