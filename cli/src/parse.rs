//! The command line, parsed in three tries, each taken only where the one
//! before gives up:
//!
//! 1. without clap (`without_clap`), the plain lines of the commands on a
//!    container's path: `run`, `exec`, and those an engine calls;
//! 2. by the tree of the one subcommand the line names. clap builds its
//!    whole command tree before it parses: every subcommand, each global
//!    option copied into each, every help text. A line that parses needs
//!    only the global options and its own subcommand's arguments, built by
//!    the same derives (`cradle state` 1.22 -> 1.10 ms, when this was the
//!    first try);
//! 3. by the whole tree: help, a version, a mistake, no subcommand, so that
//!    what clap says and how cradle exits are exactly as clap has them.

mod without_clap;

use std::ffi::OsString;

use clap::{Args, FromArgMatches};

use crate::args::{
    Cli, CreateArgs, DeleteArgs, ExecArgs, Globals, IdArgs, KillArgs, ListArgs, PsArgs, RunArgs, SpecArgs,
    StateArgs,
};

/// Adds a subcommand's arguments to its (bare) command.
type Augment = fn(clap::Command) -> clap::Command;

/// Each subcommand's name and arguments, as the `Command` derive builds
/// them (the derive adds only help texts besides). A test checks this
/// against the whole tree.
const SUBCOMMANDS: &[(&str, Augment)] = &[
    ("create", CreateArgs::augment_args),
    ("start", IdArgs::augment_args),
    ("pause", IdArgs::augment_args),
    ("resume", IdArgs::augment_args),
    ("ps", PsArgs::augment_args),
    ("features", |command| command),
    ("spec", SpecArgs::augment_args),
    ("run", RunArgs::augment_args),
    ("exec", ExecArgs::augment_args),
    ("list", ListArgs::augment_args),
    ("state", StateArgs::augment_args),
    ("kill", KillArgs::augment_args),
    ("delete", DeleteArgs::augment_args),
];

/// `args` (the program's name first) parsed: without clap where the line
/// is plain, else by the named subcommand's tree where that succeeds,
/// else by the whole one, whose error it is.
pub(crate) fn parse(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    if let Some(cli) = without_clap::parse(&args) {
        return Ok(cli);
    }
    match by_its_subcommand(&args) {
        Some(cli) => Ok(cli),
        None => <Cli as clap::Parser>::try_parse_from(args),
    }
}

/// The root as the `Cli` derive makes it, for parsing: its name, the
/// global options and the version flag (propagated, as there, so that a
/// subcommand's `--version` is never taken for a value).
fn root() -> clap::Command {
    Globals::augment_args(clap::Command::new("cradle"))
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
}

/// `args` parsed by the root and the one subcommand they name; `None` if
/// that fails in any way (or names none), for the whole tree to say why.
fn by_its_subcommand(args: &[OsString]) -> Option<Cli> {
    let name = subcommand_name(args)?;
    let &(name, augment) = SUBCOMMANDS.iter().find(|(known, _)| *known == name)?;
    let command = root()
        .subcommand(augment(clap::Command::new(name)))
        .subcommand_required(true);
    let matches = command.try_get_matches_from(args).ok()?;
    Cli::from_arg_matches(&matches).ok()
}

/// The global options that take a value as the next argument. A test
/// checks them against the root's arguments.
const GLOBALS_WITH_VALUES: [&str; 3] = ["--root", "--log", "--log-format"];

