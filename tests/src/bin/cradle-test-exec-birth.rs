//! A single-threaded launcher, as `cradle exec` is, for the setns suite's
//! test of where a cloned process is born (`linux_setns.rs`): run with the
//! static init binary's path, it starts a container, freezes its cgroup2
//! directory (a process cloned into a frozen cgroup stops before its first
//! instruction), clones a process into the container from its step hook's
//! view, reads where the newborn is, thaws, and prints four lines: this
//! launcher's thread count at the clone, then the newborn's, the
//! container's and the host's mount and network namespaces and root.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cradle_core::{Config, ExitStatus, NamespaceKind, Plan, SetnsEntry, Step};
use cradle_linux::cgroup::CgroupConfig;
use cradle_linux::{Container, Options, Process};
use cradle_tests::linux::birth::View;
use cradle_tests::linux::{children, new_namespaces, unique, BusyboxRootfs, DEADLINE};

/// What the step hook needs and finds: the container's init and cgroup2
/// directory, then the newborn's view and the thread count.
static SEEN: Mutex<Seen> = Mutex::new(Seen {
    init: 0,
    freeze: None,
    newborn: None,
});

struct Seen {
    init: i32,
    freeze: Option<std::path::PathBuf>,
    newborn: Option<(String, View)>,
}

fn main() {
    let init_binary = std::env::args()
        .nth(1)
        .expect("usage: cradle-test-exec-birth <static init binary>");
    let rootfs = BusyboxRootfs::new();
    let mut config = Config::new(["/bin/sleep", "1000"]);
    config.namespaces = new_namespaces(&[
        NamespaceKind::Mount,
        NamespaceKind::Pid,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
        NamespaceKind::Net,
    ]);
    config.rootfs = Some(rootfs.path().to_owned());
    let mut plan = Plan::init(config);
    plan.cgroup = true;
    let options = Options::new().init_binary(&init_binary).cgroup(CgroupConfig {
        adopt_empty: false,
        name: unique("cradle-exec-birth"),
        ..CgroupConfig::default()
    });
    let init = Process::start(plan, options).expect("start the container");
    let init = Ended(init);
    let paths = init.0.cgroup().expect("the container's cgroup").paths().clone();
    let v2 = paths.v2().expect("a cgroup2 directory").path.clone();
    freeze(&v2, true);
    {
        let mut seen = SEEN.lock().expect("seen");
        seen.init = init.0.pid().as_raw();
        seen.freeze = Some(v2);
    }

    let mut exec = Plan::setns(Config::new(["/bin/true"]));
    exec.cgroup = true;
    exec.setns_entry = SetnsEntry::Clone;
    let options = Options::new()
        .init_binary(&init_binary)
        .container(Container::of(&init.0).expect("the running container"))
        .container_cgroups(paths)
        .on_step(at_step);
    let result = Process::start(exec, options).and_then(|mut process| process.wait_timeout(DEADLINE));
    let container = View::of(&init.0.pid().to_string());
    drop(init);
    assert_eq!(result.expect("the exec"), Some(ExitStatus::Exited(0)));
    let (threads, newborn) = SEEN.lock().expect("seen").newborn.take().expect("a newborn seen");
    println!("{threads}");
    println!("{newborn:?}");
    println!("{container:?}");
    println!("{:?}", View::of("self"));
}

/// The container, thawed (its exec may have failed before the step hook
/// thawed it), ended and its cgroup removed when dropped, a panic
/// included.
struct Ended(Process);

impl Drop for Ended {
    fn drop(&mut self) {
        if let Some(dir) = self.0.cgroup().and_then(|cgroup| cgroup.paths().v2()) {
            let _ = std::fs::write(dir.path.join("cgroup.freeze"), "0");
        }
        let _ = self.0.terminate();
        if let Some(cgroup) = self.0.cgroup() {
            let _ = cgroup.destroy();
        }
    }
}

/// At `SendConfig`, right after the clone: the newborn is stopped in the
/// frozen cgroup; its view is read, then the cgroup thawed.
fn at_step(step: Step) {
    if step != Step::SendConfig {
        return;
    }
    let mut seen = SEEN.lock().expect("seen");
    let newborn = children()
        .into_iter()
        .find(|&pid| pid != seen.init)
        .expect("the newborn");
    let stat = std::fs::read_to_string("/proc/self/stat").expect("own stat");
    let threads = stat
        .rsplit(')')
        .next()
        .and_then(|fields| fields.split_whitespace().nth(17))
        .expect("num_threads")
        .to_owned();
    seen.newborn = Some((threads, View::of(&newborn.to_string())));
    if let Some(dir) = &seen.freeze {
        freeze(dir, false);
    }
}

/// Freezes or thaws the cgroup2 directory `dir`, and waits until it is so.
fn freeze(dir: &std::path::Path, frozen: bool) {
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    std::fs::write(dir.join("cgroup.freeze"), if frozen { "1" } else { "0" }).expect("cgroup.freeze");
    let deadline = Instant::now() + DEADLINE;
    while !std::fs::read_to_string(dir.join("cgroup.events"))
        .expect("cgroup.events")
        .lines()
        .any(|line| line == want)
    {
        assert!(Instant::now() < deadline, "{want} never came");
        std::thread::sleep(Duration::from_millis(1));
    }
}
