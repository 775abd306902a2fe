//! Bad input: one line on stderr, exit 125 (a bad command line, `run` and
//! `exec`) or 1 (runc's code, for the commands on a container), and
//! nothing left behind.

mod common;

use common::{one_line, require_root, Sandbox};

/// Runs `cradle <args>` and checks the one-line error and exit code 125;
/// returns the line.
fn refused(sandbox: &Sandbox, args: &[&str]) -> String {
    refused_with(sandbox, args, 125)
}

/// [`refused`], with exit code `code`.
fn refused_with(sandbox: &Sandbox, args: &[&str], code: i32) -> String {
    let output = sandbox.cradle().args(args).output().expect("cradle");
    assert_eq!(
        output.status.code(),
        Some(code),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty(), "{args:?}");
    one_line(&output.stderr)
}

#[test]
fn bad_flags_and_values_are_refused_in_one_line() {
    // Refused before anything is made, so no root is needed, but a root
    // caller must still find nothing left.
    let sandbox = Sandbox::new("badflags");
    let name = sandbox.name("c");
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--bogus", "--", "true"], "unexpected argument '--bogus'"),
        (&["frobnicate"], "unrecognized subcommand"),
        (&["run"], "a command after `--`"),
        (&["run", "--memory", "12x", "--", "true"], "--memory"),
        (&["run", "--memory", "0", "--", "true"], "--memory"),
        (&["run", "--pids", "0", "--", "true"], "--pids"),
        (&["run", "--cpus", "lots", "--", "true"], "--cpus"),
        (&["run", "--timeout", "soon", "--", "true"], "--timeout"),
        (
            &[
                "run",
                "--userns",
                "--uid-map",
                "0:1",
                "--gid-map",
                "0:1:1",
                "--",
                "true",
            ],
            "--uid-map",
        ),
        (
            &["run", "--uid-map", "0:100000:65536", "--", "true"],
            "need --userns",
        ),
        (
            &["run", "--userns", "--uid-map", "0:1:1", "--", "true"],
            "both --uid-map and --gid-map",
        ),
        (&["run", "--user", "root", "--", "true"], "--user"),
        (&["run", "--cwd", "relative", "--", "true"], "--cwd"),
        (&["run", "--ns", "pid,bogus", "--", "true"], "--ns"),
        (&["run", "--ns", "pid,pid", "--", "true"], "twice"),
        (&["run", "--net", "wifi", "--", "true"], "--net"),
        (
            &["run", "--net", "veth:address=10.0.0.300/24", "--", "true"],
            "--net",
        ),
        (&["run", "--name", "../escape", "--", "true"], "--name"),
        (
            &["run", "--ns", "mount", "--hostname", "x", "--", "true"],
            "uts namespace",
        ),
        (
            &["run", "--ns", "uts", "--rootfs", "/", "--", "true"],
            "mount namespace",
        ),
        (
            &["run", "--ns", "uts", "--net", "loopback", "--", "true"],
            "net namespace",
        ),
        (&["run", "-t", "-d", "--", "true"], "--tty"),
        (
            &["run", "--rootfs", "/no/such/rootfs", "--", "true"],
            "/no/such/rootfs",
        ),
        (
            &["run", "--rootfs", "/etc/passwd", "--", "true"],
            "not a directory",
        ),
        (&["kill", "x", "NOSUCHSIG"], "unknown signal"),
        (&["list", "--format", "xml"], "--format"),
    ];
    for (args, expected) in cases {
        let mut args = args.to_vec();
        // Named, so that a wrongly accepted run would leave a findable cgroup.
        if args.first() == Some(&"run") && !args.contains(&"--name") {
            args.splice(1..1, ["--name", name.as_str()]);
        }
        let line = refused(&sandbox, &args);
        assert!(line.contains(expected), "{args:?}: {line}");
    }
    // An OCI id and a command: the OCI form's code.
    let line = refused_with(&sandbox, &["run", "some-id", "--", "true"], 1);
    assert!(line.contains("not both"), "{line}");
    sandbox.assert_clean();
}

#[test]
fn unknown_ids_are_refused() {
    let sandbox = Sandbox::new("unknown");
    for command in [&["state"][..], &["kill"], &["delete"], &["delete", "--force"]] {
        let mut args = command.to_vec();
        args.push("no-such-container");
        // runc's code for a failed command on a container.
        let line = refused_with(&sandbox, &args, 1);
        assert!(line.contains("no container \"no-such-container\""), "{line}");
    }
    let line = refused(&sandbox, &["exec", "no-such-container", "--", "true"]);
    assert!(line.contains("no container"), "{line}");
    sandbox.assert_clean();
}

