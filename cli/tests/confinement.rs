//! Root inside a container must not own the host: real escape attempts
//! from inside default containers, each refused with the errno the
//! defence gives, and let through with `--privileged` where that is the
//! point of the flag. The attempts are the `cradle-test-probe` binary's
//! (one call each, harmless payloads), run on the host's files, and shell
//! commands in a busybox rootfs.

mod common;

use std::fs;
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{require_root, BusyboxRootfs, Sandbox};
use cradle_tests::linux::probe;

/// CapEff (and CapPrm, CapBnd) of a podman or docker container run as root.
const DEFAULT_CAPS: &str = "00000000a80425fb";

/// Runs `cradle run [flags] -- probe attempt args` on the host's files and
/// returns the probe's line.
fn attempt(sandbox: &Sandbox, flags: &[&str], attempt: &[&str]) -> String {
    let probe = probe();
    let output = sandbox
        .cradle()
        .arg("run")
        .args(flags)
        .arg("--")
        .arg(&probe)
        .args(attempt)
        .output()
        .expect("cradle run");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        output.status.success(),
        "{attempt:?} with {flags:?}: {:?}, stderr {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The probe's line for `attempt` run straight on the host.
fn probe_on_host(attempt: &[&str]) -> String {
    let output = std::process::Command::new(probe())
        .args(attempt)
        .output()
        .expect("the probe");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Runs a shell command in a default (or `flags`) container on a busybox
/// rootfs; its stdout, and whether it exited 0.
fn shell(sandbox: &Sandbox, rootfs: &Path, flags: &[&str], script: &str) -> (String, bool) {
    let output = sandbox
        .cradle()
        .arg("run")
        .arg("--rootfs")
        .arg(rootfs)
        .args(flags)
        .args(["--", "/bin/sh", "-c", script])
        .output()
        .expect("cradle run");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        output.status.success(),
    )
}

/// The value of `field` in `/proc/self/status` as `text` shows it.
fn status_field<'a>(text: &'a str, field: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map_or("", str::trim)
}

#[test]
fn the_default_capability_sets_and_seccomp_mode_are_podmans() {
    if !require_root("the_default_capability_sets_and_seccomp_mode_are_podmans") {
        return;
    }
    let sandbox = Sandbox::new("caps");
    let rootfs = BusyboxRootfs::new();
    let (status, ok) = shell(&sandbox, rootfs.path(), &[], "cat /proc/self/status");
    assert!(ok, "{status}");
    for field in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&status, field), DEFAULT_CAPS, "{field}");
    }
    assert_eq!(status_field(&status, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&status, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&status, "Seccomp"), "2", "a filter is installed");
    assert_eq!(status_field(&status, "NoNewPrivs"), "0");

    // --privileged: the caller's own sets, no filter.
    let own = fs::read_to_string("/proc/self/status").expect("own status");
    let (status, ok) = shell(
        &sandbox,
        rootfs.path(),
        &["--privileged"],
        "cat /proc/self/status",
    );
    assert!(ok, "{status}");
    assert_eq!(status_field(&status, "CapBnd"), status_field(&own, "CapBnd"));
    assert_eq!(status_field(&status, "CapEff"), status_field(&own, "CapBnd"));
    assert_eq!(status_field(&status, "Seccomp"), "0");

    // Flags that change the sets and the filter.
    let (status, _) = shell(
        &sandbox,
        rootfs.path(),
        &[
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CHOWN",
            "--security-opt",
            "no-new-privileges",
        ],
        "cat /proc/self/status",
    );
    assert_eq!(status_field(&status, "CapEff"), "0000000000000001");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    let (status, _) = shell(
        &sandbox,
        rootfs.path(),
        &["--security-opt", "seccomp=unconfined"],
        "cat /proc/self/status",
    );
    assert_eq!(status_field(&status, "Seccomp"), "0");
    assert_eq!(status_field(&status, "CapEff"), DEFAULT_CAPS);
    sandbox.assert_clean();
}

