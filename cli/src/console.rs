//! `--console-socket`: where an engine (podman's conmon, containerd's
//! shim) waits for the master end of the container's terminal. The
//! container makes the terminal itself, inside its own root, and sends
//! the master there (see `cradle_linux::Options::console_socket`).

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::error::CliError;

/// A connection to the engine's console socket at `socket`, for the
/// container to send its terminal on.
pub(crate) fn connect(socket: &Path) -> Result<OwnedFd, CliError> {
    let stream = UnixStream::connect(socket).map_err(CliError::file(socket))?;
    Ok(stream.into())
}
