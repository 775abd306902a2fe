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

#[test]
fn every_subcommands_help_starts_with_its_own_flags_then_the_global_ones() {
    let sandbox = Sandbox::new("helplayout");
    let own: &[(&str, &str)] = &[
        ("run", "--name <ID>"),
        ("exec", "--env <KEY=VALUE>"),
        ("list", "-f, --format <FORMAT>"),
        ("ps", "-f, --format <FORMAT>"),
        ("state", "<ID>"),
        ("kill", "--all"),
        ("delete", "--force"),
        ("create", "--bundle <DIR>"),
    ];
    for (command, flag) in own {
        let output = sandbox.cradle().args([command, "--help"]).output().expect("help");
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).expect("utf-8");
        let own_at = help
            .find(flag)
            .unwrap_or_else(|| panic!("{command}: no {flag}: {help}"));
        let global_at = help
            .find("Global options:")
            .unwrap_or_else(|| panic!("{command}: no global options heading: {help}"));
        let root_at = help.find("--root <DIR>").expect("--root");
        assert!(own_at < global_at && global_at < root_at, "{command}: {help}");
        assert!(help.contains("Example"), "{command}: {help}");
    }
}