/// The name of the subcommand `args` give: the first argument that is not
/// a global option or its value, found without clap (building the root
/// and parsing with it cost a start 0.1 ms here). A wrong guess costs
/// time, never a wrong parse: the line is then parsed by the guessed
/// subcommand's tree alone, which refuses any other, and then by the
/// whole tree.
fn subcommand_name(args: &[OsString]) -> Option<&str> {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        if arg == "--" {
            return None;
        }
        if !arg.starts_with('-') {
            return Some(arg);
        }
        if GLOBALS_WITH_VALUES.contains(&arg) {
            rest.next();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// `text`'s words as arguments, after the program's name.
    pub(super) fn line(text: &str) -> Vec<OsString> {
        std::iter::once("cradle")
            .chain(text.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    /// Command lines that parse, one or more for each subcommand, with
    /// global options before and after its name.
    pub(super) const PARSING: &[&str] = &[
        "create --bundle /srv/b web",
        "--root /tmp/r create -b b --pid-file p --console-socket s --no-new-keyring web",
        "start web",
        "pause web",
        "resume web",
        "ps web",
        "ps --format json web",
        "features",
        "spec",
        "spec -b /srv/b",
        "run --rootfs /srv/rootfs -- /bin/true",
        "-vv run --rootfs / --memory 64M --pids 10 --net veth:host=h0 -d --name n -- sleep 1000",
        "run --rootfs / --security-opt seccomp=unconfined --cap-drop ALL -e A=B --cwd /tmp --userns --read-only -- env",
        "run --rootfs / --privileged --timings -- /bin/echo --version -h",
        "run --bundle /srv/b web",
        "run web",
        "exec web /bin/true",
        "exec web -- /bin/echo --version",
        "exec --process p.json --detach --pid-file f web",
        "--log /tmp/l --log-format json exec -t -u 1000:1000 -e A=1 --cwd /tmp web sh",
        "exec --timings web /bin/true",
        "list",
        "list --format json",
        "--root /r state web",
        "state web --root /r",
        "kill web",
        "kill web KILL",
        "kill --all web TERM",
        "delete web",
        "delete --force web --debug",
        "--systemd-cgroup delete web",
    ];

    #[test]
    fn a_line_parses_to_what_the_whole_tree_makes_of_it() {
        for text in PARSING {
            let args = line(text);
            let whole = Cli::try_parse_from(args.clone()).unwrap_or_else(|e| panic!("{text}: {e}"));
            let one =
                by_its_subcommand(&args).unwrap_or_else(|| panic!("{text}: not parsed by its subcommand"));
            assert_eq!(format!("{one:?}"), format!("{whole:?}"), "{text}");
        }
    }

    /// Help, versions, mistakes: left to the whole tree, whose words they
    /// are (the same error, the same exit code).
    #[test]
    fn anything_but_a_parse_is_left_to_the_whole_tree() {
        for text in [
            "",
            "--help",
            "-h",
            "--version",
            "-V",
            "run --help",
            "run --version",
            "run -V",
            "exec --help web",
            "help",
            "help run",
            "bogus",
            "--root",
            "run --memory",
            "run --rootfs / --memory lots -- true",
            "kill a b c d",
            "list --format yaml",
            "state",
            "-vv",
        ] {
            let args = line(text);
            assert!(
                by_its_subcommand(&args).is_none(),
                "{text:?} was parsed by its subcommand"
            );
            assert!(parse(args).is_err(), "{text:?} parses");
        }
    }

    /// The subcommand the root finds, as clap finds it.
    fn name_by_clap(args: &[OsString]) -> Option<String> {
        let matches = root()
            .allow_external_subcommands(true)
            .try_get_matches_from(args)
            .ok()?;
        matches.subcommand_name().map(str::to_owned)
    }

    #[test]
    fn the_subcommand_is_found_where_clap_finds_it() {
        for text in PARSING
            .iter()
            .chain(&["--log-format=json -v --debug run x", "-vv --root=/r state x"])
        {
            let args = line(text);
            assert_eq!(
                subcommand_name(&args).map(str::to_owned),
                name_by_clap(&args),
                "{text}"
            );
        }
        for text in ["", "--root", "--root run", "-v -- run", "--version"] {
            assert_eq!(subcommand_name(&line(text)), None, "{text:?}");
        }
    }

    #[test]
    fn the_globals_with_values_are_the_roots() {
        let mut with_values: Vec<String> = root()
            .get_arguments()
            .filter(|arg| arg.get_action().takes_values())
            .map(|arg| {
                assert_eq!(
                    arg.get_short(),
                    None,
                    "{arg:?}: a short form the scan does not know"
                );
                format!("--{}", arg.get_long().expect("a long form"))
            })
            .collect();
        with_values.sort();
        let mut listed = GLOBALS_WITH_VALUES.map(str::to_owned).to_vec();
        listed.sort();
        assert_eq!(with_values, listed);
    }

    /// What parsing depends on in `command`: its arguments and groups.
    fn parsing_of(command: &clap::Command) -> (Vec<String>, Vec<String>) {
        (
            command.get_arguments().map(|arg| format!("{arg:?}")).collect(),
            command.get_groups().map(|group| format!("{group:?}")).collect(),
        )
    }

    #[test]
    fn each_subcommand_has_the_arguments_the_whole_tree_gives_it() {
        let whole = Cli::command();
        let names: Vec<&str> = whole.get_subcommands().map(|sub| sub.get_name()).collect();
        let listed: Vec<&str> = SUBCOMMANDS.iter().map(|(name, _)| *name).collect();
        assert_eq!(listed, names);
        for (name, augment) in SUBCOMMANDS {
            let sub = whole.find_subcommand(name).expect("listed");
            let ours = augment(clap::Command::new(*name));
            assert_eq!(parsing_of(&ours), parsing_of(sub), "{name}");
        }
        // The root's arguments. (Its groups are named after the derive's
        // struct: Cli in the whole tree, Globals here.)
        assert_eq!(
            parsing_of(&root()).0,
            parsing_of(&whole).0,
            "the root's arguments"
        );
        assert_eq!(root().get_version(), whole.get_version());
    }
}
