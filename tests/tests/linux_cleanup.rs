//! A cgroup command the kernel carries out in part, on the real kernel as
//! root, and the mock given the equivalent fault: the two must end alike
//! (the launch's error and step, its cleanup failures, and which
//! hierarchies still hold the launch's cgroup directory).
//!
//! - The removal refused: one hierarchy's directory is a mount point (the
//!   directory bound onto itself, in a mount namespace of the test's
//!   thread alone), so its `rmdir` fails with `EBUSY`. The launch, failing
//!   for a command that does not exist, reports `DestroyCgroup` as a
//!   failed cleanup and leaves that one directory; the others are removed.
//!   (A process put into the cgroup would not do: the removal kills every
//!   process in it first.) The mock: `Fault::FailPartway` on
//!   `DestroyCgroup`.
//! - The create stopped partway: a directory of the launch's name made
//!   beforehand in one hierarchy. The create fails with `EEXIST` there and
//!   removes what it made in the hierarchies before; only the directory
//!   made beforehand is left. The mock: the same directory in its kernel.
//!
//! Every cgroup is made below the test process's own and removed by the
//! test, whatever the outcome.
#![forbid(unsafe_code)]

use std::fs;
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use cradle_core::{driver, ChildStep, Launch, LaunchError, Plan, Step, Time};
use cradle_linux::cgroup::CgroupConfig;
use cradle_linux::{clock, LinuxLaunch, Options};
use cradle_mock::{At, Fault, Kernel, MockBackend, ProcessPoint, HIERARCHIES};
use cradle_tests::linux::{self, cgroup_dirs_of, unique, BusyboxRootfs};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// The init binary of the launches.
const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

/// The hierarchy (in the order of the host's layout, and of the mock's)
/// whose directory the kernel refuses, or has already.
const REFUSING: usize = 4;

/// How long a launch may take: generous, for a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How a launch ended, as both worlds tell it.
#[derive(Debug, PartialEq, Eq)]
struct Ending {
    /// The step its error names.
    step: Step,
    /// Its error, by kind and errno.
    why: String,
    /// Its failed cleanup commands, by name and errno.
    cleanup_failures: Vec<(String, Option<i32>)>,
    /// The hierarchies that still hold a directory of the launch's name.
    left_in: Vec<usize>,
}

impl Ending {
    fn of(launch: &Launch, result: Result<cradle_core::Pid, LaunchError>, left_in: Vec<usize>) -> Ending {
        let error = result.expect_err("the launch must fail");
        let why = match &error {
            LaunchError::Child { error, .. } => format!("child {} {:?}", error.step, error.errno),
            LaunchError::Command { error, .. } => format!("command {:?}", error.errno),
            other => format!("{other}"),
        };
        let cleanup_failures = launch
            .cleanup_failures()
            .iter()
            .map(|failure| (command_name(&failure.command), failure.error.errno))
            .collect();
        Ending {
            step: error.step(),
            why,
            cleanup_failures,
            left_in,
        }
    }
}

/// `DestroyCgroup`, `Kill`, ...: a command's name without its arguments.
fn command_name(command: &cradle_core::Command) -> String {
    let debug = format!("{command:?}");
    debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
}

/// An init in new namespaces, in a busybox rootfs, with a cgroup, whose
/// command does not exist: it fails at its set-up's last step.
fn missing_command(rootfs: &BusyboxRootfs) -> Plan {
    let mut plan = Plan::init(linux::in_busybox(rootfs, ["/no/such/command"]));
    plan.cgroup = true;
    plan.timeout = TIMEOUT;
    plan
}

/// The directories of a cgroup named `name` below this process's own, one
/// per hierarchy; removed on drop (after unmounting the one bound onto
/// itself, if any), whatever the test came to.
struct TestCgroup {
    dirs: Vec<PathBuf>,
    mounted: Option<PathBuf>,
}

impl TestCgroup {
    fn named(name: &str) -> TestCgroup {
        let dirs: Vec<PathBuf> = cgroup_dirs_of("self")
            .into_iter()
            .map(|dir| dir.join(name))
            .collect();
        assert!(
            dirs.len() > REFUSING,
            "this host mounts {} cgroup hierarchies: too few for the test",
            dirs.len()
        );
        TestCgroup { dirs, mounted: None }
    }

    /// The hierarchies that hold the directory, in order.
    fn left_in(&self) -> Vec<usize> {
        (0..self.dirs.len()).filter(|&h| self.dirs[h].exists()).collect()
    }

