//! The whole life of `/bin/true` in new namespaces: cradle against
//! `unshare --fork` of the same namespaces, timed the same way (from before
//! the spawn to after the reap), interleaved so both see the same machine.
//! Then exec latency: `/bin/true` in a running container, cradle's setns
//! process against `nsenter -t <pid> -a`, the same way. Last, the cost of
//! networking: a new network namespace bare, with `lo` up, and with a veth
//! pair, against `unshare --net`.
//!
//! Run as root with `bench/run [iterations]`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cradle_core::config::{IpNet, Veth};
use cradle_core::{Config, Interface, Namespace, NamespaceKind, Plan};
use cradle_linux::{net, Container, Options, Process};

#[path = "support/small_init.rs"]
mod small_init;

const DEFAULT_ITERATIONS: usize = 300;
const WARMUP: usize = 20;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the benchmark creates namespaces: run it as root");
        std::process::exit(1);
    }
    let iterations = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS);
    let base = [
        NamespaceKind::Pid,
        NamespaceKind::Mount,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
    ];
    let with_net = [
        NamespaceKind::Pid,
        NamespaceKind::Mount,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
        NamespaceKind::Net,
    ];
    println!("/bin/true, start to reap, {iterations} runs each (after {WARMUP} warm-up runs), interleaved");
    println!(
        "{:<28} {:>11} {:>11} {:>11} {:>13}",
        "namespaces / launcher", "mean", "median", "p90", "median ratio"
    );
    for kinds in [&base[..], &with_net[..]] {
        bench(kinds, iterations);
    }
    println!();
    println!("/bin/true in a running container, start to reap, {iterations} runs each, interleaved");
    bench_exec(&with_net, iterations);
    println!();
    println!("/bin/true with networking, start to reap, {iterations} runs each, interleaved");
    bench_network(&with_net, iterations);
}

/// A new network namespace bare (as `unshare --net` makes it), with `lo`
/// up, and with `lo` and a configured veth pair.
///
/// The benchmark first moves into a network namespace of its own: the
/// veths' host ends never appear on the host.
fn bench_network(kinds: &[NamespaceKind], iterations: usize) {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("a network namespace for the benchmark");
    let veth = || {
        // Each launch its own name: the kernel removes a pair with its
        // container's namespace, in the background.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Interface::Veth(Veth {
            host_name: format!("crb{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            peer_name: net::temp_peer_name(),
            name: "eth0".to_owned(),
            addresses: vec![IpNet {
                address: [10, 213, 30, 2].into(),
                prefix: 24,
            }],
            gateway: Some([10, 213, 30, 1].into()),
            ..Veth::default()
        })
    };
    let launchers = [
        Launcher {
            name: "unshare --fork --net",
            run: Box::new(unshare(kinds)),
            samples: Vec::new(),
        },
        Launcher {
            name: "cradle (net)",
            run: Box::new(cradle_with(kinds, Vec::new)),
            samples: Vec::new(),
        },
        Launcher {
            name: "cradle (net + lo)",
            run: Box::new(cradle_with(kinds, || vec![Interface::Loopback])),
            samples: Vec::new(),
        },
        Launcher {
            name: "cradle (net + lo + veth)",
            run: Box::new(cradle_with(kinds, move || vec![Interface::Loopback, veth()])),
            samples: Vec::new(),
        },
    ];
    let names: Vec<&str> = kinds.iter().map(|kind| kind.proc_name()).collect();
    println!("{}, cradle-init", names.join(","));
    run_and_report(launchers, iterations);
}

/// [`cradle`] with `cradle-init` and the interfaces `networks` makes.
fn cradle_with(kinds: &[NamespaceKind], networks: impl Fn() -> Vec<Interface>) -> impl Fn() {
    let mut config = Config::new(["/bin/true"]);
    config.namespaces = kinds.iter().map(|&kind| Namespace::new(kind)).collect();
    move || {
        let mut config = config.clone();
        config.networks = networks();
        let options = small_init::options();
        let mut process = Process::start(Plan::init(config), options).expect("cradle launch");
        let status = process.wait().expect("cradle wait");
        assert!(status.success(), "/bin/true in cradle: {status}");
    }
}

/// One way of running `/bin/true` in new `kinds` namespaces.
struct Launcher {
    name: &'static str,
    run: Box<dyn Fn()>,
    samples: Vec<Duration>,
}

fn bench(kinds: &[NamespaceKind], iterations: usize) {
    let launchers = [
        Launcher {
            name: "unshare --fork",
            run: Box::new(unshare(kinds)),
            samples: Vec::new(),
        },
        Launcher {
            name: "cradle (self as init)",
            run: Box::new(cradle(kinds, None)),
            samples: Vec::new(),
        },
        Launcher {
            name: "cradle (cradle-init)",
            run: Box::new(cradle(kinds, small_init::path())),
            samples: Vec::new(),
        },
    ];
    let names: Vec<&str> = kinds.iter().map(|kind| kind.proc_name()).collect();
    println!("{}", names.join(","));
    run_and_report(launchers, iterations);
}