#[test]
fn proc_sys_and_sysrq_trigger_are_read_only() {
    if !require_root("proc_sys_and_sysrq_trigger_are_read_only") {
        return;
    }
    let sandbox = Sandbox::new("procsys");
    assert_eq!(
        attempt(&sandbox, &[], &["write", "/proc/sys/vm/drop_caches", "1"]),
        "EROFS"
    );
    // Not every kernel has it (this project's VM has none).
    if Path::new("/proc/sysrq-trigger").exists() {
        assert_eq!(
            attempt(&sandbox, &[], &["write", "/proc/sysrq-trigger", "h"]),
            "EROFS"
        );
    }
    let rootfs = BusyboxRootfs::new();
    let (_, wrote) = shell(&sandbox, rootfs.path(), &[], "echo 1 > /proc/sys/vm/drop_caches");
    assert!(!wrote, "a shell in a rootfs wrote a host sysctl");
    // The harmless payload goes through when asked to.
    assert_eq!(
        attempt(
            &sandbox,
            &["--privileged"],
            &["write", "/proc/sys/vm/drop_caches", "1"]
        ),
        "ok wrote 1"
    );
    sandbox.assert_clean();
}

#[test]
fn mounts_and_new_namespaces_are_refused() {
    if !require_root("mounts_and_new_namespaces_are_refused") {
        return;
    }
    let sandbox = Sandbox::new("mount");
    let target = tempfile::tempdir().expect("a mount point");
    let target = target.path().to_str().expect("a UTF-8 path");
    assert_eq!(attempt(&sandbox, &[], &["mount", target]), "EPERM");
    assert_eq!(attempt(&sandbox, &[], &["unshare-user"]), "EPERM");
    assert_eq!(attempt(&sandbox, &[], &["unshare-mount"]), "EPERM");
    assert_eq!(attempt(&sandbox, &[], &["clone-newns"]), "EPERM");
    // Only the safe personas.
    assert!(attempt(&sandbox, &[], &["personality", "0"]).starts_with("ok"));
    // Any other persona is no syscall this profile knows.
    assert_eq!(attempt(&sandbox, &[], &["personality", "0x40000"]), "ENOSYS");
    assert_eq!(attempt(&sandbox, &["--privileged"], &["unshare-mount"]), "ok");
    // A capability added widens the filter with it, as podman does.
    assert_eq!(
        attempt(&sandbox, &["--cap-add", "SYS_ADMIN"], &["unshare-mount"]),
        "ok"
    );
    sandbox.assert_clean();
}

/// The profile podman itself uses, as containers-common ships it: the
/// README's test command installs podman, which brings it. Go wrote it,
/// with a `null` for an empty list; `seccomp=<file>` reads it and the
/// filter does what it says: a persona it lists is let through, another
/// gets its default errno.
const PODMANS_PROFILE: &str = "/usr/share/containers/seccomp.json";

#[test]
fn podmans_own_profile_file_is_read_and_enforced() {
    if !require_root("podmans_own_profile_file_is_read_and_enforced") {
        return;
    }
    let text = fs::read_to_string(PODMANS_PROFILE)
        .unwrap_or_else(|error| panic!("{PODMANS_PROFILE} (podman's containers-common): {error}"));
    let profile: serde_json::Value = serde_json::from_str(&text).expect("podman's profile is JSON");
    let refused = match profile["defaultErrnoRet"].as_u64() {
        Some(38) => "ENOSYS",
        Some(1) | None => "EPERM",
        Some(other) => panic!("a default errno of {other}: name it here"),
    };
    let sandbox = Sandbox::new("podman-profile");
    let flag = format!("seccomp={PODMANS_PROFILE}");
    let flags = ["--security-opt", flag.as_str()];
    assert!(attempt(&sandbox, &flags, &["personality", "0"]).starts_with("ok"));
    assert_eq!(attempt(&sandbox, &flags, &["personality", "0x40000"]), refused);
    // Unconfined, the kernel takes that persona.
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    assert!(attempt(&sandbox, &unconfined, &["personality", "0x40000"]).starts_with("ok"));
    sandbox.assert_clean();
}

