//! The policy model, the profile readers, and the default profile
//! installed for real in forked children.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::{Duration, Instant};

use cradle_core::confinement::{Capability, SeccompProgram};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

use super::default::ALWAYS_REFUSED;
use super::policy::KernelVersion;
use super::*;

fn default_caps() -> BTreeSet<Capability> {
    Capability::DEFAULT.into_iter().collect()
}

fn with(extra: Capability) -> BTreeSet<Capability> {
    let mut caps = default_caps();
    caps.insert(extra);
    caps
}

fn allowed_unconditionally(policy: &Policy) -> BTreeSet<String> {
    policy
        .syscalls
        .iter()
        .filter(|rule| rule.action == Action::Allow && rule.args.is_empty())
        .flat_map(|rule| rule.names.iter().cloned())
        .collect()
}

#[test]
fn the_default_policy_compiles() {
    for caps in [
        BTreeSet::new(),
        default_caps(),
        Capability::ALL.iter().copied().collect(),
    ] {
        let policy = default_policy(&caps);
        let start = Instant::now();
        let program = compile(&policy).expect("the default policy compiles");
        let took = start.elapsed();
        println!(
            "default profile, {} caps: {} instructions in {took:?}",
            caps.len(),
            program.instructions.len()
        );
        assert!(program.instructions.len() > 50);
        assert_eq!(program.flags, 0);
    }
}

#[test]
fn the_default_policy_refuses_what_it_must_and_widens_with_capabilities() {
    let all: BTreeSet<Capability> = Capability::ALL.iter().copied().collect();
    let widest = allowed_unconditionally(&default_policy(&all));
    for name in ALWAYS_REFUSED {
        assert!(!widest.contains(*name), "{name} is allowed with every capability");
    }
    let plain = allowed_unconditionally(&default_policy(&default_caps()));
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "ptrace",
        "bpf",
        "clone",
        "clone3",
        "reboot",
    ] {
        assert!(!plain.contains(name), "{name} is allowed by default");
    }
    for name in ["read", "write", "getpid", "chroot", "execve", "fork", "futex"] {
        assert!(plain.contains(name), "{name} is not allowed by default");
    }
    let admin = allowed_unconditionally(&default_policy(&with(Capability::SysAdmin)));
    for name in [
        "mount",
        "unshare",
        "setns",
        "clone",
        "clone3",
        "bpf",
        "syslog",
        "pivot_root",
    ] {
        assert!(admin.contains(name), "{name} is not allowed with CAP_SYS_ADMIN");
    }
    assert!(allowed_unconditionally(&default_policy(&with(Capability::Bpf))).contains("bpf"));
    assert!(allowed_unconditionally(&default_policy(&with(Capability::SysPtrace))).contains("ptrace"));
    assert!(!allowed_unconditionally(&default_policy(&with(Capability::SysBoot))).contains("kexec_load"));
}

#[test]
fn a_policy_travels_as_the_oci_object() {
    let policy = default_policy(&default_caps());
    let json = serde_json::to_value(&policy).expect("encodes");
    assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["defaultErrnoRet"], libc::ENOSYS);
    assert_eq!(json["architectures"][0], "SCMP_ARCH_X86_64");
    let clone3 = json["syscalls"]
        .as_array()
        .expect("syscalls")
        .iter()
        .find(|rule| rule["names"][0] == "clone3")
        .expect("a clone3 rule");
    assert_eq!(clone3["errnoRet"], libc::ENOSYS);
    let back: Policy = serde_json::from_value(json).expect("decodes");
    assert_eq!(back, policy);
    // A docker entry read as OCI would lose its conditions: refused.
    let docker = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}"#;
    assert!(serde_json::from_str::<Policy>(docker).is_err());
    Policy::from_json(docker.as_bytes(), &BTreeSet::new()).expect("from_json reads it");
}

const OCI: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 38,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["kill"], "action": "SCMP_ACT_KILL"},
        {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
    ]
}"#;

#[test]
fn an_oci_profile_is_read_and_compiled() {
    let policy = Policy::from_json(OCI.as_bytes(), &BTreeSet::new()).expect("reads");
    assert_eq!(policy.default_action, Action::Errno(38));
    assert_eq!(policy.architectures, [Arch::X86_64, Arch::X86]);
    assert_eq!(policy.flags, [Flag::Log]);
    assert_eq!(policy.syscalls.len(), 5);
    assert_eq!(policy.syscalls[1].action, Action::KillThread);
    assert_eq!(policy.syscalls[2].action, Action::Errno(1));
    assert_eq!(
        policy.syscalls[4].args,
        [ArgCondition::masked_eq(0, 2114060288, 0)]
    );
    let program = compile(&policy).expect("compiles");
    assert_eq!(program.flags, 2, "SECCOMP_FILTER_FLAG_LOG");
}

const DOCKER: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
    ],
    "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.1"}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["s390", "s390x"]}},
        {"names": ["old_thing"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.0"}},
        {"name": "write", "action": "SCMP_ACT_ALLOW"}
    ],
    "listenerPath": "",
    "listenerMetadata": ""
}"#;

