//! The conformance scenarios over the real kernel, as root.
//!
//! Each trouble is brought about for real: the child killed by the
//! launcher, or at a step it announces; faults of the test init binary
//! (`cradle-test-init`: a stall, garbage on the socket, a forged report);
//! a working directory or command that does not exist; a cgroup directory
//! and an interface made beforehand under the names the launch takes.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command as Shell;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use cradle_core::{driver, ChildStep, Config, Launch, Pid, Plan};
use cradle_linux::cgroup::CgroupConfig;
use cradle_linux::{clock, Container, LinuxLaunch, Options, Process};
use nix::sys::signal::{kill, Signal};
use tempfile::TempDir;

use super::{init_plan, steps_walked, Outcome, Scenario, Shape, Trouble, Verdict, World, INIT_NAMESPACES};
use crate::linux::{self, cgroup_dirs_of, children, new_namespaces, open_fds, unique, BusyboxRootfs};

/// How long a launch may take when nothing stalls: generous, for a loaded
/// machine.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How long a launch that stalls waits: its deadline is the verdict.
const STALL_TIMEOUT: Duration = Duration::from_secs(1);

/// The real kernel, with a busybox rootfs for the inits and, once a setns
/// scenario needs it, a running container to join.
#[allow(missing_debug_implementations)] // holds a rootfs and a process
pub struct LinuxWorld {
    init: PathBuf,
    rootfs: BusyboxRootfs,
    links: TempDir,
    container: Option<Process>,
}

impl LinuxWorld {
    /// A world whose children run `init` (the test init binary).
    pub fn new(init: impl Into<PathBuf>) -> LinuxWorld {
        LinuxWorld {
            init: init.into(),
            rootfs: BusyboxRootfs::new(),
            links: tempfile::tempdir().expect("a directory for the faulty helpers"),
            container: None,
        }
    }

    /// The running container the setns scenarios join, started at first
    /// need: every namespace but user, a busybox rootfs, its own cgroup.
    fn container(&mut self) -> &Process {
        if self.container.is_none() {
            let mut config = Config::new(["/bin/sleep", "1000"]);
            config.namespaces = new_namespaces(&INIT_NAMESPACES);
            config.rootfs = Some(self.rootfs.path().to_owned());
            let mut plan = Plan::init(config);
            plan.cgroup = true;
            plan.timeout = TIMEOUT;
            let options = Options::new().init_binary(&self.init).cgroup(CgroupConfig {
                name: unique("cradle-conformance-box"),
                ..CgroupConfig::default()
            });
            self.container = Some(Process::start(plan, options).expect("the container to join"));
        }
        self.container.as_ref().expect("started")
    }

    /// The plan and options of `scenario`, with its trouble in place.
    fn launch(&mut self, scenario: &Scenario, names: &Names) -> (Plan, Options) {
        let mut options = Options::new().init_binary(&self.init);
        let mut plan = match scenario.shape {
            Shape::Init | Shape::UserNs => {
                if scenario.shape == Shape::Init {
                    options = options.cgroup(CgroupConfig {
                        name: names.cgroup.clone(),
                        ..CgroupConfig::default()
                    });
                }
                init_plan(scenario.shape, self.rootfs.path().to_owned(), &names.veth)
            }
            Shape::Setns => {
                let container = self.container();
                let cgroups = container
                    .cgroup()
                    .expect("the container's cgroup")
                    .paths()
                    .clone();
                let handle = Container::of(container).expect("the running container");
                options = options.container(handle).container_cgroups(cgroups);
                let mut plan = Plan::setns(Config::new(["/bin/true"]));
                plan.cgroup = true;
                plan
            }
        };
        plan.timeout = TIMEOUT;
        plan.config.report_timings = true;
        let fault = |action: &str, step: ChildStep| format!("CRADLE_TEST_FAULT={action}@{step}");
        match scenario.trouble {
            Trouble::KilledAt(step) => plan.config.env.push(fault("announce", step)),
            Trouble::StallsAt(step) => {
                plan.config.env.push(fault("stall", step));
                plan.timeout = STALL_TIMEOUT;
            }
            Trouble::GarbageAt(step) => plan.config.env.push(fault("garbage", step)),
            Trouble::HelperKilledAt(step) => options = options.init_binary(self.helper("announce", step)),
            Trouble::HelperStallsAt(step) => {
                options = options.init_binary(self.helper("stall", step));
                plan.timeout = STALL_TIMEOUT;
            }
            Trouble::ForgedPid => options = options.init_binary(self.helper("forge", ChildStep::Fork)),
            Trouble::MissingCwd => plan.config.cwd = "/no-such-directory".into(),
            Trouble::MissingCommand => plan.config.args = vec!["/no/such/command".to_owned()],
            Trouble::MissingRootfs => plan.config.rootfs = Some(self.rootfs.path().join("no-such-root")),
            Trouble::None | Trouble::KilledBefore(_) | Trouble::CgroupInUse | Trouble::InterfaceInUse => {}
        }
        (plan, options)
    }