/// A profile file that is not one is refused before anything starts,
/// naming the place in it, once.
#[test]
fn a_bad_profile_file_is_refused_naming_the_place() {
    if !require_root("a_bad_profile_file_is_refused_naming_the_place") {
        return;
    }
    let sandbox = Sandbox::new("bad-profile");
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("profile.json");
    let profile =
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NAP"}]}"#;
    fs::write(&file, profile).expect("the profile");
    let output = sandbox
        .cradle()
        .args(["run", "--security-opt"])
        .arg(format!("seccomp={}", file.display()))
        .args(["--", "/bin/true"])
        .output()
        .expect("cradle run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("seccomp profile: syscalls[0].action: unknown action \"SCMP_ACT_NAP\""),
        "{stderr}"
    );
    assert_eq!(stderr.matches("seccomp profile").count(), 1, "{stderr}");
    sandbox.assert_clean();
}

/// Two rules for `accept4` of different actions that both compare
/// argument 0 first: libseccomp (2.5.4, 2.5.5, 2.6.1) never returns from
/// the second rule's `seccomp_rule_add`.
const NEVER_COMPILED: &str = r#"{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [
    {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["accept4"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
     "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_NE"}, {"index": 1, "value": 5, "op": "SCMP_CMP_NE"}]},
    {"names": ["accept4"], "action": "SCMP_ACT_TRACE", "errnoRet": 2,
     "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_NE"}, {"index": 2, "value": 8, "op": "SCMP_CMP_NE"}]}
]}"#;

