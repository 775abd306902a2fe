//! `--help`: every subcommand and flag explained, with examples.

mod common;

use common::Sandbox;
use predicates::prelude::*;

#[test]
fn the_main_help_lists_every_subcommand_with_examples() {
    let sandbox = Sandbox::new("help");
    let mut assert = sandbox.cradle().arg("--help").assert().success();
    for word in [
        "run",
        "exec",
        "list",
        "state",
        "kill",
        "delete",
        "--root",
        "Examples:",
    ] {
        assert = assert.stdout(predicate::str::contains(word));
    }
}

#[test]
fn every_subcommand_and_flag_has_an_example() {
    let sandbox = Sandbox::new("subhelp");
    let flags: &[(&str, &[&str])] = &[
        (
            "run",
            &[
                "--name",
                "--rootfs",
                "--hostname",
                "--ns",
                "--net",
                "--userns",
                "--uid-map",
                "--gid-map",
                "--user",
                "--env",
                "--cwd",
                "--memory",
                "--pids",
                "--cpus",
                "--timeout",
                "--detach",
                "--tty",
                "--init",
                "Exit status",
            ],
        ),
        ("exec", &["--env", "--cwd", "--user", "--timeout"]),
        ("list", &["--format"]),
        ("state", &["<ID>"]),
        ("kill", &["[SIGNAL]"]),
        ("delete", &["--force"]),
    ];
    for (command, flags) in flags {
        let output = sandbox.cradle().args([command, "--help"]).output().expect("help");
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).expect("utf-8");
        assert!(help.contains("Example"), "{command}: {help}");
        for flag in *flags {
            assert!(help.contains(flag), "{command} --help lacks {flag}: {help}");
        }
    }
}