/// Exec latency into one container with `kinds` (no cgroup on either side:
/// nsenter enters none).
fn bench_exec(kinds: &[NamespaceKind], iterations: usize) {
    let mut config = Config::new(["/bin/sleep", "100000"]);
    config.namespaces = kinds.iter().map(|&kind| Namespace::new(kind)).collect();
    let mut init = Process::start(Plan::init(config), small_init::options()).expect("start the container");
    let pid = init.pid().as_raw();
    let launchers = [
        Launcher {
            name: "nsenter -a",
            run: Box::new(nsenter(pid)),
            samples: Vec::new(),
        },
        Launcher {
            name: "cradle (self as init)",
            run: Box::new(cradle_exec(&init, None)),
            samples: Vec::new(),
        },
        Launcher {
            name: "cradle (cradle-init)",
            run: Box::new(cradle_exec(&init, small_init::path())),
            samples: Vec::new(),
        },
    ];
    let names: Vec<&str> = kinds.iter().map(|kind| kind.proc_name()).collect();
    println!("exec into {}", names.join(","));
    run_and_report(launchers, iterations);
    init.terminate().expect("stop the container");
}

/// Runs each launcher in turn, `WARMUP` rounds then `iterations`, and prints
/// their statistics against the first one's median.
fn run_and_report<const N: usize>(mut launchers: [Launcher; N], iterations: usize) {
    for round in 0..WARMUP + iterations {
        for launcher in &mut launchers {
            let started = Instant::now();
            (launcher.run)();
            if round >= WARMUP {
                launcher.samples.push(started.elapsed());
            }
        }
    }
    let reference = median(&mut launchers[0].samples.clone());
    for launcher in &mut launchers {
        let mean = launcher.samples.iter().sum::<Duration>() / launcher.samples.len() as u32;
        let median = median(&mut launcher.samples);
        let p90 = launcher.samples[launcher.samples.len() * 9 / 10];
        println!(
            "  {:<26} {:>11} {:>11} {:>11} {:>12.2}x",
            launcher.name,
            micros(mean),
            micros(median),
            micros(p90),
            median.as_secs_f64() / reference.as_secs_f64()
        );
    }
}

fn cradle(kinds: &[NamespaceKind], init: Option<PathBuf>) -> impl Fn() {
    let mut config = Config::new(["/bin/true"]);
    config.namespaces = kinds.iter().map(|&kind| Namespace::new(kind)).collect();
    move || {
        let options = match &init {
            Some(init) => Options::new().init_binary(init),
            None => Options::new(),
        };
        let mut process = Process::start(Plan::init(config.clone()), options).expect("cradle launch");
        let status = process.wait().expect("cradle wait");
        assert!(status.success(), "/bin/true in cradle: {status}");
    }
}

fn cradle_exec(init: &Process, binary: Option<PathBuf>) -> impl Fn() {
    let pid = init.pid();
    let start_time = init.start_time().expect("the container's start time");
    move || {
        // As `cradle exec` would: the container named by pid and start time.
        let container = Container::open(pid, start_time).expect("the container");
        let options = match &binary {
            Some(binary) => Options::new().init_binary(binary),
            None => Options::new(),
        };
        let mut plan = Plan::setns(Config::new(["/bin/true"]));
        plan.setns_entry = container.setns_entry(None);
        let mut process = Process::start(plan, options.container(container)).expect("cradle exec");
        let status = process.wait().expect("cradle wait");
        assert!(status.success(), "/bin/true in cradle exec: {status}");
    }
}

fn nsenter(pid: i32) -> impl Fn() {
    let target = pid.to_string();
    move || {
        let status = Command::new("nsenter")
            .args(["-t", &target, "-a", "/bin/true"])
            .status()
            .expect("nsenter");
        assert!(status.success(), "nsenter: {status}");
    }
}

fn unshare(kinds: &[NamespaceKind]) -> impl Fn() {
    let mut args = vec!["--fork"];
    for kind in kinds {
        args.push(match kind {
            NamespaceKind::Pid => "--pid",
            NamespaceKind::Mount => "--mount",
            NamespaceKind::Uts => "--uts",
            NamespaceKind::Ipc => "--ipc",
            NamespaceKind::Net => "--net",
            other => panic!("no unshare flag for {other:?} here"),
        });
    }
    // A new pid namespace with the host's /proc would show the host's
    // processes; cradle mounts a fresh /proc there, and so does this.
    args.extend(["--mount-proc", "/bin/true"]);
    move || {
        let status = Command::new("unshare").args(&args).status().expect("unshare");
        assert!(status.success(), "unshare: {status}");
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn micros(duration: Duration) -> String {
    format!("{:.0} µs", duration.as_secs_f64() * 1e6)
}