fn names(policy: &Policy) -> Vec<&str> {
    policy
        .syscalls
        .iter()
        .flat_map(|rule| rule.names.iter().map(String::as_str))
        .collect()
}

#[test]
fn a_docker_profile_is_filtered_by_caps_arches_and_kernel() {
    let kernel = KernelVersion(6, 1, 0);
    let policy = Policy::from_json_on(DOCKER.as_bytes(), &default_caps(), kernel).expect("reads");
    assert_eq!(policy.default_action, Action::Errno(1));
    assert_eq!(policy.architectures, [Arch::X86_64, Arch::X86, Arch::X32]);
    assert_eq!(
        names(&policy),
        ["read", "ptrace", "clone3", "arch_prctl", "clone", "write"]
    );
    assert_eq!(policy.syscalls[2].action, Action::Errno(38));

    let admin = Policy::from_json_on(DOCKER.as_bytes(), &with(Capability::SysAdmin), kernel).expect("reads");
    assert_eq!(
        names(&admin),
        ["read", "ptrace", "mount", "arch_prctl", "clone", "write"]
    );

    let old =
        Policy::from_json_on(DOCKER.as_bytes(), &default_caps(), KernelVersion(4, 4, 0)).expect("reads");
    assert_eq!(
        names(&old),
        ["read", "clone3", "arch_prctl", "clone", "old_thing", "write"]
    );

    compile(&policy).expect("compiles");
}

/// Go writes an empty list or object as `null` (containers-common's own
/// profile has `"args": null`), and reads it back as empty: so does
/// `from_json`, wherever the profile has a list or an object.
#[test]
fn nulls_that_go_writes_are_read_as_empty() {
    let read = |json: &str| Policy::from_json(json.as_bytes(), &BTreeSet::new()).expect("reads");
    let with_nulls = r#"{
        "defaultAction": "SCMP_ACT_ERRNO", "architectures": null, "flags": null,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": null,
             "includes": null, "excludes": {"caps": null, "arches": null}},
            {"names": null, "name": "write", "action": "SCMP_ACT_ALLOW"}
        ]
    }"#;
    let without = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64"}],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"name": "write", "action": "SCMP_ACT_ALLOW"}
        ]
    }"#;
    let policy = read(with_nulls);
    assert_eq!(policy, read(without));
    assert_eq!(names(&policy), ["read", "write"]);
    let none = read(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": null}"#);
    assert!(none.syscalls.is_empty());
}

/// A bundle's profile is read from its parsed `config.json`: the same
/// policy, and the same refusals, as from the profile's own bytes.
#[test]
fn a_parsed_profile_reads_as_its_bytes() {
    let caps: BTreeSet<Capability> = [Capability::SysAdmin].into();
    let profile = r#"{
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "flags": null,
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": null},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 18446744073709551615, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
             "includes": {"caps": ["CAP_SYS_ADMIN"]}}
        ]
    }"#;
    let parsed: serde_json::Value = serde_json::from_str(profile).expect("JSON");
    let from_value = Policy::from_value(&parsed, &caps).expect("reads");
    assert_eq!(
        from_value,
        Policy::from_json(profile.as_bytes(), &caps).expect("reads")
    );
    assert_eq!(names(&from_value), ["read", "write", "personality", "clone"]);

    let bad = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]});
    let from_value = Policy::from_value(&bad, &caps).expect_err("refused").to_string();
    let from_bytes = Policy::from_json(bad.to_string().as_bytes(), &caps)
        .expect_err("refused")
        .to_string();
    assert_eq!(from_value, from_bytes);
    assert!(from_value.contains("SCMP_ACT_NOPE"), "{from_value}");
}

/// serde would read each of these by position (the first, a profile
/// that allows everything): each is refused.
#[test]
fn objects_written_as_arrays_are_refused() {
    let cases = [
        r#"["SCMP_ACT_ALLOW"]"#,
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [["SCMP_ARCH_X86_64", []]]}"#,
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, [["write"], "SCMP_ACT_ALLOW"]]}"#,
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [[0, 8, 0, "SCMP_CMP_EQ"]]}]}"#,
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": [["CAP_SYS_ADMIN"]]}]}"#,
    ];
    for json in cases {
        let refused = refusal(json);
        assert!(refused.contains("expected a JSON object"), "{json}: {refused}");
        let parsed: serde_json::Value = serde_json::from_str(json).expect("JSON");
        let from_value = Policy::from_value(&parsed, &BTreeSet::new()).expect_err("refused");
        assert_eq!(from_value.to_string(), refused, "{json}");
    }
}

