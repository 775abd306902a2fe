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

/// One option or argument of a help page: its names (`-d`, `--detach`;
/// `<ID>`) and its description.
#[derive(Debug)]
struct Entry {
    names: Vec<String>,
    text: String,
}

/// The entries of a long help page: a line indented by two to six spaces
/// (six where an option has no short name) that starts with `-`, `<` or
/// `[` names one, and the more indented lines after it describe it.
fn entries(help: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut open = false;
    for line in help.lines() {
        let indent = line.len() - line.trim_start().len();
        let first = line.trim_start().chars().next();
        if (2..=6).contains(&indent) && matches!(first, Some('-' | '<' | '[')) {
            let head = line.trim();
            let names = head
                .split(", ")
                .map(|name| name.split([' ', '=']).next().unwrap_or(name).to_owned())
                .collect();
            entries.push(Entry {
                names,
                text: String::new(),
            });
            open = true;
        } else if open && (indent > 6 || line.trim().is_empty()) {
            let entry = entries.last_mut().expect("an open entry");
            entry.text.push(' ');
            entry.text.push_str(line.trim());
        } else {
            open = false;
        }
    }
    entries
}

/// The example an entry's description gives (`Example: --ns mount,pid`),
/// up to the end of its paragraph.
fn own_example(entry: &Entry) -> Option<&str> {
    let (_, rest) = entry.text.split_once("Example: ")?;
    Some(rest.split("  ").next().unwrap_or(rest).trim())
}

/// The command lines under the page's `Examples:` (or `Example:`) heading.
fn example_lines(help: &str) -> Vec<&str> {
    help.lines()
        .skip_while(|line| !matches!(line.trim(), "Examples:" | "Example:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .map(str::trim)
        .collect()
}

#[test]
fn every_subcommand_and_flag_has_an_example() {
    let sandbox = Sandbox::new("subhelp");
    // For each subcommand, the options and arguments that must show how
    // they are used: in their own description (`Example: --name web`) or
    // on a line of the page's examples.
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
            ],
        ),
        ("exec", &["--env", "--cwd", "--user", "--timeout"]),
        ("list", &["--format"]),
        ("state", &["<ID>"]),
        ("kill", &["<ID>", "[SIGNAL]"]),
        ("delete", &["--force"]),
    ];
    for (command, flags) in flags {
        let output = sandbox.cradle().args([command, "--help"]).output().expect("help");
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).expect("utf-8");
        let entries = entries(&help);
        let lines = example_lines(&help);
        assert!(!lines.is_empty(), "{command} --help has no examples: {help}");
        for line in &lines {
            assert!(
                line.starts_with(&format!("cradle {command}")),
                "{command}: {line:?}"
            );
        }
        for flag in *flags {
            let entry = entries
                .iter()
                .find(|entry| entry.names.iter().any(|name| name == flag))
                .unwrap_or_else(|| panic!("{command} --help lacks {flag}: {help}"));
            let used = |text: &str| {
                text.split_whitespace()
                    .any(|word| entry.names.iter().any(|name| name == word))
            };
            let shown = match own_example(entry) {
                // An argument's example is its value.
                Some(example) if !flag.starts_with('-') => !example.is_empty(),
                Some(example) => used(example),
                None => false,
            };
            assert!(
                shown || lines.iter().any(|line| used(line)),
                "{command} --help: no example uses {flag} ({:?}): {help}",
                entry.names
            );
        }
    }
    let run = sandbox.cradle().args(["run", "--help"]).output().expect("help");
    assert!(String::from_utf8_lossy(&run.stdout).contains("Exit status: "));
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
