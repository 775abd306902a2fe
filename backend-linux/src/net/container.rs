//! The container side, done by the child inside its network namespace
//! before `exec`: bring `lo` up and finish each veth peer.

use std::net::IpAddr;

use cradle_core::config::{IpNet, Veth};
use cradle_core::Interface;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::error::{NetError, Operation};
use super::link;
use super::netlink::{Connection, Subject};
use super::validate::{parse_mac, validate};

/// Configures `interfaces` in the calling thread's network namespace, in
/// order: `lo` up for [`Interface::Loopback`]; for each veth, the peer
/// renamed from `peer_name` to `name`, then its MAC, MTU, up, its
/// addresses (IPv6 ones usable at once: they are assigned, not picked, and
/// duplicate address detection would keep them unusable for the process's
/// first seconds), and the default routes through `gateway` and
/// `gateway6`.
///
/// The whole configuration is checked before the first change.
pub fn configure(interfaces: &[Interface]) -> Result<(), NetError> {
    validate(interfaces)?;
    // Opened for the first veth: `lo` needs no netlink.
    let mut connection = None;
    for interface in interfaces {
        match interface {
            Interface::Loopback => link::loopback_up()?,
            Interface::Veth(veth) => {
                let connection = match &mut connection {
                    Some(connection) => connection,
                    None => connection.insert(Connection::open()?),
                };
                configure_veth(connection, veth)?;
            }
        }
    }
    Ok(())
}

fn configure_veth(connection: &mut Connection, veth: &Veth) -> Result<(), NetError> {
    let index = link::index_of(connection, &veth.peer_name)?;
    let name = veth.name.as_str();
    let subject = |operation| Subject {
        operation,
        interface: name,
    };
    if veth.name != veth.peer_name {
        let rename = Subject {
            operation: Operation::Rename,
            interface: &veth.peer_name,
        };
        link::set(
            connection,
            index,
            vec![LinkAttribute::IfName(veth.name.clone())],
            rename,
        )?;
    }
    if let Some(mac) = &veth.mac {
        let mac = parse_mac(name, mac)?;
        link::set(
            connection,
            index,
            vec![LinkAttribute::Address(mac.to_vec())],
            subject(Operation::SetMac),
        )?;
    }
    if let Some(mtu) = veth.mtu {
        link::set(
            connection,
            index,
            vec![LinkAttribute::Mtu(mtu)],
            subject(Operation::SetMtu),
        )?;
    }
    // Up before the routes: a gateway is only reachable once the link is
    // up and its addresses' prefix routes exist.
    link::set_up(connection, index, name)?;
    for net in &veth.addresses {
        add_address(connection, index, net, subject(Operation::AddAddress))?;
    }
    for gateway in [veth.gateway, veth.gateway6].into_iter().flatten() {
        add_default_route(connection, index, gateway, subject(Operation::AddDefaultRoute))?;
    }
    Ok(())
}

fn family(address: IpAddr) -> AddressFamily {
    match address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn add_address(
    connection: &mut Connection,
    index: u32,
    net: &IpNet,
    subject: Subject<'_>,
) -> Result<(), NetError> {
    let mut message = AddressMessage::default();
    message.header.family = family(net.address);
    message.header.prefix_len = net.prefix;
    message.header.index = index;
    // As `ip address add` does: the local address, and the same as the
    // "peer" address of a point-to-point link.
    message.attributes.push(AddressAttribute::Local(net.address));
    message.attributes.push(AddressAttribute::Address(net.address));
    if net.address.is_ipv6() {
        message.header.flags = AddressHeaderFlags::Nodad;
        message
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    connection.change(
        RouteNetlinkMessage::NewAddress(message),
        NLM_F_CREATE | NLM_F_EXCL,
        subject,
    )
}

fn add_default_route(
    connection: &mut Connection,
    index: u32,
    gateway: IpAddr,
    subject: Subject<'_>,
) -> Result<(), NetError> {
    let mut message = RouteMessage::default();
    message.header = RouteHeader {
        address_family: family(gateway),
        table: RouteHeader::RT_TABLE_MAIN,
        protocol: RouteProtocol::Static,
        scope: RouteScope::Universe,
        kind: RouteType::Unicast,
        ..RouteHeader::default()
    };
    message
        .attributes
        .push(RouteAttribute::Gateway(RouteAddress::from(gateway)));
    message.attributes.push(RouteAttribute::Oif(index));
    connection.change(
        RouteNetlinkMessage::NewRoute(message),
        NLM_F_CREATE | NLM_F_EXCL,
        subject,
    )
}
