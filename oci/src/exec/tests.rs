//! Process files as engines write them, mapped field by field; each
//! refusal named by its JSON path; files that are not JSON named by path.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cradle_core::config::{Rlimit, RlimitResource};
use cradle_core::{Capability, Launch, Plan, Terminal, Time, WindowSize};
use oci_spec::runtime::Process;
use serde_json::{json, Value};

use crate::{ExecProcess, OciError};

/// What podman 4 hands `exec --process` for `podman exec ID /bin/echo ok`.
fn podman_exec() -> Value {
    let caps = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_SETGID",
    ];
    json!({
        "user": { "uid": 0, "gid": 0 },
        "args": ["/bin/echo", "ok"],
        "env": ["PATH=/usr/bin:/bin", "TERM=xterm", "container=podman", "HOSTNAME=box"],
        "cwd": "/",
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
        "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
        "noNewPrivileges": false,
        "oomScoreAdj": 0,
        "apparmorProfile": "",
        "selinuxLabel": ""
    })
}

/// `podman_exec()` with `value` at `key`.
fn with(key: &str, value: Value) -> Value {
    let mut process = podman_exec();
    process[key] = value;
    process
}

/// The JSON path the refusal of `process` names, checked to lead its
/// one-line message.
fn refused(process: &Value) -> String {
    match ExecProcess::from_json(process) {
        Ok(mapped) => panic!("mapped: {process} as {:?}", mapped.config),
        Err(error) => {
            let path = error.json_path().unwrap_or_else(|| panic!("no path in: {error}"));
            assert!(error.to_string().starts_with(path), "{error}");
            assert!(!error.to_string().contains('\n'), "{error}");
            path.to_owned()
        }
    }
}

fn set(caps: &[Capability]) -> BTreeSet<Capability> {
    caps.iter().copied().collect()
}

#[test]
fn a_podman_process_maps_onto_a_setns_config() {
    let mapped = ExecProcess::from_json(&podman_exec()).expect("maps");
    let config = &mapped.config;
    assert_eq!(config.args, ["/bin/echo", "ok"]);
    assert_eq!(
        config.env,
        [
            "PATH=/usr/bin:/bin",
            "TERM=xterm",
            "container=podman",
            "HOSTNAME=box"
        ]
    );
    assert_eq!(config.cwd, Path::new("/"));
    assert_eq!((config.user.uid, config.user.gid), (0, 0));
    let caps = config.capabilities.as_ref().expect("the file's capabilities");
    let expected = set(&[
        Capability::Chown,
        Capability::Kill,
        Capability::NetBindService,
        Capability::Setuid,
        Capability::Setgid,
    ]);
    assert_eq!(caps.bounding, expected);
    assert_eq!(caps.effective, expected);
    assert_eq!(caps.permitted, expected);
    assert!(caps.inheritable.is_empty() && caps.ambient.is_empty());
    assert_eq!(
        config.rlimits,
        [Rlimit {
            resource: RlimitResource::Nofile,
            soft: 1024,
            hard: 1024
        }]
    );
    assert!(!config.no_new_privileges);
    assert_eq!(config.oom_score_adj, Some(0));
    assert_eq!(config.terminal, Terminal::None);
    assert!(mapped.warnings.is_empty());
    // Nothing of a container's: the core takes it as a setns plan.
    assert!(config.namespaces.is_empty() && config.rootfs.is_none() && config.mounts.is_empty());
    assert_eq!(config.seccomp, None);
    Launch::new(Plan::setns(mapped.config), Time::ZERO).expect("a valid setns plan");
}

#[test]
fn user_details_no_new_privileges_and_a_sized_terminal_map() {
    let mut process = podman_exec();
    process["user"] = json!({ "uid": 1000, "gid": 100, "umask": 18, "additionalGids": [5, 6] });
    process["noNewPrivileges"] = json!(true);
    process["terminal"] = json!(true);
    process["consoleSize"] = json!({ "height": 24, "width": 80 });
    process["cwd"] = json!("/work");
    let mapped = ExecProcess::from_json(&process).expect("maps");
    let config = &mapped.config;
    assert_eq!((config.user.uid, config.user.gid), (1000, 100));
    assert_eq!(config.user.additional_gids, [5, 6]);
    assert_eq!(config.umask, Some(0o22));
    assert!(config.no_new_privileges);
    assert_eq!(config.cwd, PathBuf::from("/work"));
    assert_eq!(
        config.terminal,
        Terminal::Console {
            size: Some(WindowSize { rows: 24, cols: 80 })
        }
    );
}

