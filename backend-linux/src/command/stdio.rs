//! Where a container process's stdin, stdout and stderr go, as
//! `std::process::Stdio` says it.

use std::fs::File;
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;

use crate::Error;

/// One of the process's standard streams.
#[derive(Debug, Default)]
pub struct Stdio(Kind);

#[derive(Debug, Default)]
enum Kind {
    /// The caller's own.
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// A new pipe; the caller gets its other end on the
    /// [`Child`](super::Child).
    Piped,
    /// This descriptor.
    Fd(OwnedFd),
}

impl Stdio {
    /// The caller's own stream (the default).
    pub fn inherit() -> Stdio {
        Stdio(Kind::Inherit)
    }

    /// `/dev/null`.
    pub fn null() -> Stdio {
        Stdio(Kind::Null)
    }

    /// A pipe to the caller: [`Child::stdin`](super::Child::stdin),
    /// `stdout` or `stderr`.
    pub fn piped() -> Stdio {
        Stdio(Kind::Piped)
    }

    pub(super) fn is_inherit(&self) -> bool {
        matches!(self.0, Kind::Inherit)
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(Kind::Fd(fd))
    }
}

impl From<File> for Stdio {
    fn from(file: File) -> Stdio {
        Stdio(Kind::Fd(file.into()))
    }
}

/// Which way a stream flows, seen from the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    /// The process reads it (stdin).
    In,
    /// The process writes it (stdout, stderr).
    Out,
}

/// A stream made ready: the process's end (`None`: the caller's own), and
/// for a pipe the caller's end.
pub(super) struct Prepared {
    pub(super) child: Option<OwnedFd>,
    pub(super) parent: Option<File>,
}

impl Stdio {
    /// Opens what the stream needs.
    pub(super) fn prepare(self, direction: Direction) -> Result<Prepared, Error> {
        let (child, parent) = match self.0 {
            Kind::Inherit => (None, None),
            Kind::Fd(fd) => (Some(fd), None),
            Kind::Null => {
                let path = "/dev/null";
                let file = std::fs::OpenOptions::new()
                    .read(direction == Direction::In)
                    .write(direction == Direction::Out)
                    .open(path)
                    .map_err(Error::file(path))?;
                (Some(file.into()), None)
            }
            Kind::Piped => {
                let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(Error::syscall("pipe2"))?;
                match direction {
                    Direction::In => (Some(read), Some(File::from(write))),
                    Direction::Out => (Some(write), Some(File::from(read))),
                }
            }
        };
        Ok(Prepared { child, parent })
    }
}