#[test]
fn a_value_of_the_wrong_type_is_refused_naming_its_place() {
    assert_eq!(
        refusal(r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}"#),
        "seccomp profile: defaultErrnoRet: invalid value: integer `-1`, expected u64"
    );
    let refused = refusal(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": "write", "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    assert!(
        refused.starts_with("seccomp profile: syscalls[1].names: "),
        "{refused}"
    );
}

/// A policy's own serde form is the OCI object, read as strictly.
#[test]
fn a_policy_read_by_serde_is_an_object() {
    let policy = Policy::from_json(
        br#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#,
        &BTreeSet::new(),
    )
    .expect("reads");
    let json = serde_json::to_string(&policy).expect("writes");
    assert_eq!(serde_json::from_str::<Policy>(&json).expect("reads back"), policy);
    let positional = serde_json::from_str::<Policy>(r#"["SCMP_ACT_ALLOW"]"#).expect_err("refused");
    assert!(
        positional.to_string().contains("expected a JSON object"),
        "{positional}"
    );
}

#[test]
fn kernel_releases_parse_and_unparsable_ones_count_as_new() {
    assert_eq!(
        KernelVersion::parse("6.18.44-fc-v1272"),
        Some(KernelVersion(6, 18, 44))
    );
    assert_eq!(KernelVersion::parse("5.10"), Some(KernelVersion(5, 10, 0)));
    assert_eq!(KernelVersion::parse("4.8.0+"), Some(KernelVersion(4, 8, 0)));
    assert_eq!(KernelVersion::parse("banana"), None);
    assert_eq!(KernelVersion::parse("6"), None);
    assert!(KernelVersion::running() >= KernelVersion(5, 11, 0));
}

fn refusal(json: &str) -> String {
    Policy::from_json(json.as_bytes(), &BTreeSet::new())
        .expect_err("refused")
        .to_string()
}

#[test]
fn unknown_names_are_refused_by_name_and_place() {
    let message = refusal(r#"{"defaultAction": "SCMP_ACT_BOGUS"}"#);
    assert!(
        message.contains("SCMP_ACT_BOGUS") && message.contains("defaultAction"),
        "{message}"
    );

    let message = refusal(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}"#,
    );
    assert!(
        message.contains("SCMP_CMP_ALMOST") && message.contains("syscalls[1].args[0].op"),
        "{message}"
    );

    let message = refusal(r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#);
    assert!(
        message.contains("SCMP_ARCH_Z80") && message.contains("architectures[0]"),
        "{message}"
    );

    let message =
        refusal(r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_PDP11"}]}"#);
    assert!(message.contains("SCMP_ARCH_PDP11"), "{message}");

    let message = refusal(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["vax"]}}]}"#,
    );
    assert!(
        message.contains("\"vax\"") && message.contains("syscalls[0].includes.arches[0]"),
        "{message}"
    );

    let message = refusal(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_TELEPORT"]}}]}"#,
    );
    assert!(message.contains("CAP_TELEPORT"), "{message}");

    let message = refusal(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(
        message.contains("SCMP_ACT_NOTIFY") && message.contains("not supported"),
        "{message}"
    );

    let message = refusal(r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_SHINY"]}"#);
    assert!(message.contains("SECCOMP_FILTER_FLAG_SHINY"), "{message}");

    let message = refusal(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}"#,
    );
    assert!(message.contains("syscalls[0].errnoRet"), "{message}");

    let message = refusal(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(message.contains("syscalls[0].args[0].index"), "{message}");

    let message = refusal(r#"{"syscalls": []}"#);
    assert!(message.contains("defaultAction"), "{message}");
}

#[test]
fn unknown_syscalls_are_skipped_unless_all_are() {
    let some = Policy {
        default_action: Action::Errno(1),
        architectures: Vec::new(),
        flags: Vec::new(),
        syscalls: vec![Rule::new(["read", "no_such_syscall"], Action::Allow)],
    };
    compile(&some).expect("one unknown name is skipped");
    let none = Policy {
        syscalls: vec![Rule::new(["no_such_syscall", "nor_this"], Action::Allow)],
        ..some
    };
    let message = compile(&none).expect_err("all unknown").to_string();
    assert!(message.contains("no_such_syscall"), "{message}");
}

// ---- The filter installed for real. ----

/// How many results a child reports.
const SLOTS: usize = 16;

/// A raw syscall's result: its value, or `-errno`.
fn outcome(ret: libc::c_long) -> i64 {
    if ret == -1 {
        -i64::from(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        ret
    }
}

/// Forks a child that installs `program` and runs `probe`, which fills
/// the result slots using raw syscalls only (no allocation: the test
/// process has other threads). The child writes the slots to a pipe and
/// `_exit`s; returns them.
fn run_filtered(program: &SeccompProgram, probe: fn(&mut [i64; SLOTS])) -> [i64; SLOTS] {
    let mut filter = crate::sys::sock_filters(program);
    let fprog = libc::sock_fprog {
        len: u16::try_from(filter.len()).expect("fits"),
        filter: filter.as_mut_ptr(),
    };
    let flags = libc::c_ulong::from(program.flags);
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    let writer_fd = std::os::fd::AsRawFd::as_raw_fd(&writer);

    // SAFETY: the child runs only raw syscalls on memory prepared before
    // the fork, and leaves through `_exit`.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let mut slots = [i64::MIN; SLOTS];
            // SAFETY: prctl with integer arguments.
            let nnp = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            // SAFETY: `fprog` points at `filter`, alive until `_exit`.
            let installed = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    flags,
                    &fprog as *const libc::sock_fprog,
                )
            };
            let code = if nnp != 0 || installed != 0 {
                2
            } else {
                probe(&mut slots);
                let bytes = slots.as_ptr().cast::<libc::c_void>();
                let len = std::mem::size_of_val(&slots);
                // SAFETY: writes `len` bytes of `slots` to the pipe.
                let written = unsafe { libc::write(writer_fd, bytes, len) };
                if written == len as isize {
                    0
                } else {
                    3
                }
            };
            // SAFETY: ends the child without running the harness's code.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(writer);
            let mut bytes = Vec::new();
            std::fs::File::from(reader)
                .read_to_end(&mut bytes)
                .expect("read the child's results");
            let status = waitpid(child, None).expect("waitpid");
            assert_eq!(status, WaitStatus::Exited(child, 0), "the filtered child failed");
            assert_eq!(bytes.len(), SLOTS * 8);
            let mut slots = [0; SLOTS];
            for (slot, chunk) in slots.iter_mut().zip(bytes.chunks_exact(8)) {
                *slot = i64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
            }
            slots
        }
    }
}