#[test]
fn without_capabilities_the_caller_confines_the_process() {
    let mut process = podman_exec();
    process.as_object_mut().expect("an object").remove("capabilities");
    let mapped = ExecProcess::from_json(&process).expect("maps");
    assert_eq!(mapped.config.capabilities, None);
}

#[test]
fn each_refusal_names_its_path() {
    let mut oversized_terminal = with("terminal", json!(true));
    oversized_terminal["consoleSize"] = json!({ "height": 70000, "width": 1 });
    let cases = [
        (
            with("apparmorProfile", json!("docker-default")),
            "process.apparmorProfile",
        ),
        (
            with("selinuxLabel", json!("system_u:system_r:container_t:s0")),
            "process.selinuxLabel",
        ),
        (
            with("scheduler", json!({ "policy": "SCHED_OTHER" })),
            "process.scheduler",
        ),
        (with("args", json!([])), "process.args"),
        (with("args", json!("echo")), "process.args"),
        (with("cwd", json!("work")), "process.cwd"),
        (with("user", json!({ "uid": "root" })), "process.user.uid"),
        (with("oomScoreAdj", json!(-1001)), "process.oomScoreAdj"),
        (
            with("capabilities", json!({ "effective": ["CAP_KILL"] })),
            "process.capabilities",
        ),
        (
            with(
                "rlimits",
                json!([{ "type": "RLIMIT_NOPE", "hard": 1, "soft": 1 }]),
            ),
            "process.rlimits[0].type",
        ),
        (
            with(
                "rlimits",
                json!([{ "type": "RLIMIT_CORE", "hard": 1, "soft": 2 }]),
            ),
            "process.rlimits[0].soft",
        ),
        (oversized_terminal, "process.consoleSize.height"),
        (json!(["/bin/echo"]), "process"),
    ];
    for (process, path) in cases {
        assert_eq!(refused(&process), path, "{process}");
    }
    // A process without a cwd: oci-spec names the field in its message.
    let mut no_cwd = podman_exec();
    no_cwd.as_object_mut().expect("an object").remove("cwd");
    let error = ExecProcess::from_json(&no_cwd).expect_err("no cwd");
    assert_eq!(error.to_string(), "process: missing field `cwd`");
}

#[test]
fn empty_lsm_fields_ask_for_nothing() {
    let process = with("apparmorProfile", json!(""));
    ExecProcess::from_json(&process).expect("an empty profile is none");
}

#[test]
fn a_process_built_in_code_is_refused_as_its_json_would_be() {
    let mut process = Process::default();
    process.set_selinux_label(Some("label".to_owned()));
    let error = ExecProcess::from_process(&process).expect_err("no LSM");
    assert_eq!(error.json_path(), Some("process.selinuxLabel"));
    let mapped = ExecProcess::from_process(&Process::default()).expect("the default process maps");
    assert_eq!(mapped.config.args, ["sh"]);
}

#[test]
fn an_unknown_capability_is_dropped_with_a_warning_naming_it() {
    let process = with(
        "capabilities",
        json!({ "bounding": ["CAP_CHOWN", "CAP_FROM_THE_FUTURE"], "permitted": ["CAP_CHOWN"] }),
    );
    let mapped = ExecProcess::from_json(&process).expect("maps");
    assert_eq!(mapped.warnings.len(), 1, "{:?}", mapped.warnings);
    assert!(
        mapped.warnings[0].starts_with("process.capabilities.bounding[1]"),
        "{:?}",
        mapped.warnings
    );
    let caps = mapped.config.capabilities.expect("capabilities");
    assert_eq!(caps.bounding, set(&[Capability::Chown]));
}

#[test]
fn a_missing_or_broken_file_names_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("missing.json");
    assert!(matches!(
        ExecProcess::load(&missing),
        Err(OciError::Read { path, .. }) if path == missing
    ));
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{ not json").expect("write");
    let error = ExecProcess::load(&broken).expect_err("not JSON");
    assert!(
        matches!(&error, OciError::NotJson { path, .. } if *path == broken),
        "{error}"
    );
    let good = dir.path().join("process.json");
    std::fs::write(&good, podman_exec().to_string()).expect("write");
    let mapped = ExecProcess::load(&good).expect("loads");
    assert_eq!(mapped.config.args, ["/bin/echo", "ok"]);
}
