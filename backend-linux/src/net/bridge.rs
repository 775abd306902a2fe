//! Bridges for veth host ends to join, for hosts (and tests) that have
//! none yet.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::error::{NetError, Operation};
use super::link;
use super::names::check_name;
use super::netlink::{Connection, Subject};

/// Creates the bridge `name`, up, in the calling thread's network
/// namespace; `EEXIST` if the name is taken.
pub fn create(name: &str) -> Result<(), NetError> {
    check_name(name)?;
    let mut bridge = LinkMessage::default();
    bridge.header.flags = LinkFlags::Up;
    bridge.header.change_mask = LinkFlags::Up;
    bridge.attributes.push(LinkAttribute::IfName(name.to_owned()));
    bridge
        .attributes
        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
    let subject = Subject {
        operation: Operation::CreateBridge,
        interface: name,
    };
    Connection::open()?.change(
        RouteNetlinkMessage::NewLink(bridge),
        NLM_F_CREATE | NLM_F_EXCL,
        subject,
    )
}

/// Deletes the bridge `name`; one that is already gone is not an error,
/// an interface of that name that is not a bridge is left alone and
/// reported.
pub fn remove(name: &str) -> Result<(), NetError> {
    check_name(name)?;
    link::remove(&mut Connection::open()?, name, "bridge")
}
