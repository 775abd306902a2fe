//! The net layer's error: which netlink operation on which interface failed,
//! with the kernel's errno, or which part of the configuration is invalid.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

/// A network operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Opening or setting up the netlink socket failed.
    #[error("netlink route socket: {source}")]
    Socket {
        /// What the kernel said.
        source: io::Error,
    },
    /// Opening a network namespace failed.
    #[error("{path}: {source}")]
    Namespace {
        /// The namespace file.
        path: PathBuf,
        /// What the kernel said.
        source: io::Error,
    },
    /// The kernel refused a request, or did not answer it in time.
    #[error("{operation} {interface}: {source}")]
    Kernel {
        /// The request.
        operation: Operation,
        /// The interface it was about.
        interface: String,
        /// The kernel's errno (`raw_os_error`); `ETIMEDOUT` when no answer
        /// came in time.
        source: io::Error,
    },
    /// The kernel's answer could not be understood.
    #[error("{operation} {interface}: unexpected reply: {reason}")]
    Reply {
        /// The request.
        operation: Operation,
        /// The interface it was about.
        interface: String,
        /// What was wrong with the reply.
        reason: String,
    },
    /// An interface name the kernel would refuse.
    #[error("invalid interface name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A MAC address that is not six hex bytes, or not a unicast address.
    #[error("{interface}: invalid MAC address {mac:?}")]
    InvalidMac {
        /// The interface it was configured for.
        interface: String,
        /// The address as configured.
        mac: String,
    },
    /// A prefix longer than its address family allows.
    #[error("{interface}: invalid address {address}/{prefix}")]
    InvalidPrefix {
        /// The interface it was configured for.
        interface: String,
        /// The address.
        address: IpAddr,
        /// Its prefix length.
        prefix: u8,
    },
    /// `gateway` given as IPv6 or `gateway6` as IPv4.
    #[error("{interface}: gateway {gateway} is not an {expected} address")]
    GatewayFamily {
        /// The interface it was configured for.
        interface: String,
        /// The gateway.
        gateway: IpAddr,
        /// `IPv4` or `IPv6`.
        expected: &'static str,
    },
    /// Two interfaces of one configuration share a name.
    #[error("interface name {name:?} is used twice")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// The interface to remove is not of the kind cradle created under
    /// that name, so cradle did not create it and leaves it alone.
    #[error("{interface} is a {kind} interface, not a {expected}; not removing it")]
    WrongKind {
        /// The interface.
        interface: String,
        /// The kind cradle creates under that name (`veth`, `bridge`).
        expected: &'static str,
        /// Its link kind (`dummy`, ...; `device` when it has none, as
        /// hardware and `lo` do).
        kind: String,
    },
}

impl NetError {
    /// The kernel's errno, where the kernel refused something.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetError::Socket { source }
            | NetError::Namespace { source, .. }
            | NetError::Kernel { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// The netlink operations cradle performs, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `RTM_NEWLINK` of a veth pair.
    CreateVeth,
    /// `RTM_NEWLINK` of a bridge.
    CreateBridge,
    /// `RTM_DELLINK`.
    DeleteLink,
    /// `RTM_GETLINK` by name.
    FindLink,
    /// `RTM_GETLINK` dump.
    ListLinks,
    /// `RTM_SETLINK` with a new name.
    Rename,
    /// `RTM_SETLINK` with a MAC address.
    SetMac,
    /// `RTM_SETLINK` with an MTU.
    SetMtu,
    /// `RTM_SETLINK` with `IFF_UP`.
    SetUp,
    /// `RTM_NEWADDR`.
    AddAddress,
    /// `RTM_NEWROUTE` of a default route.
    AddDefaultRoute,
    /// `RTM_GETROUTE` dump.
    ListRoutes,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::CreateVeth => "RTM_NEWLINK (create veth pair)",
            Operation::CreateBridge => "RTM_NEWLINK (create bridge)",
            Operation::DeleteLink => "RTM_DELLINK",
            Operation::FindLink => "RTM_GETLINK",
            Operation::ListLinks => "RTM_GETLINK (dump)",
            Operation::Rename => "RTM_SETLINK (rename)",
            Operation::SetMac => "RTM_SETLINK (MAC address)",
            Operation::SetMtu => "RTM_SETLINK (MTU)",
            Operation::SetUp => "RTM_SETLINK (up)",
            Operation::AddAddress => "RTM_NEWADDR",
            Operation::AddDefaultRoute => "RTM_NEWROUTE (default route)",
            Operation::ListRoutes => "RTM_GETROUTE (dump)",
        })
    }
}