/// Forks a grandchild that runs `action` and `_exit(7)`s; how it ended,
/// as `exit code` or `-signal`. Raw syscalls only.
fn in_grandchild(action: fn()) -> i64 {
    // SAFETY: fork(2); the grandchild runs `action` (raw syscalls) and
    // `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        action();
        // SAFETY: ends the grandchild.
        unsafe { libc::_exit(7) }
    }
    if pid < 0 {
        return i64::MIN;
    }
    let mut status = 0;
    // SAFETY: waits for the grandchild, writing into `status`.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    if waited != pid {
        i64::MIN + 1
    } else if libc::WIFEXITED(status) {
        i64::from(libc::WEXITSTATUS(status))
    } else {
        -i64::from(libc::WTERMSIG(status))
    }
}

fn probe_default(slots: &mut [i64; SLOTS]) {
    // SAFETY: getpid takes nothing.
    slots[0] = outcome(unsafe { libc::syscall(libc::SYS_getpid) });
    // SAFETY: unshare with a flag word; refused before it acts.
    slots[1] = outcome(unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) });
    // Null pointers: refused by the filter, or EFAULT from the kernel.
    // SAFETY: mount with null arguments changes nothing.
    slots[2] = outcome(unsafe { libc::syscall(libc::SYS_mount, 0usize, 0usize, 0usize, 0usize, 0usize) });
    // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, 0).
    slots[3] = outcome(unsafe { libc::syscall(libc::SYS_keyctl, 0, -2, 0) });
    // SAFETY: clone3 with a null argument of size 0 (EINVAL unfiltered).
    slots[5] = outcome(unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) });
    // CLONE_NEWNS with CLONE_FS is EINVAL to the kernel: no process is
    // made even if the filter let it through.
    let flags = libc::CLONE_NEWNS | libc::CLONE_FS | libc::SIGCHLD;
    // SAFETY: clone with flags the kernel refuses, so it never forks.
    slots[6] = outcome(unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) });
    // SAFETY: personality(PER_LINUX).
    slots[7] = outcome(unsafe { libc::syscall(libc::SYS_personality, 0usize) });
    // SAFETY: personality(READ_IMPLIES_EXEC), refused before it acts.
    slots[8] = outcome(unsafe { libc::syscall(libc::SYS_personality, 0x0040_0000usize) });
    // SAFETY: personality(0xffffffff) only queries.
    slots[9] = outcome(unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffusize) });
    // A plain fork (glibc's clone without namespace flags) works.
    slots[10] = in_grandchild(|| {});
    // An x32 syscall is another ABI: the bad-arch action kills.
    slots[11] = in_grandchild(|| {
        // SAFETY: getpid through the x32 ABI.
        unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) };
    });
    // SAFETY: socket(AF_VSOCK, SOCK_STREAM, 0), refused by the filter.
    slots[12] = outcome(unsafe { libc::syscall(libc::SYS_socket, libc::AF_VSOCK, libc::SOCK_STREAM, 0) });
    // SAFETY: socket(AF_UNIX, SOCK_STREAM, 0): a descriptor, closed with
    // the child.
    slots[13] = outcome(unsafe { libc::syscall(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_STREAM, 0) });
    // SAFETY: io_uring_setup(1, NULL): refused, or EFAULT.
    slots[14] = outcome(unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, 0usize) });
    // Last: where it succeeds the test process becomes this child's
    // tracer, and a later grandchild's SIGCHLD would stop it for good.
    // SAFETY: ptrace(PTRACE_TRACEME) takes no pointer.
    slots[4] = outcome(unsafe { libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0) });
}

#[test]
fn the_default_filter_refuses_in_a_real_child() {
    let program = compile(&default_policy(&default_caps())).expect("compiles");
    let slots = run_filtered(&program, probe_default);
    let eperm = -i64::from(libc::EPERM);
    assert!(slots[0] > 0, "getpid: {}", slots[0]);
    assert_eq!(slots[1], eperm, "unshare(CLONE_NEWUSER)");
    assert_eq!(slots[2], eperm, "mount");
    assert_eq!(slots[3], eperm, "keyctl");
    assert_eq!(slots[4], eperm, "ptrace(PTRACE_TRACEME)");
    assert_eq!(slots[5], -i64::from(libc::ENOSYS), "clone3");
    assert_eq!(slots[6], eperm, "clone(CLONE_NEWNS|...)");
    assert!(slots[7] >= 0, "personality(0x0): {}", slots[7]);
    assert_eq!(
        slots[8],
        -i64::from(libc::ENOSYS),
        "personality(0x400000): the default"
    );
    assert!(slots[9] >= 0, "personality(0xffffffff): {}", slots[9]);
    assert_eq!(slots[10], 7, "plain fork");
    assert_eq!(slots[11], -i64::from(libc::SIGSYS), "x32 getpid kills");
    assert_eq!(slots[12], eperm, "socket(AF_VSOCK)");
    assert!(slots[13] >= 0, "socket(AF_UNIX): {}", slots[13]);
    assert_eq!(slots[14], eperm, "io_uring_setup");
}

