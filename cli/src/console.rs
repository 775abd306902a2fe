//! `--console-socket`: a new pseudo-terminal for the container, whose
//! master end is sent (`SCM_RIGHTS`) to the caller's Unix socket, as runc
//! does for podman's conmon and containerd's shim.

use std::io::IoSlice;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::pty::{openpty, Winsize};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::error::CliError;

/// Opens a pseudo-terminal of `size` (rows, columns), sends its master to
/// the socket at `socket`, and returns the slave three times: the
/// container's stdin, stdout and stderr.
pub(crate) fn open(socket: &Path, size: Option<(u16, u16)>) -> Result<[OwnedFd; 3], CliError> {
    let winsize = size.map(|(rows, cols)| Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let pty = openpty(winsize.as_ref(), None).map_err(CliError::syscall("openpty"))?;
    let stream = UnixStream::connect(socket).map_err(CliError::file(socket))?;
    let fds = [pty.master.as_raw_fd()];
    // runc sends the terminal's name as the payload; engines read the fd.
    let name = b"/dev/ptmx";
    let payload = [IoSlice::new(name)];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &payload,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(CliError::syscall("sendmsg of the console"))?;
    let slave = pty.slave;
    let copy = || {
        slave
            .try_clone()
            .map_err(CliError::file("the console's slave end"))
    };
    Ok([copy()?, copy()?, slave])
}
