//! A command line clap refused, said in one line: a bad value as
//! `--flag VALUE: reason`, anything else as clap words it, each followed
//! by the help to read — the subcommand's own when the error is in one.

use std::error::Error as _;
use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory as _;

use crate::args::Cli;
use crate::escape;

/// The one line (without the `cradle: ` prefix) for a parse error of
/// `args` (the whole command line) that is neither `--help` nor
/// `--version`.
pub(crate) fn one_line<I, T>(error: &clap::Error, args: I) -> String
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let reason = bad_value(error).unwrap_or_else(|| clap_words(&error.render().to_string()));
    let help = match subcommand_of(args) {
        Some(name) => format!("cradle {name} --help"),
        None => "cradle --help".to_owned(),
    };
    format!("{reason} (see '{help}')")
}

/// `--flag VALUE: reason` for a value its parser refused, whose reason is
/// the parser's own words (clap's frame, "invalid value 'x' for '--flag
/// <N>'", would say the flag and the value twice).
fn bad_value(error: &clap::Error) -> Option<String> {
    if error.kind() != ErrorKind::ValueValidation {
        return None;
    }
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) = (
        error.get(ContextKind::InvalidArg),
        error.get(ContextKind::InvalidValue),
    ) else {
        return None;
    };
    let reason = error.source()?.to_string();
    // `--pids <N>` names the flag by its first word; `<ID>` a positional.
    let arg = arg.split_whitespace().next().unwrap_or(arg);
    let arg = arg.trim_matches(|c| matches!(c, '<' | '>' | '[' | ']' | '.'));
    let value = escape::control(value);
    let value = if value.is_empty() || value.contains(' ') {
        format!("{value:?}")
    } else {
        value
    };
    Some(format!("{arg} {value}: {reason}"))
}

/// clap's rendering, its usage, tips and pointers dropped, on one line.
fn clap_words(rendered: &str) -> String {
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:"))
        .filter(|line| {
            !line.is_empty() && !line.starts_with("tip:") && !line.starts_with("For more information")
        })
        .collect();
    let line = lines.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_owned()
}

/// The subcommand `args` name, found by parsing them again with clap's
/// errors ignored (the error itself does not say which command it is in,
/// and a global flag's value can look like a subcommand's name).
fn subcommand_of<I, T>(args: I) -> Option<String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()?;
    matches.subcommand_name().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn refusal(args: &[&str]) -> String {
        let error = Cli::try_parse_from(args).expect_err("a refused command line");
        one_line(&error, args)
    }

    #[test]
    fn a_bad_value_names_the_flag_and_the_value_once() {
        assert_eq!(
            refusal(&["cradle", "run", "--memory", "-5m", "--", "true"]),
            "--memory -5m: a size must be positive (see 'cradle run --help')"
        );
        assert_eq!(
            refusal(&["cradle", "run", "--pids", "0", "--", "true"]),
            "--pids 0: must be at least 1 (see 'cradle run --help')"
        );
        assert_eq!(
            refusal(&["cradle", "exec", "--timeout", "", "web", "--", "true"]),
            "--timeout \"\": not a duration (e.g. 500ms, 10s, 1m) (see 'cradle exec --help')"
        );
    }

    #[test]
    fn the_help_named_is_the_subcommands_when_the_error_is_in_one() {
        assert!(refusal(&["cradle", "list", "--bogus"]).ends_with("(see 'cradle list --help')"));
        assert!(refusal(&["cradle", "frobnicate"]).ends_with("(see 'cradle --help')"));
        assert!(refusal(&["cradle", "--bogus", "list"]).ends_with("(see 'cradle --help')"));
    }
}