fn probe_admin(slots: &mut [i64; SLOTS]) {
    // SAFETY: unshare(CLONE_NEWUSER) in this child only.
    slots[0] = outcome(unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) });
    // SAFETY: clone3 with a null argument of size 0: EINVAL from the
    // kernel once the filter lets it through.
    slots[1] = outcome(unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) });
    // SAFETY: ptrace(PTRACE_TRACEME): still refused, no CAP_SYS_PTRACE.
    slots[2] = outcome(unsafe { libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0) });
}

#[test]
fn with_cap_sys_admin_unshare_and_clone3_are_allowed() {
    let program = compile(&default_policy(&with(Capability::SysAdmin))).expect("compiles");
    let slots = run_filtered(&program, probe_admin);
    assert_eq!(slots[0], 0, "unshare(CLONE_NEWUSER)");
    assert_eq!(slots[1], -i64::from(libc::EINVAL), "clone3 reaches the kernel");
    assert_eq!(slots[2], -i64::from(libc::EPERM), "ptrace");
}

#[test]
fn the_probes_are_not_refused_without_the_default_filter() {
    // The same probes under a filter that allows everything: none of the
    // refusals above is the kernel's own answer.
    let allow_all = Policy {
        default_action: Action::Allow,
        architectures: Vec::new(),
        flags: Vec::new(),
        syscalls: Vec::new(),
    };
    let slots = run_filtered(&compile(&allow_all).expect("compiles"), probe_default);
    let eperm = -i64::from(libc::EPERM);
    for (slot, what) in [
        (1, "unshare"),
        (2, "mount"),
        (3, "keyctl"),
        (4, "ptrace"),
        (5, "clone3"),
        (6, "clone"),
        (8, "personality"),
        (12, "socket(AF_VSOCK)"),
        (14, "io_uring_setup"),
    ] {
        assert_ne!(slots[slot], eperm, "{what} is refused even without the filter");
    }
    assert_eq!(slots[5], -i64::from(libc::EINVAL), "clone3");
    assert_eq!(slots[6], -i64::from(libc::EINVAL), "clone");
    // The bad-arch action is `compile`'s, whatever the policy says.
    assert_eq!(
        slots[11],
        -i64::from(libc::SIGSYS),
        "x32 getpid kills under any compiled filter"
    );
}

// ---- The front decides every syscall as libseccomp's whole program. ----

mod equivalence {
    use proptest::prelude::*;

    use super::super::bpf::NATIVE_AUDIT_ARCH;
    use super::super::by_number::decided_by_number;
    use super::super::compile::compile_whole;
    use super::super::interpreter::{run, SeccompData};
    use super::*;

    /// `AUDIT_ARCH_I386` and `AUDIT_ARCH_AARCH64`, beside the native one.
    const OTHER_ARCHES: [u32; 3] = [0x4000_0003, 0xc000_00b7, 0];

    /// Numbers past the native table's: the x32 ABI's, the extremes.
    fn far_numbers() -> impl Iterator<Item = u32> {
        (0x3fff_fff0..0x4000_0300).chain([0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff])
    }

    /// Vectors of the tests' own, beyond the compiler's check's: every
    /// two conditions on different arguments crossed, each at its values
    /// and their neighbours.
    fn pairs(policy: &Policy) -> Vec<[u64; 6]> {
        let conditions: Vec<(usize, [u64; 5])> = policy
            .syscalls
            .iter()
            .flat_map(|rule| &rule.args)
            .filter_map(|c| {
                let index = super::super::check::index_of(c)?;
                let both = c.value & c.value_two;
                Some((
                    index,
                    [
                        c.value,
                        c.value_two,
                        both,
                        c.value.wrapping_add(1),
                        c.value.wrapping_sub(1),
                    ],
                ))
            })
            .collect();
        let mut vectors = Vec::new();
        for (i, (first, first_values)) in conditions.iter().enumerate() {
            for (second, second_values) in conditions
                .iter()
                .skip(i + 1)
                .filter(|(second, _)| second != first)
            {
                for &a in first_values {
                    for &b in second_values {
                        let mut args = [0; 6];
                        args[*first] = a;
                        args[*second] = b;
                        vectors.push(args);
                    }
                }
            }
        }
        vectors.sort_unstable();
        vectors.dedup();
        vectors
    }

