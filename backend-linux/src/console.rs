//! The parent's side of a console: the terminal a process with
//! [`Terminal::Console`](cradle_core::Terminal::Console) makes inside its
//! container arrives here as its master end.
//!
//! An engine that has its own socket (runc's `--console-socket`) passes a
//! connected stream to [`Options::console_socket`](crate::Options::console_socket)
//! and receives the master there itself. A caller that relays the terminal
//! itself takes a [`channel`]: its child end goes to the options, and
//! [`ConsoleReceiver::receive`] gives the master once the launch has
//! reached `ready` (the child sends it before).

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd as _, FromRawFd as _, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::Error;

/// The master end of a process's terminal, and the terminal's name inside
/// the container.
#[derive(Debug)]
pub struct Console {
    /// Read it for the process's output, write it for its input, set the
    /// window size on it.
    pub master: OwnedFd,
    /// As the process sees it: `/dev/pts/0`.
    pub name: String,
}

/// The caller's end of a console channel.
#[derive(Debug)]
pub struct ConsoleReceiver {
    socket: OwnedFd,
}

/// A console channel: the receiver, and the end to pass to
/// [`Options::console_socket`](crate::Options::console_socket).
pub fn channel() -> Result<(ConsoleReceiver, OwnedFd), Error> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(Error::syscall("socketpair for the console"))?;
    Ok((ConsoleReceiver { socket: ours }, theirs))
}

impl ConsoleReceiver {
    /// The console, waiting at most `timeout` for it. After a launch
    /// reached `ready` it is there already; a process that died before it
    /// sent one gives [`Error::NoConsole`] (its end is closed), and so
    /// does a message without a descriptor.
    pub fn receive(self, timeout: Duration) -> Result<Console, Error> {
        let timed_out = Error::TimedOut {
            call: "receiving the console",
            after: timeout,
        };
        let bound = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, bound) {
                Ok(0) => return Err(timed_out),
                Ok(_) => break,
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(Error::syscall("poll of the console channel")(errno)),
            }
        }
        let mut name = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let message = recvmsg::<()>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
        )
        .map_err(Error::syscall("recvmsg of the console"))?;
        let mut master = None;
        for control in message
            .cmsgs()
            .map_err(Error::syscall("the console's control message"))?
        {
            if let ControlMessageOwned::ScmRights(fds) = control {
                for fd in fds {
                    // SAFETY: SCM_RIGHTS made `fd` in this process; nothing
                    // else owns it.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    master.get_or_insert(owned);
                }
            }
        }
        let length = message.bytes;
        let truncated = message.flags.contains(MsgFlags::MSG_CTRUNC);
        let master = match master {
            Some(master) if !truncated => master,
            _ if length == 0 => {
                return Err(Error::NoConsole {
                    reason: "the process closed the channel without sending one",
                })
            }
            _ => {
                return Err(Error::NoConsole {
                    reason: "the message carried no terminal",
                })
            }
        };
        let name = String::from_utf8_lossy(name.get(..length).unwrap_or_default()).into_owned();
        Ok(Console { master, name })
    }
}
