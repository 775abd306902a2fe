//! Device rules on a real kernel, as root: v1's `devices.allow` and
//! `devices.deny` where a v1 `devices` hierarchy is mounted, and the v2
//! `BPF_CGROUP_DEVICE` program on the cgroup2 tree (which takes a device
//! program whether or not it has controllers).
//!
//! A `sh` child of the test, held at a `read` until it is in the cgroup,
//! tries opens and mknods and reports what the kernel said. A real disk is
//! never opened: the devices refused are `/dev/loop-control` (opened for
//! reading, expected to fail) and block nodes made with `mknod` (expected
//! to fail) in a temporary directory. Every test cgroup is named
//! `cradle-devices-test-<pid>-…` below the test process's own cgroup, and
//! each test ends by checking that none is left.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cradle_core::{Config, Plan};
use cradle_linux::cgroup::{
    Cgroup, CgroupConfig, CgroupError, DeviceAccess, DeviceRule, DeviceType, Layout, Resources, Version,
};
use cradle_linux::{Options, Process};
use cradle_tests::linux::{self, CgroupTurn};

const PREFIX: &str = "cradle-devices-test-";
const DEADLINE: Duration = Duration::from_secs(10);
const INIT: &str = env!("CARGO_BIN_EXE_cradle-test-init");

static NEXT_NAME: AtomicUsize = AtomicUsize::new(0);

fn unique_name(label: &str) -> String {
    let sequence = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{}-{sequence}-{label}", std::process::id())
}

fn config(name: &str, devices: Vec<DeviceRule>) -> CgroupConfig {
    CgroupConfig {
        adopt_empty: false,
        name: name.to_owned(),
        parent: None,
        resources: Resources {
            devices: Some(devices),
            ..Resources::default()
        },
    }
}

/// A cgroup a test made, destroyed when the test ends, however it ends.
struct TestCgroup(Cgroup);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = self.0.destroy();
    }
}

/// What each probe of [`probe_script`] does, by name.
const PROBES: [(&str, &str); 9] = [
    ("null-write", ": >/dev/null"),
    ("null-read", ": </dev/null"),
    ("zero-read", ": </dev/zero"),
    ("zero-write", ": >/dev/zero"),
    ("urandom-read", ": </dev/urandom"),
    ("loop-control-read", ": </dev/loop-control"),
    ("mknod-null", "mknod \"$1/null\" c 1 3"),
    ("mknod-block", "mknod \"$1/block\" b 7 0"),
    ("mknod-char", "mknod \"$1/char\" c 10 237"),
];

/// One line a probe: `name: ok`, or `name: ` and the error.
fn probe_script() -> String {
    let mut script = String::from("read _\n");
    for (name, command) in PROBES {
        script.push_str(&format!(
            "if err=$( {{ {command} ; }} 2>&1 ); then echo '{name}: ok'; else echo \"{name}: $err\"; fi\n"
        ));
    }
    script
}

