//! The whole life of `/bin/true` in new namespaces: cradle against
//! `unshare --fork` of the same namespaces, timed the same way (from before
//! the spawn to after the reap), interleaved so both see the same machine.
//!
//! Run as root with `bench/run [iterations]`.

use std::process::Command;
use std::time::{Duration, Instant};

use cradle_core::{Config, Namespace, NamespaceKind, Plan};
use cradle_linux::{Options, Process};

/// The tiny init binary of this crate, for the second cradle column.
const CRADLE_INIT: &str = env!("CARGO_BIN_EXE_cradle-init");

const DEFAULT_ITERATIONS: usize = 300;
const WARMUP: usize = 20;

fn main() {
    // This program is its own default init binary.
    cradle_linux::init();
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
}

/// One way of running `/bin/true` in new `kinds` namespaces.
struct Launcher {
    name: &'static str,
    run: Box<dyn Fn()>,
    samples: Vec<Duration>,
}

fn bench(kinds: &[NamespaceKind], iterations: usize) {
    let mut launchers = [
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
            run: Box::new(cradle(kinds, Some(CRADLE_INIT))),
            samples: Vec::new(),
        },
    ];
    for round in 0..WARMUP + iterations {
        for launcher in &mut launchers {
            let started = Instant::now();
            (launcher.run)();
            if round >= WARMUP {
                launcher.samples.push(started.elapsed());
            }
        }
    }
    let names: Vec<&str> = kinds.iter().map(|kind| kind.proc_name()).collect();
    println!("{}", names.join(","));
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

fn cradle(kinds: &[NamespaceKind], init: Option<&'static str>) -> impl Fn() {
    let mut config = Config::new(["/bin/true"]);
    config.namespaces = kinds.iter().map(|&kind| Namespace::new(kind)).collect();
    move || {
        let options = match init {
            Some(init) => Options::new().init_binary(init),
            None => Options::new(),
        };
        let mut process = Process::start(Plan::init(config.clone()), options).expect("cradle launch");
        let status = process.wait().expect("cradle wait");
        assert!(status.success(), "/bin/true in cradle: {status}");
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