    /// Makes the directory of `hierarchy` a mount point, once it exists:
    /// the kernel then refuses to remove it (`EBUSY`).
    fn pin_once_made(&mut self, hierarchy: usize) {
        let dir = &self.dirs[hierarchy];
        if self.mounted.is_none() && dir.exists() {
            mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .unwrap_or_else(|e| panic!("bind {} onto itself: {e}", dir.display()));
            self.mounted = Some(dir.clone());
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Some(dir) = self.mounted.take() {
            let _ = umount2(&dir, MntFlags::MNT_DETACH);
        }
        for dir in self.dirs.iter().filter(|dir| dir.exists()) {
            if let Err(error) = fs::remove_dir(dir) {
                eprintln!("rmdir {}: {error}", dir.display());
            }
        }
    }
}

/// Runs `body` on a thread of its own, in a mount namespace of that
/// thread's own whose mounts propagate nowhere: what it mounts never
/// reaches the host, and goes with the thread.
fn in_private_mounts<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNS).expect("unshare(CLONE_NEWNS)");
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("make every mount private");
        body()
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn linux_removal_refused() -> Ending {
    in_private_mounts(|| {
        let rootfs = BusyboxRootfs::new();
        let name = unique("cradle-test-cleanup");
        let mut cgroup = TestCgroup::named(&name);
        let options = Options::new().init_binary(INIT).cgroup(CgroupConfig {
            name,
            ..CgroupConfig::default()
        });
        let mut launch = Launch::new(missing_command(&rootfs), clock::now()).expect("a valid plan");
        let mut backend = LinuxLaunch::new(options).expect("the backend");
        let result = driver::drive_with(&mut launch, &mut backend, |_, _| cgroup.pin_once_made(REFUSING));
        drop(backend);
        assert!(cgroup.mounted.is_some(), "the launch never made its cgroup");
        Ending::of(&launch, result, cgroup.left_in())
    })
}

fn mock_removal_refused() -> Ending {
    let faults = [
        Fault::Refuse {
            at: At::Process(ProcessPoint::SetUp(ChildStep::Exec)),
            errno: libc::ENOENT,
        },
        Fault::FailPartway {
            command: cradle_mock::CommandKind::DestroyCgroup,
            after: REFUSING,
            errno: libc::EBUSY,
        },
    ];
    let rootfs = BusyboxRootfs::new();
    let mut backend = MockBackend::new(Kernel::new(), cradle_mock::Options::default(), faults);
    let mut launch = Launch::new(missing_command(&rootfs), Time::ZERO).expect("a valid plan");
    let result = driver::drive(&mut launch, &mut backend);
    assert!(
        backend.pending_faults().is_empty(),
        "{:?}",
        backend.pending_faults()
    );
    let left_in = mock_left_in(&backend, backend.cgroup_path());
    Ending::of(&launch, result, left_in)
}

/// The hierarchies of the mock's kernel that hold the cgroup `path`.
fn mock_left_in(backend: &MockBackend, path: &str) -> Vec<usize> {
    let left_in = backend
        .kernel()
        .cgroup(path)
        .map(|c| c.hierarchies())
        .unwrap_or_default();
    assert!(left_in.iter().all(|&h| h < HIERARCHIES));
    left_in
}

#[test]
fn a_cgroup_directory_the_kernel_will_not_remove_is_a_failed_cleanup_in_both_worlds() {
    if !linux::require_root(
        "a_cgroup_directory_the_kernel_will_not_remove_is_a_failed_cleanup_in_both_worlds",
    ) {
        return;
    }
    let expected = Ending {
        step: Step::AwaitReady,
        why: format!("child {} {:?}", ChildStep::Exec, Some(libc::ENOENT)),
        cleanup_failures: vec![("DestroyCgroup".to_owned(), Some(libc::EBUSY))],
        left_in: vec![REFUSING],
    };
    assert_eq!(linux_removal_refused(), expected, "linux");
    assert_eq!(mock_removal_refused(), expected, "mock");
}

fn linux_create_stopped() -> Ending {
    let rootfs = BusyboxRootfs::new();
    let name = unique("cradle-test-cleanup");
    let cgroup = TestCgroup::named(&name);
    fs::create_dir(&cgroup.dirs[REFUSING]).expect("the directory made beforehand");
    let options = Options::new().init_binary(INIT).cgroup(CgroupConfig {
        name,
        ..CgroupConfig::default()
    });
    let mut launch = Launch::new(missing_command(&rootfs), clock::now()).expect("a valid plan");
    let mut backend = LinuxLaunch::new(options).expect("the backend");
    let result = driver::drive(&mut launch, &mut backend);
    drop(backend);
    Ending::of(&launch, result, cgroup.left_in())
}

fn mock_create_stopped() -> Ending {
    let path = "/cradle-in-use";
    let mut kernel = Kernel::new();
    kernel
        .make_cgroup_in(path, REFUSING)
        .expect("the directory made beforehand");
    let options = cradle_mock::Options {
        cgroup: Some(path.to_owned()),
        ..cradle_mock::Options::default()
    };
    let rootfs = BusyboxRootfs::new();
    let mut backend = MockBackend::new(kernel, options, []);
    let mut launch = Launch::new(missing_command(&rootfs), Time::ZERO).expect("a valid plan");
    let result = driver::drive(&mut launch, &mut backend);
    assert!(backend.leftovers().is_empty(), "{:?}", backend.leftovers());
    let left_in = mock_left_in(&backend, path);
    Ending::of(&launch, result, left_in)
}

#[test]
fn a_cgroup_create_that_meets_a_directory_partway_removes_what_it_made_in_both_worlds() {
    if !linux::require_root(
        "a_cgroup_create_that_meets_a_directory_partway_removes_what_it_made_in_both_worlds",
    ) {
        return;
    }
    let expected = Ending {
        step: Step::CreateCgroup,
        why: format!("command {:?}", Some(libc::EEXIST)),
        cleanup_failures: Vec::new(),
        left_in: vec![REFUSING],
    };
    assert_eq!(linux_create_stopped(), expected, "linux");
    assert_eq!(mock_create_stopped(), expected, "mock");
}
