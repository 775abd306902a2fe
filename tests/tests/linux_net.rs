//! `cradle_linux::net` on a real kernel, as root.
//!
//! A "container" here is a thread that unshared its network namespace
//! (namespaces are per thread); sockets it opens belong to that namespace
//! and can then be used from any thread. Traffic runs between namespaces
//! these tests create, one made to stand in for the host: no test address
//! or route ever reaches the real host's tables, and a test that fails
//! midway leaves nothing there (the kernel deletes a namespace's interfaces
//! with it). The tests that must act on the real host namespace (creation
//! failures, removal) send no traffic, take the `REAL_HOST` lock, and end by
//! checking that no interface with the suite's prefix is left there.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use cradle_core::config::{IpNet, Veth};
use cradle_core::Interface;
use cradle_linux::net::{self, bridge, container, host, inspect, NetError, Operation};
use cradle_tests::linux::{require_root, NetnsThread};

/// Every interface these tests create in the real host namespace starts so.
const PREFIX: &str = "crn";
/// Bounds every wait: a job in a namespace thread, a connect, an accept, a
/// read.
const DEADLINE: Duration = Duration::from_secs(10);

fn ipv4(subnet: u8, host: u8) -> IpAddr {
    IpAddr::from([10, 213, subnet, host])
}

/// `fd63:7264:6c00:<subnet>::<host>`: a unique-local prefix of our own
/// ("crdl"), not the machine's.
fn ipv6(subnet: u8, host: u8) -> IpAddr {
    IpAddr::from([
        0xfd63,
        0x7264,
        0x6c00,
        u16::from(subnet),
        0,
        0,
        0,
        u16::from(host),
    ])
}

fn net(address: IpAddr, prefix: u8) -> IpNet {
    IpNet { address, prefix }
}

/// A veth for a container on `subnet`: `<host>` there is 2 (the container)
/// or 3 (a second container), the gateway 1.
fn container_veth(host_name: &str, subnet: u8, host: u8) -> Veth {
    Veth {
        host_name: host_name.to_owned(),
        peer_name: net::temp_peer_name(),
        name: "eth0".to_owned(),
        bridge: None,
        mtu: Some(1400),
        mac: Some(format!("02:00:0a:d5:{subnet:02x}:{host:02x}")),
        addresses: vec![net(ipv4(subnet, host), 24), net(ipv6(subnet, host), 64)],
        gateway: Some(ipv4(subnet, 1)),
        gateway6: Some(ipv6(subnet, 1)),
    }
}

/// Gives the host end the gateway addresses, the way a container's end is
/// configured: it is already in place, so no rename.
fn address_host_end(host: &NetnsThread, host_name: &str, subnet: u8) {
    let host_end = Veth {
        host_name: host_name.to_owned(),
        peer_name: host_name.to_owned(),
        name: host_name.to_owned(),
        addresses: vec![net(ipv4(subnet, 1), 24), net(ipv6(subnet, 1), 64)],
        ..Veth::default()
    };
    host.run(move || container::configure(&[Interface::Veth(host_end)]))
        .expect("address the host end");
}

/// A stand-in host and a container joined by a configured veth.
struct Pair {
    host: NetnsThread,
    container: NetnsThread,
    veth: Veth,
}

fn pair(host_name: &str, subnet: u8) -> Pair {
    let host = NetnsThread::new(DEADLINE);
    let container = NetnsThread::new(DEADLINE);
    let veth = container_veth(host_name, subnet, 2);
    let (created, netns) = (veth.clone(), container.fd());
    host.run(move || host::create(&created, netns.as_fd()))
        .expect("create the veth pair");
    address_host_end(&host, host_name, subnet);
    let configured = vec![Interface::Loopback, Interface::Veth(veth.clone())];
    container
        .run(move || container::configure(&configured))
        .expect("configure the container side");
    Pair {
        host,
        container,
        veth,
    }
}

