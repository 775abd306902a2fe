//! The host side of a veth pair, done by the parent: create the pair with
//! its peer already in the container's network namespace, and remove it.

use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use cradle_core::config::Veth;
use cradle_core::Pid;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::error::{NetError, Operation};
use super::link;
use super::names::check_name;
use super::netlink::{Connection, Subject};
use super::validate::validate_veth;

/// Opens the network namespace of process `pid`, for [`create`].
pub fn open_netns(pid: Pid) -> Result<OwnedFd, NetError> {
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    match File::open(&path) {
        Ok(file) => Ok(file.into()),
        Err(source) => Err(NetError::Namespace { path, source }),
    }
}

/// Creates the veth pair: the host end `veth.host_name` in the calling
/// thread's network namespace, attached to `veth.bridge` if set, and up;
/// the peer `veth.peer_name` created straight inside the namespace `netns`
/// (so it never appears on the host under its temporary name). Both ends
/// get `veth.mtu`.
///
/// Atomic: one `RTM_NEWLINK` does all of it, and the kernel unregisters the
/// pair if any part fails (attaching to something that is not a bridge,
/// say). Only if the kernel's answer is lost is the pair removed here.
pub fn create(veth: &Veth, netns: BorrowedFd<'_>) -> Result<(), NetError> {
    validate_veth(veth)?;
    let mut connection = Connection::open()?;
    let controller = match &veth.bridge {
        Some(bridge) => Some(link::index_of(&mut connection, bridge)?),
        None => None,
    };

    let mut peer = LinkMessage::default();
    peer.attributes
        .push(LinkAttribute::IfName(veth.peer_name.clone()));
    peer.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
    let mut host = LinkMessage::default();
    host.header.flags = LinkFlags::Up;
    host.header.change_mask = LinkFlags::Up;
    host.attributes
        .push(LinkAttribute::IfName(veth.host_name.clone()));
    if let Some(mtu) = veth.mtu {
        peer.attributes.push(LinkAttribute::Mtu(mtu));
        host.attributes.push(LinkAttribute::Mtu(mtu));
    }
    host.attributes.extend(controller.map(LinkAttribute::Controller));
    host.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));

    let subject = Subject {
        operation: Operation::CreateVeth,
        interface: &veth.host_name,
    };
    let result = connection.change(
        RouteNetlinkMessage::NewLink(host),
        NLM_F_CREATE | NLM_F_EXCL,
        subject,
    );
    if let Err(error) = &result {
        if !refused(error) {
            // The kernel may have created the pair before its answer was
            // lost; the name is ours, and `remove` deletes only a veth.
            let _ = link::remove(&mut connection, &veth.host_name, "veth");
        }
    }
    result
}

/// Whether the kernel answered with an errno, and so created nothing.
fn refused(error: &NetError) -> bool {
    matches!(error, NetError::Kernel { source, .. } if source.raw_os_error() != Some(libc::ETIMEDOUT))
}

/// Deletes the host end `veth.host_name`, which deletes the pair. Removing
/// a pair that is already gone (deleted before, or with the container's
/// network namespace) succeeds; an interface of that name that is not a
/// veth is left alone and reported.
pub fn remove(veth: &Veth) -> Result<(), NetError> {
    check_name(&veth.host_name)?;
    let mut connection = Connection::open()?;
    link::remove(&mut connection, &veth.host_name, "veth")
}
