//! Network interfaces in real launches, as root: `lo` and veth pairs
//! created by `Process::start` and finished by the container's init.
//!
//! The launcher runs on a thread that unshared its network namespace and
//! stands in for the host: the host ends, their addresses and every packet
//! stay in namespaces these tests create, in 10.213.20-29.0/24 and
//! fd00:c7ad:0:20-29::/64. Only the tests of a failed launch act on the real
//! host's link table (no address, no traffic); they take the `REAL_HOST`
//! lock and end by checking that no interface named `crv…` is left there.
//! The containers run the busybox of the host (`nc`, `ip`).

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use cradle_core::backend::{Cgroups, Channel, Clock, Interfaces, Processes, Wait, Wake};
use cradle_core::config::{IpNet, Veth};
use cradle_core::launch::{CommandError, IdMaps, Spawn, Step};
use cradle_core::{
    driver, Config, ExitStatus, Interface, Launch, LaunchError, NamespaceKind, Pid, Plan, Time,
};
use cradle_linux::net::{self, bridge, container, host, inspect};
use cradle_linux::{Error, LinuxLaunch, Options, Process};
use cradle_tests::linux::{self, busybox, new_namespaces, require_root, NetnsThread, DEADLINE};

const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");
/// Every interface these tests name starts so.
const PREFIX: &str = "crv";

fn ipv4(subnet: u8, host: u8) -> IpAddr {
    IpAddr::from([10, 213, subnet, host])
}

fn ipv6(subnet: u8, host: u8) -> IpAddr {
    IpAddr::from([0xfd00, 0xc7ad, 0, u16::from(subnet), 0, 0, 0, u16::from(host)])
}

/// The container's veth on `subnet`, host `host` there, gateway `.1`.
fn veth(host_name: &str, subnet: u8, host: u8) -> Veth {
    Veth {
        host_name: host_name.to_owned(),
        peer_name: net::temp_peer_name(),
        name: "eth0".to_owned(),
        addresses: vec![
            IpNet {
                address: ipv4(subnet, host),
                prefix: 24,
            },
            IpNet {
                address: ipv6(subnet, host),
                prefix: 64,
            },
        ],
        gateway: Some(ipv4(subnet, 1)),
        gateway6: Some(ipv6(subnet, 1)),
        ..Veth::default()
    }
}

/// Gives `name` (a host end or a bridge, in the stand-in host) the
/// gateway addresses of `subnet`.
fn address_gateway(host: &NetnsThread, name: &str, subnet: u8) {
    let gateway = Veth {
        host_name: name.to_owned(),
        peer_name: name.to_owned(),
        name: name.to_owned(),
        addresses: vec![
            IpNet {
                address: ipv4(subnet, 1),
                prefix: 24,
            },
            IpNet {
                address: ipv6(subnet, 1),
                prefix: 64,
            },
        ],
        ..Veth::default()
    };
    host.run(move || container::configure(&[Interface::Veth(gateway)]))
        .expect("address the gateway");
}

/// A busybox `sh -c script` in new network, pid and mount namespaces with
/// `networks`; `nc`, `ip` and `sleep` in the script are busybox's applets.
fn plan(script: &str, networks: Vec<Interface>) -> Plan {
    let busybox = busybox().display().to_string();
    let applets: String = ["nc", "ip", "sleep"]
        .iter()
        .map(|applet| format!("{applet}() {{ {busybox} {applet} \"$@\"; }}; "))
        .collect();
    let script = format!("{applets}{script}");
    let mut config = Config::new([busybox.as_str(), "sh", "-c", script.as_str()]);
    config.namespaces = new_namespaces(&[NamespaceKind::Net, NamespaceKind::Pid, NamespaceKind::Mount]);
    config.networks = networks;
    Plan::init(config)
}

/// Shell: send `message` to `address`:`port`, retrying while nothing
/// listens there yet (or the address is not up yet: a SYN sent before that
/// would only be retried seconds later, so each try gives up after 1 s),
/// for at most about 10 s. A subshell: its status says whether it got
/// through.
fn send_script(address: IpAddr, port: u16, message: &str) -> String {
    format!(
        "(i=0; while [ $i -lt 100 ]; do echo {message} | nc -w 1 {address} {port} && exit 0; \
         i=$((i+1)); sleep 0.05; done; exit 1)"
    )
}

/// Runs `plan` from the stand-in host; the process and its stdout.
fn start(host: &NetnsThread, plan: Plan) -> (Process, File) {
    host.run(move || linux::start_captured(plan, INIT))
        .expect("launch")
}

/// The container's output once it has exited with 0.
fn finish(mut process: Process, mut stdout: File) -> String {
    let output = linux::read_to_end(&mut stdout, DEADLINE);
    let status = process.wait_timeout(DEADLINE).expect("wait");
    assert_eq!(status, Some(ExitStatus::Exited(0)), "{output}");
    output
}