/// Listens in `server`'s namespace, connects from `client`'s, and passes a
/// message each way.
fn assert_tcp(server: &NetnsThread, client: &NetnsThread, address: IpAddr) {
    let listener = server
        .run(move || TcpListener::bind((address, 0)))
        .expect("listen");
    let target = listener.local_addr().expect("listening address");
    let mut outgoing = client
        .run(move || TcpStream::connect_timeout(&target, DEADLINE))
        .unwrap_or_else(|error| panic!("connect to {target}: {error}"));
    let mut incoming = accept(&listener);
    for stream in [&outgoing, &incoming] {
        stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    }
    outgoing.write_all(b"ping").expect("send ping");
    let mut buffer = [0; 4];
    incoming.read_exact(&mut buffer).expect("receive ping");
    assert_eq!(&buffer, b"ping");
    incoming.write_all(b"pong").expect("send pong");
    outgoing.read_exact(&mut buffer).expect("receive pong");
    assert_eq!(&buffer, b"pong");
}

fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("non-blocking listener");
    let deadline = Instant::now() + DEADLINE;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking stream");
                return stream;
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("accept: {error}"),
        }
    }
}

#[test]
fn loopback_is_up_and_answers() {
    if !require_root("loopback_is_up_and_answers") {
        return;
    }
    let container = NetnsThread::new(DEADLINE);
    assert!(
        !container.link("lo").expect("lo exists").up,
        "lo starts down in a new namespace"
    );
    let unreachable = container.run(|| TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()));
    if let Ok(address) = unreachable {
        let refused = container.run(move || TcpStream::connect_timeout(&address, DEADLINE));
        assert!(refused.is_err(), "127.0.0.1 answers before lo is up");
    }

    container
        .run(|| container::configure(&[Interface::Loopback]))
        .expect("configure loopback");
    assert!(container.link("lo").expect("lo exists").up);
    assert_tcp(&container, &container, IpAddr::from([127, 0, 0, 1]));
}

#[test]
fn veth_carries_tcp_both_ways_over_ipv4() {
    if !require_root("veth_carries_tcp_both_ways_over_ipv4") {
        return;
    }
    let pair = pair("crnv4h", 1);
    assert_tcp(&pair.container, &pair.host, ipv4(1, 2));
    assert_tcp(&pair.host, &pair.container, ipv4(1, 1));
}

#[test]
fn veth_carries_tcp_both_ways_over_ipv6() {
    if !require_root("veth_carries_tcp_both_ways_over_ipv6") {
        return;
    }
    let pair = pair("crnv6h", 2);
    assert_tcp(&pair.container, &pair.host, ipv6(2, 2));
    assert_tcp(&pair.host, &pair.container, ipv6(2, 1));
}

#[test]
fn peer_is_renamed_and_configured_with_default_routes_through_the_gateways() {
    if !require_root("peer_is_renamed_and_configured_with_default_routes_through_the_gateways") {
        return;
    }
    let Pair {
        host,
        container,
        veth,
    } = pair("crncfh", 3);

    let eth0 = container.link("eth0").expect("peer renamed to eth0");
    assert!(container.link(&veth.peer_name).is_none(), "temporary name gone");
    assert_eq!(eth0.kind.as_deref(), Some("veth"));
    assert!(eth0.up);
    assert_eq!(eth0.mtu, Some(1400));
    assert_eq!(eth0.address, Some(vec![0x02, 0x00, 0x0a, 0xd5, 0x03, 0x02]));
    let host_end = host.link("crncfh").expect("host end");
    assert!(host_end.up);
    assert_eq!(host_end.mtu, Some(1400));

    let mut routes = container.run(inspect::default_routes).expect("list routes");
    routes.sort_by_key(|route| route.gateway);
    let routes: Vec<_> = routes
        .iter()
        .map(|route| (route.gateway, route.interface))
        .collect();
    assert_eq!(
        routes,
        [(ipv4(3, 1), Some(eth0.index)), (ipv6(3, 1), Some(eth0.index))]
    );
}