    /// Runs both programs of `policy` on `numbers` under every
    /// architecture, each with every argument vector of the compiler's
    /// check and, where either program reads an argument, every pair of
    /// conditions crossed; the first syscall they decide differently.
    fn first_difference(policy: &Policy, numbers: &[u32]) -> Option<String> {
        let ours = compile(policy).expect("compiles").instructions;
        let whole = compile_whole(policy).expect("libseccomp compiles it");
        let native = NATIVE_AUDIT_ARCH.expect("a native architecture the front knows");
        let vectors = super::super::check::argument_vectors(policy);
        let pairs = pairs(policy);
        for arch in std::iter::once(native).chain(OTHER_ARCHES) {
            for &nr in numbers {
                let reads_arguments = decided_by_number(&ours, arch, nr).is_none()
                    || decided_by_number(&whole, arch, nr).is_none();
                let deep = if reads_arguments { &pairs[..] } else { &[] };
                for args in vectors.iter().chain(deep) {
                    let data = SeccompData {
                        nr,
                        arch,
                        args: *args,
                        ..SeccompData::default()
                    };
                    let (a, b) = (
                        run(&ours, &data).expect("runs"),
                        run(&whole, &data).expect("runs"),
                    );
                    if a != b {
                        return Some(format!(
                            "arch {arch:#x} nr {nr} args {args:x?}: {a:#x}, libseccomp's {b:#x}"
                        ));
                    }
                }
            }
        }
        None
    }

    /// A review's case: on i386 a `socketcall` rule and two `socket` rules
    /// that libseccomp makes socketcall(2) checks of different actions. A
    /// rest without the `socketcall` rule refused the second `socket` rule
    /// whole, its check of the direct syscall (359) with it, and allowed
    /// `socket(AF_INET, SOCK_RAW)` there, which the policy kills. Many
    /// rules more, so that fronts pay.
    #[test]
    fn rules_rewritten_to_a_multiplexer_meet_the_rules_that_name_it() {
        let socket = |first: u64, action| Rule {
            names: vec!["socket".to_owned()],
            action,
            args: vec![
                ArgCondition::new(0, ArgOp::Equal, first),
                ArgCondition::new(1, ArgOp::Equal, 3),
            ],
        };
        let mut syscalls = vec![
            Rule::new(["socketcall"], Action::Errno(1)),
            socket(1, Action::Errno(1)),
            socket(2, Action::KillProcess),
        ];
        // Up to sendfile, and from fcntl: no other socket rule.
        let fcntl = NEIGHBOURS
            .iter()
            .position(|&name| name == "fcntl")
            .expect("fcntl");
        let many = NEIGHBOURS[..41].iter().chain(&NEIGHBOURS[fcntl..]);
        syscalls.extend(many.map(|name| Rule::new([*name], Action::Errno(2))));
        let policy = Policy {
            default_action: Action::Allow,
            architectures: vec![Arch::X86_64, Arch::X86],
            flags: Vec::new(),
            syscalls,
        };
        let numbers: Vec<u32> = (0..1100).chain(far_numbers()).collect();
        assert_eq!(first_difference(&policy, &numbers), None);
        let ours = compile(&policy).expect("compiles").instructions;
        let raw_socket = SeccompData {
            nr: 359,
            arch: 0x4000_0003,
            args: [2, 3, 0, 0, 0, 0],
            ..SeccompData::default()
        };
        assert_eq!(run(&ours, &raw_socket), Some(0x8000_0000), "killed");
        let whole = compile_whole(&policy).expect("compiles");
        println!("{} instructions, libseccomp's {}", ours.len(), whole.len());
        assert!(ours.len() < whole.len(), "fronts are used");
    }

    #[test]
    fn the_default_policy_decides_as_libseccomp_on_every_syscall() {
        let numbers: Vec<u32> = (0..1100).chain(far_numbers()).collect();
        for caps in [
            BTreeSet::new(),
            default_caps(),
            Capability::ALL.iter().copied().collect(),
        ] {
            let policy = default_policy(&caps);
            assert_eq!(first_difference(&policy, &numbers), None, "{} caps", caps.len());
            let ours = compile(&policy).expect("compiles").instructions.len();
            let whole = compile_whole(&policy).expect("compiles").len();
            println!(
                "default profile, {} caps: {ours} instructions, libseccomp's {whole}",
                caps.len()
            );
            assert!(
                ours * 3 < whole,
                "{ours} instructions against libseccomp's {whole}"
            );
        }
    }

    /// podman's own profile, as containers-common ships it (the README's
    /// test command installs podman, which brings it): x86-64, i386 and
    /// x32, each with a front, and every syscall of each decided as
    /// libseccomp decides it, in under a third of its instructions.
    #[test]
    fn podmans_profile_decides_as_libseccomp_on_every_abi() {
        let path = "/usr/share/containers/seccomp.json";
        let bytes = std::fs::read(path)
            .unwrap_or_else(|error| panic!("{path} (podman's containers-common): {error}"));
        let numbers: Vec<u32> = (0..1100).chain(far_numbers()).collect();
        for caps in [default_caps(), Capability::ALL.iter().copied().collect()] {
            let policy = Policy::from_json(&bytes, &caps).expect("podman's profile reads");
            assert_eq!(policy.architectures, [Arch::X86_64, Arch::X86, Arch::X32]);
            assert_eq!(first_difference(&policy, &numbers), None, "{} caps", caps.len());
            let ours = compile(&policy).expect("compiles").instructions.len();
            let whole = compile_whole(&policy).expect("compiles").len();
            println!(
                "podman's profile, {} caps: {ours} instructions, libseccomp's {whole}",
                caps.len()
            );
            assert!(
                ours * 3 < whole,
                "{ours} instructions against libseccomp's {whole}"
            );
        }
    }