/// Runs the probes in a child put into the cgroup by `enter` (given the
/// child's pid) before it runs any of them; what each probe reported.
fn probe(enter: impl FnOnce(i32)) -> Vec<(String, String)> {
    let nodes = tempfile::tempdir().expect("a directory for the mknods");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(probe_script())
        .arg("sh")
        .arg(nodes.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let pid = i32::try_from(child.id()).expect("a pid fits an i32");
    enter(pid);
    let mut stdin = child.stdin.take().expect("a held child has a stdin");
    stdin.write_all(b"go\n").expect("release the child");
    drop(stdin);
    let output = child.wait_with_output().expect("the probes end");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .map(|line| {
            let (name, result) = line.split_once(": ").expect("name: result");
            (name.to_owned(), result.to_owned())
        })
        .collect()
}

/// Checks each probe: `allowed` ones succeeded, the others failed with
/// `EPERM`.
fn assert_only(label: &str, results: &[(String, String)], allowed: &[&str]) {
    assert_eq!(results.len(), PROBES.len(), "{label}: {results:?}");
    for (name, result) in results {
        if allowed.contains(&name.as_str()) {
            assert_eq!(result, "ok", "{label}: {name} should be allowed");
        } else {
            assert!(
                result.contains("Operation not permitted"),
                "{label}: {name} should fail with EPERM, got {result:?}"
            );
        }
    }
}

/// What the OCI default list lets through among the probes.
const DEFAULT_ALLOWED: [&str; 6] = [
    "null-write",
    "null-read",
    "zero-read",
    "zero-write",
    "urandom-read",
    "mknod-null",
];

/// The default list, with writing to `/dev/zero` taken away again.
fn default_without_zero_write() -> Vec<DeviceRule> {
    let mut rules = DeviceRule::container_default();
    rules.push(DeviceRule {
        allow: false,
        kind: DeviceType::Char,
        major: Some(1),
        minor: Some(5),
        access: "w".parse().expect("valid access"),
    });
    rules
}

/// The lists to try and what each lets through.
fn cases() -> [(&'static str, Vec<DeviceRule>, Vec<&'static str>); 2] {
    let partial: Vec<&str> = DEFAULT_ALLOWED
        .into_iter()
        .filter(|name| *name != "zero-write")
        .collect();
    [
        (
            "default",
            DeviceRule::container_default(),
            DEFAULT_ALLOWED.to_vec(),
        ),
        ("zero read-only", default_without_zero_write(), partial),
    ]
}

fn assert_removed(cgroup: &Cgroup) {
    for dir in &cgroup.paths().dirs {
        assert!(!dir.path.exists(), "{} is still there", dir.path.display());
    }
}

#[test]
fn the_host_applies_device_rules() {
    let Some(turn) = CgroupTurn::take("the_host_applies_device_rules", PREFIX) else {
        return;
    };
    let host = Layout::detect().expect("detect the host's cgroups");
    let v1 = host
        .hierarchies()
        .iter()
        .any(|h| h.hierarchy.is_v1_with("devices"));
    for (label, rules, allowed) in cases() {
        let cgroup = Cgroup::create(&config(&unique_name(label), rules)).expect("create");
        let cgroup = TestCgroup(cgroup);
        if v1 {
            // The v1 files got the rules; the kernel's list shows the result.
            let dir = cgroup.0.paths().v1_with("devices").expect("a devices directory");
            let list = std::fs::read_to_string(dir.file("devices.list")).expect("devices.list");
            assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{label}: {list}");
            assert!(!list.lines().any(|l| l.starts_with("a ")), "{label}: {list}");
        }
        let results = probe(|pid| cgroup.0.apply(pid).expect("apply"));
        assert_only(label, &results, &allowed);
        cgroup.0.destroy().expect("destroy");
        assert_removed(&cgroup.0);
    }
    turn.finish();
}

#[test]
fn the_v2_program_applies_device_rules_on_the_cgroup2_tree() {
    let Some(turn) = CgroupTurn::take("the_v2_program_applies_device_rules_on_the_cgroup2_tree", PREFIX)
    else {
        return;
    };
    let unified = Layout::detect().expect("detect").only(Version::V2);
    assert!(
        !unified.hierarchies().is_empty(),
        "this host has no cgroup2 tree to attach a device program to"
    );
    for (label, rules, allowed) in cases() {
        let cgroup = Cgroup::create_in(&unified, &config(&unique_name(label), rules)).expect("create");
        let cgroup = TestCgroup(cgroup);
        let [dir] = &cgroup.0.paths().dirs[..] else {
            panic!("one directory: {:?}", cgroup.0.paths());
        };
        assert!(dir.path.join("cgroup.procs").exists());
        let results = probe(|pid| cgroup.0.apply(pid).expect("apply"));
        assert_only(label, &results, &allowed);
        cgroup.0.destroy().expect("destroy");
        assert_removed(&cgroup.0);
    }
    turn.finish();
}

#[test]
fn an_allow_all_rule_lets_everything_through_the_v2_program() {
    let Some(turn) = CgroupTurn::take("an_allow_all_rule_lets_everything_through_the_v2_program", PREFIX)
    else {
        return;
    };
    let unified = Layout::detect().expect("detect").only(Version::V2);
    let mut rules = DeviceRule::container_default();
    rules.push(linux::allow_every_device());
    let cgroup = Cgroup::create_in(&unified, &config(&unique_name("allow-all"), rules)).expect("create");
    let cgroup = TestCgroup(cgroup);
    let results = probe(|pid| cgroup.0.apply(pid).expect("apply"));
    assert!(results.iter().all(|(_, result)| result == "ok"), "{results:?}");
    cgroup.0.destroy().expect("destroy");
    turn.finish();
}

#[test]
fn a_rule_the_format_cannot_express_leaves_nothing_behind() {
    let Some(turn) = CgroupTurn::take("a_rule_the_format_cannot_express_leaves_nothing_behind", PREFIX)
    else {
        return;
    };
    let host = Layout::detect().expect("detect");
    let mut rules = DeviceRule::container_default();
    rules.push(DeviceRule {
        allow: false,
        kind: DeviceType::All,
        major: None,
        minor: None,
        access: "w".parse().expect("valid access"),
    });
    for layout in [host.clone(), host.clone().only(Version::V2)] {
        let name = unique_name("invalid");
        match Cgroup::create_in(&layout, &config(&name, rules.clone())) {
            Err(CgroupError::InvalidDeviceRule { index, rule, .. }) => {
                assert_eq!((index, rule.as_str()), (10, "deny a *:* w"));
            }
            other => panic!("{other:?}"),
        }
        for mounted in layout.hierarchies() {
            let dir = mounted.dir(&mounted.own_cgroup.join(&name)).expect("reachable");
            assert!(!dir.exists(), "{} was made", dir.display());
        }
    }
    turn.finish();
}

#[test]
fn a_launched_command_gets_the_default_device_list() {
    let Some(turn) = CgroupTurn::take("a_launched_command_gets_the_default_device_list", PREFIX) else {
        return;
    };
    launch_and_probe("launch", |options, config| options.cgroup(config));
    turn.finish();
}

/// On cgroup2 a launch attaches the device program right after its clone,
/// while the child execs the init binary: in force all the same for the
/// command (and for a held plan, whose v1 attach comes late).
#[test]
fn a_launch_on_the_cgroup2_tree_attaches_the_device_program_before_the_command() {
    let Some(turn) = CgroupTurn::take(
        "a_launch_on_the_cgroup2_tree_attaches_the_device_program_before_the_command",
        PREFIX,
    ) else {
        return;
    };
    let unified = Layout::detect().expect("detect").only(Version::V2);
    for label in ["launch-v2", "launch-v2-held"] {
        launch_and_probe(label, |options, config| {
            let planned = Cgroup::paths_in(&unified, &config).expect("cgroup2 paths");
            assert_eq!(planned.dirs.len(), 1, "{planned:?}");
            options.cgroup_at(config, planned)
        });
    }
    turn.finish();
}

/// Launches the probes as a container's command (held until started, for
/// a label ending in `-held`), in the cgroup `cgroup` gives the options,
/// with the default device rules; checks what they could open and that
/// the cgroup goes.
fn launch_and_probe(label: &str, cgroup: impl FnOnce(Options, CgroupConfig) -> Options) {
    let nodes = tempfile::tempdir().expect("a directory for the mknods");
    let script = probe_script().replacen("read _\n", "", 1);
    let mut command = vec!["/bin/sh", "-c", &script, "sh"];
    let nodes_path = nodes.path().to_str().expect("a UTF-8 temporary directory");
    command.push(nodes_path);
    let mut plan = Plan::init(Config::new(command.iter().copied()));
    plan.cgroup = true;
    plan.config.hold = label.ends_with("-held");
    let (mut stdout, stdout_end) = linux::pipe();
    let options = Options::new().init_binary(INIT).stdout(stdout_end);
    let options = cgroup(
        options,
        config(&unique_name(label), DeviceRule::container_default()),
    );
    let mut process = match plan.config.hold {
        true => {
            let held = Process::start_held(plan, options).expect("launch");
            held.start().expect("start")
        }
        false => Process::start(plan, options).expect("launch"),
    };
    let paths = process.cgroup().expect("the launch's cgroup").paths().clone();
    let cgroup = TestCgroup(Cgroup::open(paths).expect("open the launch's cgroup"));
    let output = linux::read_to_end(&mut stdout, DEADLINE);
    let status = process.wait_timeout(DEADLINE).expect("wait").expect("sh exits");
    assert_eq!(status, cradle_core::ExitStatus::Exited(0), "{label}: {output}");
    let results: Vec<(String, String)> = output
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(name, result)| (name.to_owned(), result.to_owned()))
        .collect();
    assert_only(label, &results, &DEFAULT_ALLOWED);
    cgroup.0.destroy().expect("destroy");
    assert_removed(&cgroup.0);
    assert!(!Path::new(nodes_path).join("block").exists(), "{label}");
}