    /// The test init under the name `<action>@<step>`: a setns helper has
    /// no config, and takes its fault from its name.
    fn helper(&self, action: &str, step: ChildStep) -> PathBuf {
        let link = self.links.path().join(format!("{action}@{step}"));
        if !link.exists() {
            symlink(&self.init, &link).expect("link the faulty helper");
        }
        link
    }
}

impl Drop for LinuxWorld {
    fn drop(&mut self) {
        if let Some(mut container) = self.container.take() {
            let _ = container.terminate();
            if let Some(cgroup) = container.cgroup() {
                let _ = cgroup.destroy();
            }
        }
    }
}

/// The names a launch takes on the host.
struct Names {
    cgroup: String,
    veth: String,
}

impl Names {
    fn new() -> Names {
        // An interface name has at most 15 bytes.
        let n = unique("c");
        let veth: String = n.chars().filter(char::is_ascii_digit).collect();
        Names {
            cgroup: unique("cradle-conformance"),
            veth: format!("cf{}h", &veth[veth.len().saturating_sub(11)..]),
        }
    }
}

impl World for LinuxWorld {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn run(&mut self, scenario: &Scenario) -> Outcome {
        let names = Names::new();
        let (plan, options) = self.launch(scenario, &names);
        let in_use = InUse::make(scenario.trouble, &names);
        let fds = open_fds();
        let before = children();
        let (announcements, options) = match scenario.trouble {
            Trouble::KilledAt(_) | Trouble::HelperKilledAt(_) => {
                let (read, write) = linux::pipe();
                (Some(read), options.stdout(write))
            }
            _ => (None, options),
        };
        let child = Arc::new(AtomicI32::new(0));
        let killer = announcements.map(|mut announcements| {
            let child = Arc::clone(&child);
            let before = before.clone();
            let helper = matches!(scenario.trouble, Trouble::HelperKilledAt(_));
            thread::spawn(move || {
                let step = linux::read_line(&mut announcements, TIMEOUT);
                assert!(!step.is_empty(), "the child never announced its step");
                // The helper's pid is never the launch's to tell: it is
                // the new child that is not the process.
                let pid = if helper {
                    children().difference(&before).copied().min().expect("the helper")
                } else {
                    child.load(Ordering::SeqCst)
                };
                kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).expect("kill at the announced step");
            })
        });
        let steps;
        let (result, backend) = {
            let mut launch = Launch::new(plan, clock::now()).expect("a valid plan");
            let mut backend = LinuxLaunch::new(options).expect("the backend");
            let mut killed = false;
            let result = driver::drive_with(&mut launch, &mut backend, |launch, _| {
                if let Some(pid) = launch.pid() {
                    child.store(pid.as_raw(), Ordering::SeqCst);
                }
                if let Trouble::KilledBefore(step) = scenario.trouble {
                    if !killed && launch.step() == step {
                        if let Some(pid) = launch.pid() {
                            kill(nix::unistd::Pid::from_raw(pid.as_raw()), Signal::SIGKILL)
                                .expect("kill the child");
                            await_zombie(pid);
                            killed = true;
                        }
                    }
                }
            });
            let mut leftovers = Vec::new();
            if !launch.is_finished() {
                leftovers.push("an unfinished launch".to_owned());
            }
            for failure in launch.cleanup_failures() {
                leftovers.push(format!("a failed cleanup: {failure:?}"));
            }
            steps = steps_walked(launch.child_timings());
            (result, (backend, leftovers))
        };
        if let Some(killer) = killer {
            killer.join().expect("the killer thread");
        }
        let (backend, mut leftovers) = backend;
        let verdict = Verdict::of(&result);
        match result {
            Ok(pid) => end(backend, pid, &names),
            Err(_) => drop(backend),
        }
        in_use.remove();
        leftovers.extend(left_behind(&fds, &before, &names));
        Outcome {
            verdict,
            steps,
            leftovers,
        }
    }
}