/// Connects from the stand-in host to `target` (retrying while refused)
/// and reads what the server sends until it closes.
fn receive_from(host: &NetnsThread, target: SocketAddr) -> String {
    let mut stream = host
        .run(move || {
            let deadline = Instant::now() + DEADLINE;
            loop {
                match TcpStream::connect_timeout(&target, DEADLINE) {
                    Err(error) if Instant::now() < deadline && error.kind() != ErrorKind::TimedOut => {
                        thread::sleep(Duration::from_millis(20));
                    }
                    result => return result,
                }
            }
        })
        .unwrap_or_else(|error| panic!("connect to {target}: {error}"));
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    stream.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut received = String::new();
    stream.read_to_string(&mut received).expect("read");
    received
}

/// Accepts one connection on `listener` and reads it to its end.
fn accept_from(listener: &TcpListener) -> String {
    listener.set_nonblocking(true).expect("non-blocking listener");
    let deadline = Instant::now() + DEADLINE;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(error) if error.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("accept: {error}"),
        }
    };
    stream.set_nonblocking(false).expect("blocking stream");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    let mut received = String::new();
    stream.read_to_string(&mut received).expect("read");
    received
}

#[test]
fn loopback_is_up_inside_and_answers_on_127_0_0_1() {
    if !require_root("loopback_is_up_inside_and_answers_on_127_0_0_1") {
        return;
    }
    let host = NetnsThread::new(DEADLINE);
    let script = format!(
        "ip link show lo && (echo over-lo | nc -l -p 7100 &) && {}",
        send_script(IpAddr::from([127, 0, 0, 1]), 7100, "unused")
    );
    let (process, stdout) = start(&host, plan(&script, vec![Interface::Loopback]));
    let output = finish(process, stdout);
    let first = output.lines().next().unwrap_or_default();
    assert!(first.contains("<LOOPBACK,UP,LOWER_UP>"), "{output}");
    assert!(output.contains("over-lo"), "{output}");
}

#[test]
fn without_a_loopback_entry_lo_stays_down() {
    if !require_root("without_a_loopback_entry_lo_stays_down") {
        return;
    }
    let host = NetnsThread::new(DEADLINE);
    let (process, stdout) = start(&host, plan("ip link show lo", Vec::new()));
    let output = finish(process, stdout);
    assert!(output.contains("<LOOPBACK>"), "{output}");
}