#[test]
fn a_rule_the_kernel_refuses_midway_leaves_nothing_behind() {
    let Some(turn) = CgroupTurn::take("a_rule_the_kernel_refuses_midway_leaves_nothing_behind", PREFIX)
    else {
        return;
    };
    // The v1 devices hierarchy alone, so that one parent path fits.
    let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    let Some(devices_line) = proc_cgroup.lines().find(|line| {
        line.split(':')
            .nth(1)
            .is_some_and(|c| c.split(',').any(|c| c == "devices"))
    }) else {
        eprintln!("not applicable: no v1 devices hierarchy");
        return turn.finish();
    };
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("/proc/self/mountinfo");
    let layout = Layout::parse(&mountinfo, devices_line);
    let [mounted] = layout.hierarchies() else {
        panic!("one hierarchy: {layout:?}");
    };
    let outer_name = unique_name("outer");
    let outer =
        Cgroup::create_in(&layout, &config(&outer_name, DeviceRule::container_default())).expect("create");
    let outer = TestCgroup(outer);
    // Below a cgroup that refuses /dev/loop-control, allowing it is
    // refused by the kernel, after the rules before it were written.
    let mut rules = DeviceRule::container_default();
    rules.push(DeviceRule {
        allow: true,
        kind: DeviceType::Char,
        major: Some(10),
        minor: Some(237),
        access: DeviceAccess::ALL,
    });
    let inner = CgroupConfig {
        adopt_empty: false,
        parent: Some(mounted.own_cgroup.join(&outer_name)),
        ..config("inner", rules)
    };
    match Cgroup::create_in(&layout, &inner) {
        Err(error @ CgroupError::Write { .. }) => {
            assert_eq!(error.errno(), Some(nix::libc::EPERM), "{error}");
            let CgroupError::Write { path, value, .. } = &error else {
                unreachable!()
            };
            assert!(path.ends_with("inner/devices.allow"), "{error}");
            assert_eq!(value, "c 10:237 rwm");
        }
        other => panic!("{other:?}"),
    }
    let outer_dir = &outer.0.paths().dirs[0].path;
    assert!(!outer_dir.join("inner").exists(), "the inner cgroup is left");
    outer.0.destroy().expect("destroy");
    assert_removed(&outer.0);
    turn.finish();
}