    #[test]
    fn what_libseccomp_refuses_is_refused_with_the_front_too() {
        // An errno past MAX_ERRNO, on a syscall the front would decide.
        let policy = Policy {
            default_action: Action::Allow,
            architectures: Vec::new(),
            flags: Vec::new(),
            syscalls: vec![
                Rule::new(["getpid"], Action::Errno(1)),
                Rule::new(["read"], Action::Errno(4095)),
            ],
        };
        assert!(compile_whole(&policy).is_err(), "libseccomp refuses it");
        assert!(compile(&policy).is_err(), "so does compile");
    }

    /// Names the random policies draw from: known ones, neighbours by
    /// number and not, i386's and x32's odd ones, and two that no
    /// architecture has.
    const NAMES: &[&str] = &[
        "read",
        "write",
        "open",
        "close",
        "stat",
        "fstat",
        "lstat",
        "poll",
        "lseek",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "ioctl",
        "clone",
        "clone3",
        "fork",
        "vfork",
        "execve",
        "exit",
        "kill",
        "uname",
        "socket",
        "connect",
        "personality",
        "mount",
        "umount2",
        "ptrace",
        "keyctl",
        "unshare",
        "setns",
        "getpid",
        "getppid",
        "io_uring_setup",
        "openat2",
        "futex_waitv",
        "socketcall",
        // Multiplexed on i386 (socketcall, ipc), or numbered apart there
        // or on x32.
        "bind",
        "accept4",
        "recvmmsg",
        "semop",
        "shmat",
        "msgsnd",
        "ipc",
        "_llseek",
        "mmap2",
        "set_thread_area",
        "rt_sigaction",
        "readv",
        "no_such_syscall",
        "another_unknown",
    ];

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            8 => Just(Action::Allow),
            8 => (1u16..4).prop_map(Action::Errno),
            4 => Just(Action::Errno(38)),
            4 => Just(Action::KillProcess),
            4 => Just(Action::KillThread),
            4 => Just(Action::Trap),
            4 => Just(Action::Log),
            4 => (0u16..3).prop_map(Action::Trace),
            // libseccomp refuses these: so must the compiler.
            1 => Just(Action::Errno(4095)),
            1 => Just(Action::Errno(u16::MAX)),
        ]
    }

    fn condition() -> impl Strategy<Value = ArgCondition> {
        let value = prop_oneof![
            Just(0u64),
            Just(1),
            Just(8),
            Just(0xffff_ffff),
            Just(1 << 32),
            Just(u64::MAX),
            any::<u64>(),
        ];
        let op = prop_oneof![
            Just(ArgOp::NotEqual),
            Just(ArgOp::LessThan),
            Just(ArgOp::LessOrEqual),
            Just(ArgOp::Equal),
            Just(ArgOp::GreaterOrEqual),
            Just(ArgOp::GreaterThan),
            Just(ArgOp::MaskedEqual),
        ];
        (0u32..3, op, value.clone(), value).prop_map(|(index, op, value, value_two)| ArgCondition {
            index,
            value,
            value_two: if op == ArgOp::MaskedEqual {
                value_two & value
            } else {
                0
            },
            op,
        })
    }

    fn rule() -> impl Strategy<Value = Rule> {
        (
            proptest::collection::vec(proptest::sample::select(NAMES), 1..6),
            action(),
            prop_oneof![
                3 => Just(Vec::new()),
                1 => proptest::collection::vec(condition(), 1..3),
            ],
        )
            .prop_map(|(names, action, args)| Rule {
                names: names.into_iter().map(str::to_owned).collect(),
                action,
                args,
            })
    }

    /// The ABIs of a random policy: none named (the native one), or
    /// some of x86's, in any order.
    fn architectures() -> impl Strategy<Value = Vec<Arch>> {
        proptest::sample::subsequence(vec![Arch::X86_64, Arch::X86, Arch::X32], 0..=3).prop_shuffle()
    }

    /// Syscalls in the order of their x86-64 numbers (0 to 95), for rules
    /// that name many neighbours: what makes fronts pay.
    const NEIGHBOURS: &[&str] = &[
        "read",
        "write",
        "open",
        "close",
        "stat",
        "fstat",
        "lstat",
        "poll",
        "lseek",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "pread64",
        "pwrite64",
        "readv",
        "writev",
        "access",
        "pipe",
        "select",
        "sched_yield",
        "mremap",
        "msync",
        "mincore",
        "madvise",
        "shmget",
        "shmat",
        "shmctl",
        "dup",
        "dup2",
        "pause",
        "nanosleep",
        "getitimer",
        "alarm",
        "setitimer",
        "getpid",
        "sendfile",
        "socket",
        "connect",
        "accept",
        "sendto",
        "recvfrom",
        "sendmsg",
        "recvmsg",
        "shutdown",
        "bind",
        "listen",
        "getsockname",
        "getpeername",
        "socketpair",
        "setsockopt",
        "getsockopt",
        "clone",
        "fork",
        "vfork",
        "execve",
        "exit",
        "wait4",
        "kill",
        "uname",
        "semget",
        "semop",
        "semctl",
        "shmdt",
        "msgget",
        "msgsnd",
        "msgrcv",
        "msgctl",
        "fcntl",
        "flock",
        "fsync",
        "fdatasync",
        "truncate",
        "ftruncate",
        "getdents",
        "getcwd",
        "chdir",
        "fchdir",
        "rename",
        "mkdir",
        "rmdir",
        "creat",
        "link",
        "unlink",
        "symlink",
        "readlink",
        "chmod",
        "fchmod",
        "chown",
        "fchown",
        "lchown",
        "umask",
    ];

    /// A rule of one action without conditions over a stretch of
    /// neighbours.
    fn stretch() -> impl Strategy<Value = Rule> {
        (0..NEIGHBOURS.len() - 10, 10..60usize, action()).prop_map(|(start, length, action)| {
            let end = (start + length).min(NEIGHBOURS.len());
            Rule::new(NEIGHBOURS[start..end].iter().copied(), action)
        })
    }

    /// A few stretches, then random rules (which may name the same
    /// syscalls again, with other actions and conditions).
    fn policy() -> impl Strategy<Value = Policy> {
        (
            action(),
            architectures(),
            proptest::collection::vec(stretch(), 0..3),
            proptest::collection::vec(rule(), 0..25),
        )
            .prop_map(|(default_action, architectures, stretches, rules)| Policy {
                default_action,
                architectures,
                flags: Vec::new(),
                syscalls: stretches.into_iter().chain(rules).collect(),
            })
    }

    /// The random policies exercise fronts and a rest, not only the whole
    /// program they fall back to.
    #[test]
    fn random_policies_often_take_fronts() {
        use proptest::strategy::ValueTree as _;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut compiled, mut shorter) = (0, 0);
        for _ in 0..200 {
            let policy = policy().new_tree(&mut runner).expect("a policy").current();
            let (Ok(ours), Ok(whole)) = (compile(&policy), compile_whole(&policy)) else {
                continue;
            };
            compiled += 1;
            if ours.instructions.len() < whole.len() {
                shorter += 1;
            }
        }
        println!("{shorter} of {compiled} compiled random policies took fronts");
        assert!(shorter * 3 >= compiled, "{shorter} of {compiled}");
    }

    /// How long a random policy may take libseccomp to compile: it takes
    /// milliseconds, or never ends (see `bounded`).
    const RANDOM_POLICY_BOUND: Duration = Duration::from_secs(5);

    /// The random policies' seed, unless `PROPTEST_RNG_SEED` names another:
    /// the suite runs the same 96 each time, and a wider search is run by
    /// hand.
    const RANDOM_POLICIES_SEED: u64 = 0x5ecc_0d5e_ed00_0001;

    fn random_policies_config() -> ProptestConfig {
        let config = ProptestConfig::with_cases(96);
        let rng_seed = match config.rng_seed {
            proptest::test_runner::RngSeed::Random => {
                proptest::test_runner::RngSeed::Fixed(RANDOM_POLICIES_SEED)
            }
            chosen => chosen,
        };
        ProptestConfig { rng_seed, ..config }
    }

    proptest! {
        #![proptest_config(random_policies_config())]

        /// Any policy of x86's ABIs that libseccomp compiles at all: both
        /// compile or neither, with the same error; compiled, they decide
        /// alike, on every ABI.
        #[test]
        fn a_random_policy_decides_as_libseccomp(policy in policy()) {
            // Compiled here only once it is known to end there; and the
            // same program, or error, either way.
            match compile_within(&policy, RANDOM_POLICY_BOUND) {
                Err(SeccompError::CompileTimedOut { .. }) => {
                    prop_assume!(false, "libseccomp never returns from this policy");
                }
                Ok(apart) => prop_assert_eq!(Some(apart), compile(&policy).ok()),
                Err(SeccompError::FailedApart { message }) => {
                    prop_assert_eq!(Some(message), compile(&policy).err().map(|e| e.to_string()));
                }
                Err(SeccompError::NoKnownSyscall { .. }) => {
                    let here = matches!(compile(&policy), Err(SeccompError::NoKnownSyscall { .. }));
                    prop_assert!(here, "unknown names apart, not here");
                }
                Err(error) => prop_assert!(false, "compiled apart: {}", error),
            }
            match (compile(&policy), compile_whole(&policy)) {
                (Ok(_), Ok(_)) => {
                    let numbers: Vec<u32> = (0..470).chain(far_numbers().step_by(7)).collect();
                    prop_assert_eq!(first_difference(&policy, &numbers), None);
                }
                (Err(ours), Err(whole)) => prop_assert_eq!(ours.to_string(), whole.to_string()),
                (ours, whole) => prop_assert!(
                    false,
                    "compile: {:?}, libseccomp alone: {:?}",
                    ours.map(|p| p.instructions.len()),
                    whole.map(|p| p.len())
                ),
            }
        }
    }
}