#[test]
fn a_veth_carries_tcp_both_ways_over_ipv4_and_ipv6() {
    if !require_root("a_veth_carries_tcp_both_ways_over_ipv4_and_ipv6") {
        return;
    }
    let subnet = 20;
    let host = NetnsThread::new(DEADLINE);
    // The stand-in host listens before the launch: the container sends as
    // soon as its end is addressed and up.
    let listeners: Vec<TcpListener> = [ipv4(subnet, 1), ipv6(subnet, 1)]
        .into_iter()
        .map(|_| host.run(|| TcpListener::bind(("::", 0))).expect("listen"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().expect("address").port())
        .collect();
    let script = format!(
        "{} && {} && echo pong4 | nc -l -p 7200 && echo pong6 | nc -l -p 7200",
        send_script(ipv4(subnet, 1), ports[0], "ping4"),
        send_script(ipv6(subnet, 1), ports[1], "ping6"),
    );
    let networks = vec![Interface::Loopback, Interface::Veth(veth("crvtcp", subnet, 2))];
    let (process, stdout) = start(&host, plan(&script, networks));
    address_gateway(&host, "crvtcp", subnet);

    assert_eq!(accept_from(&listeners[0]), "ping4\n");
    assert_eq!(accept_from(&listeners[1]), "ping6\n");
    assert_eq!(
        receive_from(&host, SocketAddr::new(ipv4(subnet, 2), 7200)),
        "pong4\n"
    );
    assert_eq!(
        receive_from(&host, SocketAddr::new(ipv6(subnet, 2), 7200)),
        "pong6\n"
    );
    finish(process, stdout);
}

#[test]
fn the_default_routes_inside_go_through_the_configured_gateways() {
    if !require_root("the_default_routes_inside_go_through_the_configured_gateways") {
        return;
    }
    let subnet = 21;
    let host = NetnsThread::new(DEADLINE);
    let networks = vec![Interface::Veth(veth("crvroute", subnet, 2))];
    let script = "ip -4 route show default; ip -6 route show default; ip -o addr show eth0";
    let (process, stdout) = start(&host, plan(script, networks));
    let output = finish(process, stdout);
    assert!(
        output.contains(&format!("default via {} dev eth0", ipv4(subnet, 1))),
        "{output}"
    );
    assert!(
        output.contains(&format!("default via {} dev eth0", ipv6(subnet, 1))),
        "{output}"
    );
    assert!(
        output.contains(&format!("inet {}/24", ipv4(subnet, 2))),
        "{output}"
    );
    assert!(
        output.contains(&format!("inet6 {}/64", ipv6(subnet, 2))),
        "{output}"
    );
    // The host end is up in the stand-in host, and goes with the
    // container's network namespace.
    let deadline = Instant::now() + DEADLINE;
    while host.link_names().iter().any(|name| name == "crvroute") {
        assert!(
            Instant::now() < deadline,
            "host end still there after the container"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn two_containers_on_a_bridge_reach_each_other() {
    if !require_root("two_containers_on_a_bridge_reach_each_other") {
        return;
    }
    let subnet = 22;
    let host = NetnsThread::new(DEADLINE);
    host.run(|| bridge::create("crvbr")).expect("create the bridge");
    let on_bridge = |host_name: &str, address: u8| {
        let veth = Veth {
            bridge: Some("crvbr".to_owned()),
            ..veth(host_name, subnet, address)
        };
        vec![Interface::Veth(veth)]
    };
    let server = start(
        &host,
        plan("echo across-the-bridge | nc -l -p 7300", on_bridge("crvbra", 2)),
    );
    let client = start(
        &host,
        plan(
            &send_script(ipv6(subnet, 2), 7300, "hello"),
            on_bridge("crvbrb", 3),
        ),
    );
    let links = host.run(inspect::links).expect("links");
    let bridge_index = links.iter().find(|l| l.name == "crvbr").expect("bridge").index;
    for end in ["crvbra", "crvbrb"] {
        let link = links.iter().find(|l| l.name == end).expect("host end");
        assert_eq!(link.controller, Some(bridge_index), "{end}");
    }
    assert_eq!(finish(client.0, client.1), "across-the-bridge\n");
    finish(server.0, server.1);
    host.run(|| bridge::remove("crvbr")).expect("remove the bridge");
}

/// Serializes the tests that act on the real host's link table.
static REAL_HOST: Mutex<()> = Mutex::new(());

fn real_host() -> MutexGuard<'static, ()> {
    REAL_HOST.lock().unwrap_or_else(PoisonError::into_inner)
}

fn assert_no_test_interface_on_the_real_host() {
    let left: Vec<String> = inspect::links()
        .expect("list host links")
        .into_iter()
        .map(|link| link.name)
        .filter(|name| name.starts_with(PREFIX))
        .collect();
    assert!(left.is_empty(), "left on the host: {left:?}");
}

/// [`LinuxLaunch`], holding on to the child's network namespace once an
/// interface is made for it: the kernel then cannot take the pair away
/// with the namespace, and only the launch's own cleanup removes it.
struct Pinning {
    launch: LinuxLaunch,
    netns: Option<OwnedFd>,
}

impl Clock for Pinning {
    fn now(&mut self) -> Time {
        self.launch.now()
    }
}

impl Processes for Pinning {
    fn spawn(&mut self, spawn: &Spawn) -> Result<Pid, CommandError> {
        self.launch.spawn(spawn)
    }
    fn write_id_maps(&mut self, pid: Pid, maps: &IdMaps) -> Result<(), CommandError> {
        self.launch.write_id_maps(pid, maps)
    }
    fn release(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.launch.release(pid)
    }
    fn start(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.launch.start(pid)
    }
    fn hand_off(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.launch.hand_off(pid)
    }
    fn adopt(&mut self, helper: Pid, pid: Pid) -> Result<(), CommandError> {
        self.launch.adopt(helper, pid)
    }
    fn kill(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.launch.kill(pid)
    }
    fn reap(&mut self, pid: Pid) -> Result<(), CommandError> {
        Processes::reap(&mut self.launch, pid)
    }
    fn reap_strays(&mut self, helper: Pid) -> Result<(), CommandError> {
        self.launch.reap_strays(helper)
    }
}

impl Cgroups for Pinning {
    fn create_cgroup(&mut self) -> Result<(), CommandError> {
        self.launch.create_cgroup()
    }
    fn apply_cgroup(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.launch.apply_cgroup(pid)
    }
    fn enter_cgroup(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.launch.enter_cgroup(pid)
    }
    fn destroy_cgroup(&mut self) -> Result<(), CommandError> {
        self.launch.destroy_cgroup()
    }
}

impl Interfaces for Pinning {
    fn create_interface(
        &mut self,
        pid: Pid,
        index: usize,
        interface: &Interface,
    ) -> Result<(), CommandError> {
        if self.netns.is_none() {
            self.netns = Some(host::open_netns(pid).expect("open the child's network namespace"));
        }
        self.launch.create_interface(pid, index, interface)
    }
    fn remove_interface(&mut self, index: usize, interface: &Interface) -> Result<(), CommandError> {
        self.launch.remove_interface(index, interface)
    }
}

impl Channel for Pinning {
    fn send(&mut self, bytes: &[u8], deadline: Time) -> Result<(), CommandError> {
        Channel::send(&mut self.launch, bytes, deadline)
    }
    fn shutdown_write(&mut self) -> Result<(), CommandError> {
        self.launch.shutdown_write()
    }
    fn close(&mut self) -> Result<(), CommandError> {
        self.launch.close()
    }
}

impl Wait for Pinning {
    fn wait(&mut self, deadline: Option<Time>, read: bool, buf: &mut [u8]) -> Wake {
        self.launch.wait(deadline, read, buf)
    }
}

/// Runs `plan` to its failure in the real host's network namespace,
/// pinning the child's; that namespace's interfaces once it is over.
fn failed_launch(plan: Plan) -> (LaunchError, Vec<String>) {
    let mut launch = Launch::new(plan, cradle_linux::clock::now()).expect("a valid plan");
    let mut backend = Pinning {
        launch: LinuxLaunch::new(Options::new().init_binary(INIT)).expect("backend"),
        netns: None,
    };
    let error = driver::drive(&mut launch, &mut backend).expect_err("the launch fails");
    let netns = backend.netns.take().expect("an interface was made");
    drop(backend);
    let inside = NetnsThread::inside(netns, DEADLINE).link_names();
    (error, inside)
}

#[test]
fn a_launch_that_fails_after_the_veth_was_made_removes_it() {
    if !require_root("a_launch_that_fails_after_the_veth_was_made_removes_it") {
        return;
    }
    let _host = real_host();
    // No address on either end: nothing reaches the host's routes.
    let bare = |host_name: &str| Veth {
        host_name: host_name.to_owned(),
        peer_name: net::temp_peer_name(),
        name: "eth0".to_owned(),
        ..Veth::default()
    };
    let mut command_fails = plan("exec /no/such/command", vec![Interface::Veth(bare("crvfail1"))]);
    command_fails.config.args = vec!["/no/such/command".to_owned()];
    let (error, inside) = failed_launch(command_fails);
    assert!(matches!(error, LaunchError::Child { .. }), "{error}");
    assert_eq!(inside, ["lo"], "the peer went with its host end");
    assert_no_test_interface_on_the_real_host();

    // The second veth cannot be made (no such bridge): the first goes.
    let second = Veth {
        name: "eth1".to_owned(),
        bridge: Some("crvnobridge".to_owned()),
        ..bare("crvfail3")
    };
    let networks = vec![Interface::Veth(bare("crvfail2")), Interface::Veth(second)];
    let (error, inside) = failed_launch(plan("true", networks));
    assert!(
        matches!(
            error,
            LaunchError::Command {
                step: Step::Network { index: 1 },
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(inside, ["lo"]);
    assert_no_test_interface_on_the_real_host();
}

#[test]
fn a_bad_network_config_is_refused_before_anything_is_made() {
    if !require_root("a_bad_network_config_is_refused_before_anything_is_made") {
        return;
    }
    let _host = real_host();
    let multicast_mac = Veth {
        mac: Some("01:00:5e:00:00:01".to_owned()),
        ..veth("crvbadmac", 23, 2)
    };
    let result = Process::start(
        plan("true", vec![Interface::Veth(multicast_mac)]),
        Options::new().init_binary(INIT),
    );
    assert!(matches!(result, Err(Error::Net(_))), "{result:?}");

    // Interfaces without a network namespace of the container's own would
    // land on the host.
    let mut on_the_host = plan("true", vec![Interface::Veth(veth("crvnons", 23, 2))]);
    on_the_host
        .config
        .namespaces
        .retain(|ns| ns.kind != NamespaceKind::Net);
    let result = Process::start(on_the_host, Options::new().init_binary(INIT));
    assert!(matches!(result, Err(Error::Plan { .. })), "{result:?}");
    let mut lo_of_the_host = plan("true", vec![Interface::Loopback]);
    lo_of_the_host
        .config
        .namespaces
        .retain(|ns| ns.kind != NamespaceKind::Net);
    let result = Process::start(lo_of_the_host, Options::new().init_binary(INIT));
    assert!(matches!(result, Err(Error::Plan { .. })), "{result:?}");
    assert_no_test_interface_on_the_real_host();
}

#[test]
fn no_test_interface_is_left_on_the_real_host() {
    if !require_root("no_test_interface_is_left_on_the_real_host") {
        return;
    }
    let _host = real_host();
    assert_no_test_interface_on_the_real_host();
}