// --- Device programs shared between launchers -------------------------------

const LAUNCHER: &str = env!("CARGO_BIN_EXE_cradle-test-device-program");

/// `cradle-test-device-program`: a launcher process of its own that shares
/// device programs through `registry`, with a cgroup `name` (see the
/// binary for `flags`).
fn launcher(registry: &Path, name: &str, flags: &[&str]) -> Command {
    let mut command = Command::new(LAUNCHER);
    command.arg(registry).arg(name).args(flags);
    command
}

/// The ids a launcher printed on its `programs: ` line.
fn programs(stdout: &str) -> Vec<u32> {
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("programs: "))
        .unwrap_or_else(|| panic!("no programs line in {stdout:?}"));
    line.split(',')
        .filter(|id| !id.is_empty())
        .map(|id| id.parse().expect("a program id"))
        .collect()
}

/// A launcher run to its end: the ids it printed.
fn launch_once(registry: &Path, name: &str, flags: &[&str]) -> Vec<u32> {
    let output = launcher(registry, name, flags)
        .output()
        .expect("run the launcher");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name}: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    programs(&stdout)
}

/// A launcher that keeps its cgroup, and so its program, until released.
struct Held {
    child: std::process::Child,
    programs: Vec<u32>,
}

impl Held {
    fn start(registry: &Path, name: &str, flags: &[&str]) -> Held {
        let mut child = launcher(registry, name, &[flags, &["--hold"]].concat())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the launcher");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("its stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("read its line");
        Held {
            programs: programs(&line),
            child,
        }
    }

