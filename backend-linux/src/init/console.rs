//! The console: a terminal made inside the container, from the `/dev/ptmx`
//! of its own root (so its devpts, and `/dev/pts/0` as its name), whose
//! master end goes to the parent over the console socket.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::pty::{posix_openpt, ptsname_r, unlockpt, PtyMaster};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::{fstat, major, minor};
use nix::unistd::{self, Uid};

use cradle_core::{ChildError, ChildStep, Config, Terminal, WindowSize};

use super::{failed, refused};
use crate::sys;

/// The pseudo-terminal multiplexer, `c 5:2` (`/dev/ptmx` or a devpts'
/// `ptmx`).
const PTMX: (u64, u64) = (5, 2);

/// For [`Terminal::Console`]: opens a terminal from `/dev/ptmx`, sends its
/// master on the console socket at `socket` and makes the slave the
/// process's stdin, stdout, stderr and controlling terminal. Nothing for
/// another terminal.
pub(super) fn make(config: &Config, socket: Option<RawFd>) -> Result<(), ChildError> {
    let Terminal::Console { size } = config.terminal else {
        return Ok(());
    };
    let step = ChildStep::Console;
    let socket = take_socket(socket)?;
    // O_NOCTTY: the slave, not the master, becomes the controlling
    // terminal, below.
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(failed(step, "open /dev/ptmx"))?;
    check_multiplexer(&master)?;
    unlockpt(&master).map_err(failed(step, "unlockpt"))?;
    let name = ptsname_r(&master).map_err(failed(step, "ptsname"))?;
    // By the master, not by name: nothing in the container can put
    // another file at the name in between.
    let slave = sys::open_pty_peer(master.as_fd()).map_err(failed(step, "ioctl(TIOCGPTPEER)"))?;
    if let Some(size) = size {
        set_size(slave.as_fd(), size)?;
    }
    // The terminal is the user's, as a login's is; its group stays the one
    // devpts gives (`tty` where the mount says `gid=5`).
    let uid = Uid::from_raw(config.user.uid);
    unistd::fchown(&slave, Some(uid), None).map_err(failed(step, format!("fchown {name}")))?;
    send(&socket, &master, &name)?;
    drop(socket);
    drop(master);
    unistd::dup2_stdin(&slave).map_err(failed(step, format!("dup2 {name} onto stdin")))?;
    unistd::dup2_stdout(&slave).map_err(failed(step, format!("dup2 {name} onto stdout")))?;
    unistd::dup2_stderr(&slave).map_err(failed(step, format!("dup2 {name} onto stderr")))?;
    drop(slave);
    sys::take_controlling_terminal(std::io::stdin().as_fd())
        .map_err(failed(step, format!("ioctl(TIOCSCTTY) on {name}")))
}

/// The console socket the parent placed at `fd`, checked to be a socket.
fn take_socket(fd: Option<RawFd>) -> Result<OwnedFd, ChildError> {
    let step = ChildStep::Console;
    let fd = fd.ok_or_else(|| refused(step, "no console socket was given"))?;
    // SAFETY: borrowed only for the fstat; a closed `fd` fails it.
    let stat = fstat(unsafe { BorrowedFd::borrow_raw(fd) })
        .map_err(|_| refused(step, "no console socket was given"))?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(refused(step, "the console descriptor is not a socket"));
    }
    // SAFETY: the parent placed the console socket at `fd` for this
    // process, and nothing else here owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Refuses a `/dev/ptmx` that is not the multiplexer: a container could
/// have put another device, or a FIFO, at the path.
fn check_multiplexer(master: &PtyMaster) -> Result<(), ChildError> {
    let step = ChildStep::Console;
    let stat = fstat(master.as_fd()).map_err(failed(step, "fstat /dev/ptmx"))?;
    let is_char = stat.st_mode & libc::S_IFMT == libc::S_IFCHR;
    if !is_char || (major(stat.st_rdev), minor(stat.st_rdev)) != PTMX {
        return Err(refused(
            step,
            "/dev/ptmx is not the pseudo-terminal multiplexer (c 5:2)",
        ));
    }
    Ok(())
}

fn set_size(slave: BorrowedFd<'_>, size: WindowSize) -> Result<(), ChildError> {
    sys::set_window_size(slave, size.rows, size.cols).map_err(failed(ChildStep::Console, "ioctl(TIOCSWINSZ)"))
}

/// The master with `SCM_RIGHTS`, the terminal's name as the payload.
fn send(socket: &OwnedFd, master: &PtyMaster, name: &str) -> Result<(), ChildError> {
    let fds = [master.as_raw_fd()];
    let payload = [IoSlice::new(name.as_bytes())];
    let control = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &payload,
            &control,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(failed(ChildStep::Console, "sendmsg of the console")(errno)),
        }
    }
}