#[test]
fn one_container_gets_two_veths_with_temporary_names_that_do_not_collide() {
    if !require_root("one_container_gets_two_veths_with_temporary_names_that_do_not_collide") {
        return;
    }
    let host = NetnsThread::new(DEADLINE);
    let container = NetnsThread::new(DEADLINE);
    // eth0 IPv4 only, eth1 IPv6 only: each default route goes out of its
    // own interface.
    let first = Veth {
        addresses: vec![net(ipv4(4, 2), 24)],
        gateway6: None,
        ..container_veth("crn2ah", 4, 2)
    };
    let second = Veth {
        name: "eth1".to_owned(),
        mac: None,
        mtu: None,
        addresses: vec![net(ipv6(5, 2), 64)],
        gateway: None,
        ..container_veth("crn2bh", 5, 2)
    };
    assert_ne!(first.peer_name, second.peer_name);
    for veth in [first.clone(), second.clone()] {
        let netns = container.fd();
        host.run(move || host::create(&veth, netns.as_fd()))
            .expect("create");
    }
    let configured = [Interface::Veth(first), Interface::Veth(second)];
    container
        .run(move || container::configure(&configured))
        .expect("configure both");

    let names: Vec<String> = container.link_names();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in ["lo", "eth0", "eth1"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    let eth0 = container.link("eth0").expect("eth0");
    let eth1 = container.link("eth1").expect("eth1");
    let routes = container.run(inspect::default_routes).expect("list routes");
    let routes: Vec<_> = routes
        .iter()
        .map(|route| (route.gateway, route.interface))
        .collect();
    assert!(routes.contains(&(ipv4(4, 1), Some(eth0.index))), "{routes:?}");
    assert!(routes.contains(&(ipv6(5, 1), Some(eth1.index))), "{routes:?}");
}

#[test]
fn a_bridge_joins_two_containers() {
    if !require_root("a_bridge_joins_two_containers") {
        return;
    }
    let host = NetnsThread::new(DEADLINE);
    host.run(|| bridge::create("crnbr")).expect("create bridge");
    let bridge_index = host.link("crnbr").expect("bridge").index;
    let containers = [NetnsThread::new(DEADLINE), NetnsThread::new(DEADLINE)];
    for (container, (host_name, address)) in containers.iter().zip([("crnbah", 2), ("crnbbh", 3)]) {
        let veth = Veth {
            bridge: Some("crnbr".to_owned()),
            ..container_veth(host_name, 6, address)
        };
        let (created, netns) = (veth.clone(), container.fd());
        host.run(move || host::create(&created, netns.as_fd()))
            .expect("create");
        assert_eq!(
            host.link(host_name).expect("host end").controller,
            Some(bridge_index)
        );
        container
            .run(move || container::configure(&[Interface::Veth(veth)]))
            .expect("configure");
    }
    let [first, second] = &containers;
    assert_tcp(first, second, ipv4(6, 2));
    assert_tcp(second, first, ipv4(6, 3));
    assert_tcp(first, second, ipv6(6, 2));
    assert_tcp(second, first, ipv6(6, 3));

    for host_name in ["crnbah", "crnbbh"] {
        let veth = Veth {
            host_name: host_name.to_owned(),
            ..Veth::default()
        };
        host.run(move || host::remove(&veth)).expect("remove veth");
    }
    host.run(|| bridge::remove("crnbr")).expect("remove bridge");
    host.run(|| bridge::remove("crnbr"))
        .expect("removing a removed bridge");
    let names: Vec<String> = host.link_names();
    assert_eq!(names, ["lo"]);
}

#[test]
fn a_container_namespace_that_ends_takes_the_pair_with_it() {
    if !require_root("a_container_namespace_that_ends_takes_the_pair_with_it") {
        return;
    }
    let host = NetnsThread::new(DEADLINE);
    let container = NetnsThread::new(DEADLINE);
    let veth = container_veth("crnendh", 7, 2);
    let netns = container.fd();
    host.run(move || host::create(&veth, netns.as_fd()))
        .expect("create");
    assert!(host.link("crnendh").is_some());
    drop(container);
    // The kernel tears a namespace down in the background.
    let deadline = Instant::now() + DEADLINE;
    while host.link("crnendh").is_some() {
        assert!(Instant::now() < deadline, "host end still there");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn configure_checks_everything_before_changing_anything() {
    if !require_root("configure_checks_everything_before_changing_anything") {
        return;
    }
    let host = NetnsThread::new(DEADLINE);
    let container = NetnsThread::new(DEADLINE);
    let good = container_veth("crnbadh", 8, 2);
    let netns = container.fd();
    let created = good.clone();
    host.run(move || host::create(&created, netns.as_fd()))
        .expect("create");
    let bad = Veth {
        mac: Some("01:00:5e:00:00:01".to_owned()),
        ..container_veth("crnbad2h", 9, 2)
    };
    let configured = [
        Interface::Loopback,
        Interface::Veth(good.clone()),
        Interface::Veth(bad),
    ];
    let error = container
        .run(move || container::configure(&configured))
        .unwrap_err();
    assert!(matches!(error, NetError::InvalidMac { .. }), "{error}");
    assert!(container.link(&good.peer_name).is_some(), "peer not renamed");
    assert!(!container.link("lo").expect("lo").up, "lo not brought up");

    // A peer that was never created: the error names the lookup and the
    // interface, with the kernel's errno.
    let missing = container_veth("crnmissh", 10, 2);
    let missing_peer = missing.peer_name.clone();
    let error = container
        .run(move || container::configure(&[Interface::Veth(missing)]))
        .unwrap_err();
    assert!(
        matches!(&error, NetError::Kernel { operation: Operation::FindLink, interface, .. } if *interface == missing_peer),
        "{error}"
    );
    assert_eq!(error.errno(), Some(nix::libc::ENODEV));
    assert!(error.to_string().contains(&missing_peer), "{error}");
}

/// Serializes the tests that act on the real host namespace, so that each
/// can check, holding it, that none of the suite's interfaces are left.
static REAL_HOST: Mutex<()> = Mutex::new(());

fn real_host() -> MutexGuard<'static, ()> {
    REAL_HOST.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes a host end even when the test fails, so that one failure does
/// not leave interfaces on the real host.
struct RemoveOnDrop(Veth);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = host::remove(&self.0);
    }
}

fn real_host_names() -> Vec<String> {
    inspect::links()
        .expect("list host links")
        .into_iter()
        .map(|link| link.name)
        .collect()
}

fn assert_no_suite_interface_on_the_real_host() {
    let left: Vec<String> = real_host_names()
        .into_iter()
        .filter(|name| name.starts_with(PREFIX))
        .collect();
    assert!(left.is_empty(), "left on the host: {left:?}");
}

fn bare_veth(host_name: &str) -> Veth {
    Veth {
        host_name: host_name.to_owned(),
        peer_name: net::temp_peer_name(),
        name: "eth0".to_owned(),
        ..Veth::default()
    }
}

#[test]
fn a_failed_create_leaves_no_interface() {
    if !require_root("a_failed_create_leaves_no_interface") {
        return;
    }
    let _host = real_host();
    let container = NetnsThread::new(DEADLINE);
    let netns = container.fd();

    // Refused before anything exists: the bridge is not there.
    let no_bridge = Veth {
        bridge: Some("crnnobr".to_owned()),
        ..bare_veth("crnfail1")
    };
    let _cleanup = RemoveOnDrop(no_bridge.clone());
    let error = host::create(&no_bridge, netns.as_fd()).unwrap_err();
    assert!(
        matches!(&error, NetError::Kernel { operation: Operation::FindLink, interface, .. } if interface == "crnnobr"),
        "{error}"
    );
    assert_eq!(error.errno(), Some(nix::libc::ENODEV));

    // Refused after the pair was registered: `lo` takes no ports, and the
    // kernel unregisters the pair it had made.
    let not_a_bridge = Veth {
        bridge: Some("lo".to_owned()),
        ..bare_veth("crnfail2")
    };
    let _cleanup = RemoveOnDrop(not_a_bridge.clone());
    let error = host::create(&not_a_bridge, netns.as_fd()).unwrap_err();
    assert!(
        matches!(
            error,
            NetError::Kernel {
                operation: Operation::CreateVeth,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.errno(), Some(nix::libc::EOPNOTSUPP));

    // Refused by the driver: an MTU below the minimum.
    let tiny_mtu = Veth {
        mtu: Some(10),
        ..bare_veth("crnfail3")
    };
    let _cleanup = RemoveOnDrop(tiny_mtu.clone());
    let error = host::create(&tiny_mtu, netns.as_fd()).unwrap_err();
    assert_eq!(error.errno(), Some(nix::libc::EINVAL), "{error}");

    let host_names = real_host_names();
    for name in ["crnfail1", "crnfail2", "crnfail3"] {
        assert!(!host_names.iter().any(|n| n == name), "{name} left on the host");
    }
    let names: Vec<String> = container.link_names();
    assert_eq!(names, ["lo"], "no peer left in the container");
    assert_no_suite_interface_on_the_real_host();
}

#[test]
fn a_taken_host_name_fails_without_touching_its_owner() {
    if !require_root("a_taken_host_name_fails_without_touching_its_owner") {
        return;
    }
    let _host = real_host();
    let container = NetnsThread::new(DEADLINE);
    let veth = bare_veth("crntaken");
    let _cleanup = RemoveOnDrop(veth.clone());
    host::create(&veth, container.fd().as_fd()).expect("create");

    let again = bare_veth("crntaken");
    let error = host::create(&again, container.fd().as_fd()).unwrap_err();
    assert_eq!(error.errno(), Some(nix::libc::EEXIST), "{error}");
    assert!(
        real_host_names().iter().any(|name| name == "crntaken"),
        "the first pair survives"
    );
    assert!(container.link(&veth.peer_name).is_some());
    assert!(container.link(&again.peer_name).is_none());

    host::remove(&veth).expect("remove");
    assert_no_suite_interface_on_the_real_host();
}

#[test]
fn remove_is_idempotent_and_deletes_only_veths() {
    if !require_root("remove_is_idempotent_and_deletes_only_veths") {
        return;
    }
    let _host = real_host();
    let container = NetnsThread::new(DEADLINE);
    let veth = bare_veth("crnrm");
    let _cleanup = RemoveOnDrop(veth.clone());
    host::create(&veth, container.fd().as_fd()).expect("create");
    assert!(real_host_names().iter().any(|name| name == "crnrm"));

    host::remove(&veth).expect("remove");
    assert!(
        !real_host_names().iter().any(|name| name == "crnrm"),
        "host end gone"
    );
    assert!(container.link(&veth.peer_name).is_none(), "peer gone with it");
    host::remove(&veth).expect("removing a removed pair");

    // Under a host-end name cradle did not create a veth for, nothing is
    // deleted.
    bridge::create("crnrmbr").expect("create bridge");
    let error = host::remove(&bare_veth("crnrmbr")).unwrap_err();
    assert!(
        matches!(error, NetError::WrongKind { ref kind, .. } if kind == "bridge"),
        "{error}"
    );
    let error = host::remove(&bare_veth("lo")).unwrap_err();
    assert!(
        matches!(error, NetError::WrongKind { ref kind, .. } if kind == "device"),
        "{error}"
    );
    assert!(
        real_host_names().iter().any(|name| name == "crnrmbr"),
        "bridge spared"
    );
    bridge::remove("crnrmbr").expect("remove bridge");
    assert_no_suite_interface_on_the_real_host();
}