/// The seccomp compilers that process `caller` started: processes whose
/// environment names it as their caller.
fn compilers_of(caller: u32) -> Vec<u32> {
    let role = format!("_CRADLE_SECCOMP_COMPILER={caller}");
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if environ.split(|&b| b == 0).any(|var| var == role.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// Waits up to 2 s for every compiler of `caller` to be gone; kills
/// those left and fails.
fn assert_no_compiler_outlives(caller: u32) {
    let started = Instant::now();
    loop {
        let left = compilers_of(caller);
        if left.is_empty() {
            return;
        }
        if started.elapsed() > Duration::from_secs(2) {
            for &pid in &left {
                let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid"));
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL);
            }
            panic!("a seccomp compiler outlived its cradle: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A profile libseccomp never finishes compiling is refused at the
/// compile's bound, naming the step; a `cradle` killed while it compiles
/// leaves no compiler running.
#[test]
fn a_profile_that_never_compiles_is_refused_at_the_bound_and_leaves_nothing() {
    if !require_root("a_profile_that_never_compiles_is_refused_at_the_bound_and_leaves_nothing") {
        return;
    }
    let sandbox = Sandbox::new("never-compiles");
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("never-compiles.json");
    fs::write(&file, NEVER_COMPILED).expect("the profile");
    let flag = format!("seccomp={}", file.display());
    let run = || {
        sandbox
            .std_cradle()
            .args(["run", "--security-opt", &flag, "--", "/bin/true"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cradle run")
    };

    let mut killed = run();
    let started = Instant::now();
    while compilers_of(killed.id()).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no compiler was started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    killed.kill().expect("SIGKILL");
    killed.wait().expect("reaped");
    assert_no_compiler_outlives(killed.id());

    let started = Instant::now();
    let mut refused = run();
    let status = loop {
        if let Some(status) = refused.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = refused.kill();
            let _ = refused.wait();
            panic!("cradle run still compiling after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut refused.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("--security-opt {flag}: seccomp profile: "))
            && stderr.contains("the policy was not compiled within 10s"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(compilers_of(refused.id()).is_empty());
    sandbox.assert_clean();
}

#[test]
fn keyrings_modules_bpf_and_perf_are_refused() {
    if !require_root("keyrings_modules_bpf_and_perf_are_refused") {
        return;
    }
    let sandbox = Sandbox::new("syscalls");
    for call in ["keyctl", "init-module", "finit-module", "bpf", "perf-event-open"] {
        assert_eq!(attempt(&sandbox, &[], &[call]), "EPERM", "{call}");
    }
    // Unconfined, the kernel itself answers the harmless arguments, as it
    // does on the host.
    let on_host = probe_on_host(&["finit-module"]);
    assert_ne!(on_host, "EPERM");
    assert_eq!(attempt(&sandbox, &["--privileged"], &["finit-module"]), on_host);
    sandbox.assert_clean();
}

/// A block device node of the host's first disk (or loop0), made by the
/// test in `dir`: opening it is refused; nothing is ever read.
fn host_disk_node(dir: &Path) -> PathBuf {
    let disk = fs::read_dir("/sys/block")
        .expect("/sys/block")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|name| !name.starts_with("loop") && !name.starts_with("ram"))
        .unwrap_or_else(|| "loop0".to_owned());
    let numbers = fs::read_to_string(format!("/sys/block/{disk}/dev")).expect("the disk's numbers");
    let (major, minor) = numbers.trim().split_once(':').expect("major:minor");
    let node = dir.join(&disk);
    let device = nix::sys::stat::makedev(major.parse().expect("major"), minor.parse().expect("minor"));
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFBLK,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        device,
    )
    .expect("mknod the test's disk node");
    assert!(fs::metadata(&node)
        .expect("the node")
        .file_type()
        .is_block_device());
    node
}

#[test]
fn block_devices_cannot_be_made_or_opened() {
    if !require_root("block_devices_cannot_be_made_or_opened") {
        return;
    }
    let sandbox = Sandbox::new("devices");
    // Not under /tmp, which may be mounted nodev: the device rules must
    // be what refuses.
    let dir = tempfile::Builder::new()
        .prefix("cradle-devices-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a directory for device nodes");
    let made = dir.path().join("made");
    let made = made.to_str().expect("a UTF-8 path");
    assert_eq!(attempt(&sandbox, &[], &["mknod-block", made, "7", "0"]), "EPERM");
    let disk = host_disk_node(dir.path());
    let disk = disk.to_str().expect("a UTF-8 path");
    assert_eq!(attempt(&sandbox, &[], &["open-read", disk]), "EPERM");
    assert_eq!(
        attempt(&sandbox, &["--privileged"], &["mknod-block", made, "7", "0"]),
        "ok"
    );
    sandbox.assert_clean();
}

#[test]
fn kcore_is_masked_and_cgroup_release_agents_are_read_only() {
    if !require_root("kcore_is_masked_and_cgroup_release_agents_are_read_only") {
        return;
    }
    let sandbox = Sandbox::new("masked");
    let masked: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|path| Path::new(path).exists())
    .collect();
    assert!(!masked.is_empty(), "none of the masked files exists on this host");
    for path in masked {
        assert_eq!(attempt(&sandbox, &[], &["read", path]), "ok read 0", "{path}");
    }
    let agents: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .expect("/sys/fs/cgroup")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("release_agent"))
        .filter(|path| path.exists())
        .collect();
    assert!(
        !agents.is_empty(),
        "this host has cgroup v1 hierarchies with release agents"
    );
    for agent in &agents {
        // Opened for writing, never written.
        let agent = agent.to_str().expect("a UTF-8 path");
        assert_eq!(attempt(&sandbox, &[], &["open-write", agent]), "EROFS", "{agent}");
    }
    let rootfs = BusyboxRootfs::new();
    let (_, mounted) = shell(
        &sandbox,
        rootfs.path(),
        &[],
        "mount -t cgroup -o memory cgroup /mnt",
    );
    assert!(!mounted, "a cgroup hierarchy was mounted in a container");
    sandbox.assert_clean();
}

#[test]
fn another_containers_process_and_the_hosts_namespaces_are_out_of_reach() {
    if !require_root("another_containers_process_and_the_hosts_namespaces_are_out_of_reach") {
        return;
    }
    let sandbox = Sandbox::new("ptrace");
    let victim = sandbox.name("victim");
    sandbox.start_sleeping(&victim);
    let pid = sandbox.state(&victim)["pid"]
        .as_i64()
        .expect("the victim's pid")
        .to_string();
    // In the host's pid namespace the victim and the host's /proc/1 are in
    // view: the filter is what refuses.
    let host_pids = ["--ns", "mount,uts,ipc,net"];
    assert_eq!(attempt(&sandbox, &host_pids, &["ptrace", &pid]), "EPERM");
    assert_eq!(
        attempt(&sandbox, &host_pids, &["process-vm-readv", &pid]),
        "EPERM"
    );
    // The host's namespace files are out of reach by path (opening one
    // takes CAP_SYS_PTRACE over the host's init) ...
    assert_eq!(
        attempt(&sandbox, &host_pids, &["setns", "/proc/1/ns/mnt"]),
        "EACCES"
    );
    // ... and a descriptor of one, leaked in as stdin, cannot be joined.
    let leaked = fs::File::open("/proc/self/ns/mnt").expect("the host's mount namespace");
    let output = sandbox
        .std_cradle()
        .args(["run", "--"])
        .arg(probe())
        .args(["setns-fd", "0"])
        .stdin(leaked)
        .output()
        .expect("cradle run");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "EPERM");
    let leaked = fs::File::open("/proc/self/ns/mnt").expect("the host's mount namespace");
    let output = sandbox
        .std_cradle()
        .args(["run", "--privileged", "--"])
        .arg(probe())
        .args(["setns-fd", "0"])
        .stdin(leaked)
        .output()
        .expect("cradle run");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "ok",
        "unconfined, the fd is joined"
    );
    let privileged = ["--privileged", "--ns", "mount,uts,ipc,net"];
    assert_eq!(
        attempt(&sandbox, &privileged, &["process-vm-readv", &pid]),
        "EFAULT"
    );
    sandbox
        .cradle()
        .args(["delete", "--force", &victim])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn exec_gets_the_containers_confinement() {
    if !require_root("exec_gets_the_containers_confinement") {
        return;
    }
    let sandbox = Sandbox::new("exec");
    let name = sandbox.name("box");
    sandbox.start_sleeping(&name);
    let probe = probe();
    let exec = |flags: &[&str], attempt: &[&str]| {
        let output = sandbox
            .cradle()
            .arg("exec")
            .args(flags)
            .arg(&name)
            .arg("--")
            .arg(&probe)
            .args(attempt)
            .output()
            .expect("cradle exec");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    assert_eq!(exec(&[], &["unshare-mount"]), "EPERM");
    assert_eq!(exec(&[], &["write", "/proc/sys/vm/drop_caches", "1"]), "EROFS");
    assert_eq!(exec(&["--cap-add", "SYS_ADMIN"], &["unshare-mount"]), "ok");
    assert_eq!(exec(&["--privileged"], &["unshare-mount"]), "ok");
    let status = sandbox
        .cradle()
        .args(["exec", &name, "--", "cat", "/proc/self/status"])
        .output()
        .expect("cradle exec");
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert_eq!(status_field(&status, "CapEff"), DEFAULT_CAPS);
    assert_eq!(status_field(&status, "Seccomp"), "2");
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn read_only_roots_sysctls_and_their_refusals() {
    if !require_root("read_only_roots_sysctls_and_their_refusals") {
        return;
    }
    let sandbox = Sandbox::new("rosys");
    let rootfs = BusyboxRootfs::new();
    let (_, wrote) = shell(&sandbox, rootfs.path(), &["--read-only"], "touch /written");
    assert!(!wrote, "--read-only let the root be written");
    assert!(!rootfs.path().join("written").exists());
    let (out, ok) = shell(
        &sandbox,
        rootfs.path(),
        &["--read-only"],
        "touch /tmp/x 2>/dev/null; echo fine",
    );
    assert!(ok && out.contains("fine"), "{out}");
    let (forwarding, ok) = shell(
        &sandbox,
        rootfs.path(),
        &["--sysctl", "net.ipv4.ip_forward=1"],
        "cat /proc/sys/net/ipv4/ip_forward",
    );
    assert!(ok);
    assert_eq!(forwarding.trim(), "1");
    let refused = sandbox
        .cradle()
        .args(["run", "--sysctl", "vm.drop_caches=1", "--", "true"])
        .output()
        .expect("cradle run");
    assert_eq!(refused.status.code(), Some(125));
    let line = common::one_line(&refused.stderr);
    assert!(line.contains("vm.drop_caches"), "{line}");
    sandbox.assert_clean();
}
