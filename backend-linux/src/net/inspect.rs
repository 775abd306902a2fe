//! Reading links and default routes back from the kernel, to check what
//! was configured.

use std::net::IpAddr;

use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType};
use netlink_packet_route::RouteNetlinkMessage;

use super::error::{NetError, Operation};
use super::link::kind;
use super::netlink::{Connection, Subject};

/// A network interface as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Link kind (`veth`, `bridge`, ...); `None` for hardware and `lo`.
    pub kind: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// MTU.
    pub mtu: Option<u32>,
    /// Hardware address (six bytes for Ethernet).
    pub address: Option<Vec<u8>>,
    /// Index of the bridge (or other controller) it is attached to.
    pub controller: Option<u32>,
    /// Index of the link it is tied to (`IFLA_LINK`): for a veth, its peer,
    /// counted in the peer's network namespace.
    pub peer: Option<u32>,
    /// Set when that peer is in another network namespace
    /// (`IFLA_LINK_NETNSID`, this namespace's id for it).
    pub peer_netns_id: Option<i32>,
}

impl From<LinkMessage> for Link {
    fn from(message: LinkMessage) -> Link {
        let mut link = Link {
            index: message.header.index,
            name: String::new(),
            kind: kind(&message).map(ToString::to_string),
            up: message.header.flags.contains(LinkFlags::Up),
            mtu: None,
            address: None,
            controller: None,
            peer: None,
            peer_netns_id: None,
        };
        for attribute in message.attributes {
            match attribute {
                LinkAttribute::IfName(name) => link.name = name,
                LinkAttribute::Mtu(mtu) => link.mtu = Some(mtu),
                LinkAttribute::Address(address) => link.address = Some(address),
                LinkAttribute::Controller(index) => link.controller = Some(index),
                LinkAttribute::Link(index) => link.peer = Some(index),
                LinkAttribute::LinkNetNsId(id) => link.peer_netns_id = Some(id),
                _ => {}
            }
        }
        link
    }
}

/// Every interface of the calling thread's network namespace.
pub fn links() -> Result<Vec<Link>, NetError> {
    let subject = Subject {
        operation: Operation::ListLinks,
        interface: "*",
    };
    let replies = Connection::open()?.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), subject)?;
    Ok(replies
        .into_iter()
        .filter_map(|reply| match reply {
            RouteNetlinkMessage::NewLink(message) => Some(Link::from(message)),
            _ => None,
        })
        .collect())
}

/// A default route of the main table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DefaultRoute {
    /// The next hop.
    pub gateway: IpAddr,
    /// Index of the interface it goes out of.
    pub interface: Option<u32>,
}

impl DefaultRoute {
    fn from_message(message: RouteMessage) -> Option<DefaultRoute> {
        let header = &message.header;
        if header.destination_prefix_length != 0
            || header.table != RouteHeader::RT_TABLE_MAIN
            || header.kind != RouteType::Unicast
        {
            return None;
        }
        let mut gateway = None;
        let mut interface = None;
        for attribute in message.attributes {
            match attribute {
                RouteAttribute::Gateway(RouteAddress::Inet(address)) => gateway = Some(IpAddr::V4(address)),
                RouteAttribute::Gateway(RouteAddress::Inet6(address)) => gateway = Some(IpAddr::V6(address)),
                RouteAttribute::Oif(index) => interface = Some(index),
                _ => {}
            }
        }
        Some(DefaultRoute {
            gateway: gateway?,
            interface,
        })
    }
}

/// The default routes (IPv4 and IPv6) of the calling thread's network
/// namespace.
pub fn default_routes() -> Result<Vec<DefaultRoute>, NetError> {
    let subject = Subject {
        operation: Operation::ListRoutes,
        interface: "*",
    };
    let replies =
        Connection::open()?.dump(RouteNetlinkMessage::GetRoute(RouteMessage::default()), subject)?;
    Ok(replies
        .into_iter()
        .filter_map(|reply| match reply {
            RouteNetlinkMessage::NewRoute(message) => DefaultRoute::from_message(message),
            _ => None,
        })
        .collect())
}
