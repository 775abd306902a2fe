//! The container's side of its network interfaces. For now: bringing `lo`
//! up. Veth peers are finished here once the parent can create them.

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use cradle_core::{ChildError, ChildStep, Config, Interface};

use super::{failed, refused};

/// Finishes the config's interfaces.
pub(super) fn configure(config: &Config) -> Result<(), ChildError> {
    for interface in &config.networks {
        match interface {
            Interface::Loopback => loopback_up()?,
            Interface::Veth(veth) => {
                let message = format!(
                    "veth interface {}: veth interfaces are not supported yet",
                    veth.name
                );
                return Err(refused(ChildStep::Network, message));
            }
        }
    }
    Ok(())
}

/// `ip link set lo up`, with the one ioctl it takes.
fn loopback_up() -> Result<(), ChildError> {
    let step = ChildStep::Network;
    let socket = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(failed(step, "socket for interface flags"))?;
    let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (slot, &byte) in name.iter_mut().zip(b"lo") {
        *slot = byte as libc::c_char;
    }
    let request = libc::ifreq {
        ifr_name: name,
        // The kernel keeps the flags that are not the caller's to change
        // (LOOPBACK, RUNNING...); IFF_UP is the one asked for.
        ifr_ifru: libc::__c_anonymous_ifr_ifru {
            ifru_flags: libc::IFF_UP as libc::c_short,
        },
    };
    // SAFETY: SIOCSIFFLAGS reads an `ifreq` (a NUL-terminated name and the
    // flags), which `request` is and which outlives the call.
    let ret = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) };
    Errno::result(ret)
        .map(drop)
        .map_err(failed(step, "SIOCSIFFLAGS lo up"))
}