/// Waits until the killed child `pid` is a zombie: a `SIGKILL` takes a
/// moment to end a process on Linux, and the scenario is about a child
/// that is dead when the launch gets to its step.
fn await_zombie(pid: Pid) {
    let stat = format!("/proc/{pid}/stat");
    let until = std::time::Instant::now() + TIMEOUT;
    while std::time::Instant::now() < until {
        let state = fs::read_to_string(&stat).unwrap_or_default();
        // The state follows the command name's closing parenthesis.
        if state
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
        {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
    panic!("{pid} is not a zombie {TIMEOUT:?} after SIGKILL");
}

/// Ends a running process: kills it, reaps it, removes its cgroup, and
/// waits for the kernel to remove its veth with its network namespace
/// (which it does after the process is gone, not at once).
fn end(backend: LinuxLaunch, pid: Pid, names: &Names) {
    let mut process = backend.into_process(pid).expect("the running process");
    process.terminate().expect("terminate the process");
    if let Some(cgroup) = process.cgroup() {
        cgroup.destroy().expect("remove the process's cgroup");
    }
    let veth = Path::new("/sys/class/net").join(&names.veth);
    let until = std::time::Instant::now() + TIMEOUT;
    while veth.exists() && std::time::Instant::now() < until {
        thread::sleep(Duration::from_millis(5));
    }
}

/// What a launch left: descriptors and children the test process did not
/// have before, the launch's cgroup directories and its host interface.
fn left_behind(
    fds: &std::collections::BTreeSet<i32>,
    before: &std::collections::BTreeSet<i32>,
    names: &Names,
) -> Vec<String> {
    let mut left = Vec::new();
    let new_fds: Vec<i32> = open_fds().difference(fds).copied().collect();
    if !new_fds.is_empty() {
        left.push(format!("descriptors {new_fds:?}"));
    }
    let new_children: Vec<i32> = children().difference(before).copied().collect();
    if !new_children.is_empty() {
        left.push(format!("children {new_children:?}"));
    }
    for dir in cgroup_dirs_of("self") {
        let cgroup = dir.join(&names.cgroup);
        if cgroup.exists() {
            left.push(format!("cgroup {}", cgroup.display()));
        }
    }
    if Path::new("/sys/class/net").join(&names.veth).exists() {
        left.push(format!("interface {}", names.veth));
    }
    left
}

/// A cgroup directory or interface made beforehand under a launch's name.
enum InUse {
    Nothing,
    Cgroups(Vec<PathBuf>),
    Interface(String),
}

impl InUse {
    fn make(trouble: Trouble, names: &Names) -> InUse {
        match trouble {
            Trouble::CgroupInUse => {
                let dirs: Vec<PathBuf> = cgroup_dirs_of("self")
                    .into_iter()
                    .map(|dir| dir.join(&names.cgroup))
                    .collect();
                for dir in &dirs {
                    fs::create_dir(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                }
                InUse::Cgroups(dirs)
            }
            Trouble::InterfaceInUse => {
                // A veth pair: the kernel here may lack the dummy type.
                let peer = format!("{}q", &names.veth[..names.veth.len() - 1]);
                ip(&["link", "add", &names.veth, "type", "veth", "peer", "name", &peer]);
                InUse::Interface(names.veth.clone())
            }
            _ => InUse::Nothing,
        }
    }

    fn remove(self) {
        match self {
            InUse::Nothing => {}
            InUse::Cgroups(dirs) => {
                for dir in dirs {
                    fs::remove_dir(&dir).unwrap_or_else(|e| panic!("rmdir {}: {e}", dir.display()));
                }
            }
            InUse::Interface(name) => ip(&["link", "del", &name]),
        }
    }
}

fn ip(args: &[&str]) {
    let status = Shell::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?}: {status}");
}