#[test]
fn a_duplicate_name_is_refused_and_the_first_container_is_untouched() {
    if !require_root("a_duplicate_name_is_refused_and_the_first_container_is_untouched") {
        return;
    }
    let sandbox = Sandbox::new("duplicate");
    let name = sandbox.name("c");
    sandbox.start_sleeping(&name);
    let before = sandbox.state(&name);
    let line = refused(&sandbox, &["run", "--name", &name, "--", "true"]);
    assert!(line.contains("already exists"), "{line}");
    assert_eq!(sandbox.state(&name), before);
    sandbox
        .cradle()
        .args(["delete", "--force", &name])
        .assert()
        .success();
    sandbox.assert_clean();
}

#[test]
fn a_launch_that_times_out_is_refused_and_cleaned_up() {
    if !require_root("a_launch_that_times_out_is_refused_and_cleaned_up") {
        return;
    }
    let sandbox = Sandbox::new("timeout");
    let name = sandbox.name("c");
    // A deadline no launch can meet.
    let line = refused(
        &sandbox,
        &["run", "--name", &name, "--timeout", "1us", "--", "true"],
    );
    assert!(line.contains("timed out"), "{line}");
    sandbox.assert_clean();
}

#[test]
fn root_must_name_the_maps_of_a_user_namespace() {
    if !require_root("root_must_name_the_maps_of_a_user_namespace") {
        return;
    }
    let sandbox = Sandbox::new("rootmaps");
    let name = sandbox.name("c");
    let line = refused(&sandbox, &["run", "--name", &name, "--userns", "--", "true"]);
    assert!(
        line.contains("--userns as root needs --uid-map and --gid-map"),
        "{line}"
    );
    sandbox.assert_clean();
}

#[test]
fn a_bad_value_is_named_with_its_flag_and_the_subcommands_help() {
    let sandbox = Sandbox::new("badvalue");
    let name = sandbox.name("c");
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--memory", "-5m", "--", "true"],
            "cradle: --memory -5m: a size must be positive (see 'cradle run --help')",
        ),
        (
            &["run", "--pids", "0", "--", "true"],
            "cradle: --pids 0: must be at least 1 (see 'cradle run --help')",
        ),
        (
            &["run", "--pids", "-2", "--", "true"],
            "cradle: --pids -2: must be at least 1 (see 'cradle run --help')",
        ),
        (
            &["run", "--timeout", "xyz", "--", "true"],
            "cradle: --timeout xyz: not a duration (e.g. 500ms, 10s, 1m) (see 'cradle run --help')",
        ),
        (
            &["exec", "--bogus", "web", "--", "true"],
            "(see 'cradle exec --help')",
        ),
        (&["list", "--format", "xml"], "(see 'cradle list --help')"),
        (&["frobnicate"], "(see 'cradle --help')"),
    ];
    for (args, expected) in cases {
        let mut args = args.to_vec();
        if args.first() == Some(&"run") {
            args.splice(1..1, ["--name", name.as_str()]);
        }
        let line = refused(&sandbox, &args);
        assert!(line.trim_end().ends_with(expected), "{args:?}: {line}");
        assert!(!line.contains("expected number at"), "{args:?}: {line}");
    }
    sandbox.assert_clean();
}

#[test]
fn a_tty_without_a_terminal_on_stdin_is_refused_before_anything_is_made() {
    if !require_root("a_tty_without_a_terminal_on_stdin_is_refused_before_anything_is_made") {
        return;
    }
    // The test's cradle has /dev/null as its stdin: no terminal.
    let sandbox = Sandbox::new("notty");
    let name = sandbox.name("c");
    let line = refused(&sandbox, &["run", "--name", &name, "-t", "--", "true"]);
    assert!(line.contains("the input device is not a TTY"), "{line}");
    sandbox.assert_clean();

    let running = sandbox.name("r");
    sandbox.start_sleeping(&running);
    let line = refused(&sandbox, &["exec", "-t", &running, "--", "true"]);
    assert!(line.contains("the input device is not a TTY"), "{line}");
    // Nothing was started in it: its init is still alone.
    let ps = sandbox
        .cradle()
        .args(["ps", "--format", "json", &running])
        .output()
        .expect("ps");
    let pids: serde_json::Value = serde_json::from_slice(&ps.stdout).expect("ps json");
    assert_eq!(pids.as_array().map(Vec::len), Some(1), "{pids}");
    sandbox
        .cradle()
        .args(["delete", "--force", &running])
        .assert()
        .success();
    sandbox.assert_clean();
}
