//! The init binary as a sealed memfd, so that a container can never
//! reach the host's binary through `/proc/<pid>/exe` (CVE-2019-5736).
//!
//! Between `exec` of the init binary and `exec` of the command, the
//! container's init (and a setns helper's process) runs that binary, in
//! the container's namespaces. Were it the host's file, root inside could
//! open `/proc/<pid>/exe` for writing and replace cradle (or the embedding
//! program) for the next caller. Instead, each init binary is copied once
//! per parent process into a memfd, sealed against writes, growing and
//! shrinking, and every launch `exec`s that copy: the container sees an
//! anonymous, immutable file, and a launch pays for nothing but a `dup`.

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

/// Every binary sealed so far, by the path it was read from. The memfds
/// live as long as the process: every later launch reuses them.
static SEALED: Mutex<Vec<(PathBuf, OwnedFd)>> = Mutex::new(Vec::new());

/// The sealed copy of the binary at `path` (made on first use).
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

/// Copies `path` into a new memfd and seals it.
fn seal(path: &Path) -> Result<OwnedFd, Error> {
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
    fcntl(&copy, FcntlArg::F_ADD_SEALS(seals))
        .map_err(Error::syscall("fcntl(F_ADD_SEALS) on the init binary's memfd"))?;
    Ok(OwnedFd::from(copy))
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
        let fd = sealed(&exe).expect("sealed");
        let again = sealed(&exe).expect("sealed again");
        assert_eq!(
            fd.as_raw_fd(),
            again.as_raw_fd(),
            "one copy per binary and process"
        );
        let mut copy = File::from(fd.try_clone_to_owned().expect("dup"));
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
            .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .expect("a memfd opens for writing");
        let error = writable.write_all(b"x").expect_err("the write seal holds");
        assert_eq!(error.raw_os_error(), Some(libc::EPERM));
    }
}