    fn release(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("wait for the launcher");
        assert!(status.success(), "the held launcher: {status}");
    }
}

/// The entries of a registry directory, by name, with what each holds.
fn entries(registry: &Path) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = std::fs::read_dir(registry)
        .expect("read the registry")
        .flatten()
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(entry.path()).expect("read an entry");
            (name, text)
        })
        .collect();
    entries.sort();
    entries
}

#[test]
fn a_launcher_attaches_the_device_program_a_running_container_holds() {
    let test = "a_launcher_attaches_the_device_program_a_running_container_holds";
    let Some(turn) = CgroupTurn::take(test, PREFIX) else {
        return;
    };
    let registry = tempfile::tempdir().expect("a registry");
    // An entry whose program is long gone: the first new entry removes it.
    let gone = "ffffffffffffffff";
    std::fs::write(registry.path().join(gone), "4294967295\n").expect("write an entry");

    let first = Held::start(registry.path(), &unique_name("first"), &[]);
    let [held] = first.programs[..] else {
        panic!("one program: {:?}", first.programs);
    };
    let after_first = entries(registry.path());
    assert_eq!(after_first.len(), 1, "{after_first:?}");
    assert_eq!(
        after_first[0].1,
        format!("{held:010}\n"),
        "the entry names the program loaded"
    );

    let next = launch_once(registry.path(), &unique_name("next"), &[]);
    assert_eq!(
        next,
        [held],
        "the next launcher attached the program the first holds"
    );

    // Other rules: a program of their own, and an entry beside the first.
    let other = launch_once(registry.path(), &unique_name("other"), &["--allow-all"]);
    assert_eq!(other.len(), 1);
    assert_ne!(other, [held], "other rules got the default rules' program");
    assert_eq!(entries(registry.path()).len(), 2);

    first.release();
    turn.finish();
}

#[test]
fn a_device_program_named_in_the_registry_is_checked_before_it_is_attached() {
    let test = "a_device_program_named_in_the_registry_is_checked_before_it_is_attached";
    let Some(turn) = CgroupTurn::take(test, PREFIX) else {
        return;
    };
    // Device programs that run other instructions, held: one longer than
    // the default rules' program, one as long.
    let elsewhere = tempfile::tempdir().expect("another registry");
    let held = |label: &str, flag: &str| {
        let launcher = Held::start(elsewhere.path(), &unique_name(label), &[flag]);
        let [program] = launcher.programs[..] else {
            panic!("one program: {:?}", launcher.programs);
        };
        (launcher, program)
    };
    let (allow_all, permissive) = held("allow-all", "--allow-all");
    let (other_minor, as_long) = held("other-minor", "--other-minor");
    // The name of the default rules' entry, as a launcher writes it.
    let scratch = tempfile::tempdir().expect("a scratch registry");
    launch_once(scratch.path(), &unique_name("name"), &[]);
    let [(name, _)] = &entries(scratch.path())[..] else {
        panic!("one entry: {:?}", entries(scratch.path()));
    };

    let registry = tempfile::tempdir().expect("a registry");
    let forgeries = [
        format!("{permissive:010}\n"),
        format!("{as_long:010}\n"),
        "not an id\n".to_owned(),
        String::new(),
    ];
    for forged in forgeries {
        std::fs::write(registry.path().join(name), &forged).expect("forge the entry");
        let taken = launch_once(registry.path(), &unique_name("default"), &[]);
        let [program] = taken[..] else {
            panic!("one program: {taken:?}");
        };
        assert!(
            program != permissive && program != as_long,
            "the entry {forged:?} had another program taken"
        );
        let rewritten = &entries(registry.path())[0].1;
        assert_eq!(
            *rewritten,
            format!("{program:010}\n"),
            "the entry names the program loaded"
        );
    }

    allow_all.release();
    other_minor.release();
    turn.finish();
}
