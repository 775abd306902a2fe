//! The command lines on a container's path (`run`, `exec`, and the
//! `create`, `start`, `state`, `kill`, `delete`, `pause` and `resume` that
//! engines call), parsed without clap.
//!
//! Even the one subcommand's tree costs clap about 0.1 ms of a start here
//! (building it, parsing, from a binary whose parser pages are cold),
//! about a twentieth of an `exec`. This parser knows the same options,
//! takes only the plain forms (`--name VALUE`, `--name=VALUE`,
//! `-x VALUE`, short flags together as in `-dt`), converts values with the
//! very functions clap is given, and gives up at anything else: help,
//! versions, a repeated option, a value that starts with `-`, a conflict,
//! any mistake. clap then parses the line, and says what is wrong with
//! it. Tests hold the two to the same result on every line this one
//! parses, and each table to clap's arguments.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::args::{
    parse_absolute, parse_cpus, parse_duration, parse_env, parse_id, parse_id_map, parse_namespace,
    parse_net, parse_pids, parse_signal, parse_size, parse_user, Cli, Command, CreateArgs, DeleteArgs,
    ExecArgs, Globals, IdArgs, KillArgs, LogFormat, RunArgs, StateArgs,
};
use crate::confinement::{
    parse_capability, parse_device, parse_security_opt, parse_sysctl, ExecConfinement, RunConfinement,
};

/// An option: its long name, its short letter, whether it takes a value,
/// and the name it is recorded under (its long name but for an alias).
#[derive(Debug)]
struct Opt {
    long: &'static str,
    short: Option<char>,
    takes_value: bool,
    field: &'static str,
}

const fn flag(long: &'static str, short: Option<char>) -> Opt {
    Opt {
        long,
        short,
        takes_value: false,
        field: long,
    }
}

const fn value(long: &'static str, short: Option<char>) -> Opt {
    Opt {
        long,
        short,
        takes_value: true,
        field: long,
    }
}

/// What may follow a subcommand's options and positionals.
#[derive(Debug, PartialEq)]
enum Rest {
    /// Nothing.
    Nothing,
    /// A command, after `--` (`run`'s, which is `last`).
    AfterDashes,
    /// A command, from the first positional after the others, or after
    /// `--` (`exec`'s, which is a trailing var arg).
    Trailing,
}

/// A subcommand's options, how many positionals it takes, and what
/// follows them.
#[derive(Debug)]
struct Form {
    options: &'static [Opt],
    positionals: usize,
    rest: Rest,
}

const GLOBALS: &[Opt] = &[
    value("root", None),
    flag("verbose", Some('v')),
    value("log", None),
    value("log-format", None),
    flag("debug", None),
    flag("systemd-cgroup", None),
];

const RUN: Form = Form {
    options: &[
        flag("timings", None),
        value("name", None),
        value("rootfs", None),
        value("hostname", None),
        value("ns", None),
        value("net", None),
        flag("userns", None),
        value("uid-map", None),
        value("gid-map", None),
        value("user", None),
        value("env", Some('e')),
        value("cwd", None),
        value("memory", None),
        value("pids", None),
        value("cpus", None),
        value("timeout", None),
        flag("detach", Some('d')),
        flag("tty", Some('t')),
        flag("init", None),
        flag("privileged", None),
        value("cap-add", None),
        value("cap-drop", None),
        value("security-opt", None),
        flag("read-only", None),
        value("sysctl", None),
        value("device", None),
        value("oom-score-adj", None),
        value("bundle", Some('b')),
        value("pid-file", None),
    ],
    positionals: 1,
    rest: Rest::AfterDashes,
};

const EXEC: Form = Form {
    options: &[
        flag("timings", None),
        value("env", Some('e')),
        value("cwd", None),
        value("user", Some('u')),
        value("timeout", None),
        flag("tty", Some('t')),
        value("preserve-fds", None),
        flag("privileged", None),
        value("cap-add", Some('c')),
        Opt {
            field: "cap-add",
            ..value("cap", None)
        },
        value("cap-drop", None),
        flag("no-new-privs", None),
        value("process", Some('p')),
        flag("detach", Some('d')),
        value("pid-file", None),
        value("console-socket", None),
    ],
    positionals: 1,
    rest: Rest::Trailing,
};

const CREATE: Form = Form {
    options: &[
        value("bundle", Some('b')),
        value("pid-file", None),
        value("console-socket", None),
        value("preserve-fds", None),
        flag("no-new-keyring", None),
        flag("no-pivot", None),
        value("timeout", None),
    ],
    positionals: 1,
    rest: Rest::Nothing,
};

const ID_ONLY: Form = Form {
    options: &[],
    positionals: 1,
    rest: Rest::Nothing,
};

const KILL: Form = Form {
    options: &[flag("all", Some('a'))],
    positionals: 2,
    rest: Rest::Nothing,
};

const DELETE: Form = Form {
    options: &[flag("force", Some('f'))],
    positionals: 1,
    rest: Rest::Nothing,
};

/// The subcommands parsed here, and their forms.
const FORMS: &[(&str, &Form)] = &[
    ("run", &RUN),
    ("exec", &EXEC),
    ("create", &CREATE),
    ("start", &ID_ONLY),
    ("state", &ID_ONLY),
    ("pause", &ID_ONLY),
    ("resume", &ID_ONLY),
    ("kill", &KILL),
    ("delete", &DELETE),
];

/// `args` (the program's name first) parsed, or `None` for clap to parse.
pub(super) fn parse(args: &[OsString]) -> Option<Cli> {
    let line = lex(args)?;
    let command = match line.subcommand {
        "run" => Command::Run(Box::new(run(&line)?)),
        "exec" => Command::Exec(exec(&line)?),
        "create" => Command::Create(create(&line)?),
        "start" => Command::Start(id_only(&line)?),
        "state" => Command::State(StateArgs {
            id: line.positional(0, parse_id)??,
        }),
        "pause" => Command::Pause(id_only(&line)?),
        "resume" => Command::Resume(id_only(&line)?),
        "kill" => Command::Kill(KillArgs {
            all: line.flag("all")?,
            id: line.positional(0, parse_id)??,
            signal: line
                .positional(1, parse_signal)?
                .or_else(|| parse_signal("TERM").ok())?,
        }),
        "delete" => Command::Delete(DeleteArgs {
            force: line.flag("force")?,
            id: line.positional(0, parse_id)??,
        }),
        _ => return None,
    };
    let globals = Globals {
        root: line.one("root", path)?,
        verbose: u8::try_from(line.count("verbose")).ok()?,
        log: line.one("log", path)?,
        log_format: line.one("log-format", log_format)?.unwrap_or(LogFormat::Text),
        debug: line.flag("debug")?,
        systemd_cgroup: line.flag("systemd-cgroup")?,
    };
    Some(Cli { globals, command })
}

fn run(line: &Line<'_>) -> Option<RunArgs> {
    Some(RunArgs {
        timings: line.flag("timings")?,
        name: line.one("name", parse_id)?,
        rootfs: line.one("rootfs", path)?,
        hostname: line.one("hostname", |value| Ok(value.to_owned()))?,
        ns: line.delimited("ns", parse_namespace)?,
        net: line.one("net", parse_net)?,
        userns: line.flag("userns")?,
        uid_map: line.many("uid-map", parse_id_map)?,
        gid_map: line.many("gid-map", parse_id_map)?,
        user: line.one("user", parse_user)?,
        env: line.many("env", parse_env)?,
        cwd: line.one("cwd", parse_absolute)?,
        memory: line.one("memory", parse_size)?,
        pids: line.one("pids", parse_pids)?,
        cpus: line.one("cpus", parse_cpus)?,
        timeout: timeout(line)?,
        detach: line.flag("detach")?,
        tty: line.flag("tty")?,
        init: line.flag("init")?,
        confinement: RunConfinement {
            privileged: line.flag("privileged")?,
            cap_add: line.many("cap-add", parse_capability)?,
            cap_drop: line.many("cap-drop", parse_capability)?,
            security_opt: line.many("security-opt", parse_security_opt)?,
            read_only: line.flag("read-only")?,
            sysctl: line.many("sysctl", parse_sysctl)?,
            device: line.many("device", parse_device)?,
            oom_score_adj: line.one("oom-score-adj", oom_score_adj)?,
        },
        bundle: line.one("bundle", path)?,
        pid_file: line.one("pid-file", path)?,
        id: line.positional(0, parse_id)?,
        command: line.command(),
    })
}

fn exec(line: &Line<'_>) -> Option<ExecArgs> {
    let args = ExecArgs {
        timings: line.flag("timings")?,
        env: line.many("env", parse_env)?,
        cwd: line.one("cwd", parse_absolute)?,
        user: line.one("user", parse_user)?,
        timeout: timeout(line)?,
        tty: line.flag("tty")?,
        preserve_fds: line.one("preserve-fds", descriptor_count)?.unwrap_or(0),
        id: line.positional(0, parse_id)??,
        command: line.command(),
        confinement: ExecConfinement {
            privileged: line.flag("privileged")?,
            cap_add: line.many("cap-add", parse_capability)?,
            cap_drop: line.many("cap-drop", parse_capability)?,
            no_new_privs: line.flag("no-new-privs")?,
        },
        process: line.one("process", path)?,
        detach: line.flag("detach")?,
        pid_file: line.one("pid-file", path)?,
        console_socket: line.one("console-socket", path)?,
    };
    // clap refuses the two together.
    (!(args.timings && args.detach)).then_some(args)
}

fn create(line: &Line<'_>) -> Option<CreateArgs> {
    Some(CreateArgs {
        bundle: line.one("bundle", path)?.unwrap_or_else(|| PathBuf::from(".")),
        pid_file: line.one("pid-file", path)?,
        console_socket: line.one("console-socket", path)?,
        preserve_fds: line.one("preserve-fds", descriptor_count)?.unwrap_or(0),
        no_new_keyring: line.flag("no-new-keyring")?,
        no_pivot: line.flag("no-pivot")?,
        timeout: timeout(line)?,
        id: line.positional(0, parse_id)??,
    })
}

fn id_only(line: &Line<'_>) -> Option<IdArgs> {
    Some(IdArgs {
        id: line.positional(0, parse_id)??,
    })
}

/// `--timeout`, or clap's default of it.
fn timeout(line: &Line<'_>) -> Option<Duration> {
    match line.one("timeout", parse_duration)? {
        Some(timeout) => Some(timeout),
        None => parse_duration("10s").ok(),
    }
}

/// A path as clap's own parser takes it: any but an empty one.
fn path(value: &str) -> Result<PathBuf, String> {
    match value.is_empty() {
        true => Err(String::new()),
        false => Ok(PathBuf::from(value)),
    }
}

/// A descriptor count, as clap's `u32` parser takes it.
fn descriptor_count(value: &str) -> Result<u32, String> {
    value
        .parse::<i64>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_default()
}

/// `--oom-score-adj`, as clap's `i32` parser with its range takes it.
fn oom_score_adj(value: &str) -> Result<i32, String> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (-1000..=1000).contains(n))
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_default()
}

fn log_format(value: &str) -> Result<LogFormat, String> {
    match value {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(String::new()),
    }
}

/// `Option::ok_or(String::new())`: the reason is clap's to give.
trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

/// A command line taken apart: the subcommand, each option given (by its
/// field's name, with its value), the positionals and the command after
/// them.
#[derive(Debug)]
struct Line<'a> {
    subcommand: &'a str,
    given: Vec<(&'static str, Option<&'a str>)>,
    positionals: Vec<&'a str>,
    command: Option<Vec<&'a str>>,
    /// The global options given before the subcommand.
    globals_before: Vec<&'static str>,
}

/// Takes `args` apart by the forms above; `None` at anything else.
fn lex(args: &[OsString]) -> Option<Line<'_>> {
    let tokens: Vec<&str> = args
        .get(1..)?
        .iter()
        .map(|arg| arg.to_str())
        .collect::<Option<_>>()?;
    let mut form: Option<&Form> = None;
    let mut line = Line {
        subcommand: "",
        given: Vec::new(),
        positionals: Vec::new(),
        command: None,
        globals_before: Vec::new(),
    };
    let mut tokens = tokens.into_iter();
    while let Some(token) = tokens.next() {
        if let Some(command) = &mut line.command {
            command.push(token);
            continue;
        }
        let options = form.map_or(&[][..], |form| form.options);
        if token == "--" {
            let form = form?;
            let allowed = match form.rest {
                Rest::Nothing => false,
                Rest::AfterDashes => true,
                Rest::Trailing => line.positionals.len() == form.positionals,
            };
            if !allowed {
                return None;
            }
            line.command = Some(Vec::new());
        } else if let Some(long) = token.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            let opt = [options, GLOBALS]
                .into_iter()
                .flatten()
                .find(|opt| opt.long == name)?;
            let value = match (opt.takes_value, inline) {
                (false, None) => None,
                (false, Some(_)) => return None,
                (true, Some(value)) => Some(value),
                (true, None) => Some(next_value(&mut tokens)?),
            };
            line.give(opt, value, form.is_some())?;
        } else if let Some(letters) = token.strip_prefix('-').filter(|letters| !letters.is_empty()) {
            let mut letters = letters.chars().peekable();
            while let Some(letter) = letters.next() {
                let opt = [options, GLOBALS]
                    .into_iter()
                    .flatten()
                    .find(|opt| opt.short == Some(letter))?;
                let value = match (opt.takes_value, letters.peek()) {
                    (false, _) => None,
                    (true, None) => Some(next_value(&mut tokens)?),
                    (true, Some(_)) => return None,
                };
                line.give(opt, value, form.is_some())?;
            }
        } else if let Some(form) = form {
            if line.positionals.len() < form.positionals {
                line.positionals.push(token);
            } else if form.rest == Rest::Trailing {
                line.command = Some(vec![token]);
            } else {
                return None;
            }
        } else {
            let (name, named) = FORMS.iter().find(|(name, _)| *name == token)?;
            line.subcommand = name;
            form = Some(named);
        }
    }
    form.map(|_| line)
}

/// An option's value, the next argument, unless it starts with `-`:
/// whether that is a value or the next option is clap's to say.
fn next_value<'a>(tokens: &mut impl Iterator<Item = &'a str>) -> Option<&'a str> {
    tokens.next().filter(|value| !value.starts_with('-'))
}

impl<'a> Line<'a> {
    /// Records `opt`, given with `value`. `None` for a global option given
    /// both before and after the subcommand: clap then keeps the later
    /// side's alone (`-v run -v` is one `-v`).
    fn give(&mut self, opt: &'static Opt, value: Option<&'a str>, after_subcommand: bool) -> Option<()> {
        if GLOBALS.iter().any(|global| global.field == opt.field) {
            if !after_subcommand {
                self.globals_before.push(opt.field);
            } else if self.globals_before.contains(&opt.field) {
                return None;
            }
        }
        self.given.push((opt.field, value));
        Some(())
    }

    fn values<'s>(&'s self, field: &'s str) -> impl Iterator<Item = Option<&'a str>> + 's {
        self.given
            .iter()
            .filter(move |(name, _)| *name == field)
            .map(|(_, value)| *value)
    }

    fn count(&self, field: &str) -> usize {
        self.values(field).count()
    }

    /// A flag: `None` if given twice, which clap refuses.
    fn flag(&self, field: &str) -> Option<bool> {
        match self.count(field) {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// An option given at most once: `None` if given twice or if its value
    /// does not parse.
    fn one<T>(&self, field: &str, parse: impl Fn(&str) -> Result<T, String>) -> Option<Option<T>> {
        let mut values = self.values(field);
        let first = values.next();
        if values.next().is_some() {
            return None;
        }
        match first {
            None => Some(None),
            Some(value) => parse(value?).ok().map(Some),
        }
    }

    /// An option given any number of times, its values in order.
    fn many<T>(&self, field: &str, parse: impl Fn(&str) -> Result<T, String>) -> Option<Vec<T>> {
        self.values(field).map(|value| parse(value?).ok()).collect()
    }

    /// An option whose values are lists split at `,`; `None` inside if
    /// never given.
    fn delimited<T>(&self, field: &str, parse: impl Fn(&str) -> Result<T, String>) -> Option<Option<Vec<T>>> {
        if self.count(field) == 0 {
            return Some(None);
        }
        let mut all = Vec::new();
        for value in self.values(field) {
            for part in value?.split(',') {
                all.push(parse(part).ok()?);
            }
        }
        Some(Some(all))
    }

    /// The positional at `index`, parsed: `None` if it does not parse,
    /// `Some(None)` if absent.
    fn positional<T>(&self, index: usize, parse: impl Fn(&str) -> Result<T, String>) -> Option<Option<T>> {
        match self.positionals.get(index) {
            None => Some(None),
            Some(value) => parse(value).ok().map(Some),
        }
    }

    fn command(&self) -> Vec<String> {
        self.command
            .iter()
            .flatten()
            .map(|arg| (*arg).to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::subcommand_name;
    use crate::parse::tests::{line, PARSING};
    use clap::{CommandFactory, Parser};
    use proptest::prelude::*;

    /// What clap makes of `args`, for comparing: its debug form, or `None`
    /// where it refuses them.
    fn by_clap(args: &[OsString]) -> Option<String> {
        Cli::try_parse_from(args).ok().map(|cli| format!("{cli:?}"))
    }

    /// `(long, short, takes a value)` of each option: the table's, and
    /// clap's (an alias as its own long name).
    fn ours(options: &[Opt]) -> Vec<(String, Option<char>, bool)> {
        let mut all: Vec<_> = options
            .iter()
            .map(|opt| (opt.long.to_owned(), opt.short, opt.takes_value))
            .collect();
        all.sort();
        all
    }

    fn clap_s(command: &clap::Command) -> Vec<(String, Option<char>, bool)> {
        let mut all = Vec::new();
        for arg in command.get_arguments().filter(|arg| !arg.is_positional()) {
            let takes_value = arg.get_action().takes_values();
            let long = arg.get_long().expect("every option has a long name");
            all.push((long.to_owned(), arg.get_short(), takes_value));
            for alias in arg.get_all_aliases().into_iter().flatten() {
                all.push((alias.to_owned(), None, takes_value));
            }
        }
        all.sort();
        all
    }

    #[test]
    fn each_table_has_the_options_clap_has() {
        let whole = Cli::command();
        let globals: Vec<_> = clap_s(&whole)
            .into_iter()
            .filter(|(long, _, _)| long != "help" && long != "version")
            .collect();
        assert_eq!(ours(GLOBALS), globals, "the global options");
        for (name, form) in FORMS {
            let sub = whole.find_subcommand(name).expect("a subcommand");
            let own: Vec<_> = clap_s(sub)
                .into_iter()
                .filter(|option| !globals.contains(option) && option.0 != "help")
                .collect();
            assert_eq!(ours(form.options), own, "{name}");
            let positionals: Vec<&clap::Arg> = sub.get_positionals().collect();
            let command = positionals
                .iter()
                .find(|arg| arg.is_last_set() || arg.is_trailing_var_arg_set());
            let rest = match command {
                None => Rest::Nothing,
                Some(arg) if arg.is_last_set() => Rest::AfterDashes,
                Some(_) => Rest::Trailing,
            };
            assert_eq!(form.rest, rest, "{name}");
            let before = positionals.len() - usize::from(command.is_some());
            assert_eq!(form.positionals, before, "{name}");
        }
    }

    /// Lines of each form, beyond the ones `PARSING` has for the
    /// subcommands parsed here.
    const MORE_PLAIN: &[&str] = &[
        "run --ns=pid,net --ns uts --uid-map 0:1000:10 --gid-map=0:1000:10 --user 5:6 --hostname h -- id",
        "run --cpus 0.5 --timeout 2s -t --init --cap-add NET_ADMIN --sysctl net.ipv4.ip_forward=1 -- sh",
        "run --device /dev/null:rw --oom-score-adj 500 --rootfs=/r -dt -- sh -c 'x'",
        "run -b /srv/b --pid-file /run/p -d web",
        "run -- ",
        "exec web sh -c --not-an-option",
        "exec -c NET_ADMIN --cap SYS_ADMIN --cap-drop ALL --no-new-privs --privileged web true",
        "exec --preserve-fds 2 --console-socket /s -p p.json web",
        "--root /tmp/r create -b b --pid-file p --console-socket s --no-new-keyring --no-pivot web",
        "create --preserve-fds=3 --timeout 1m web",
        "kill --all web 9",
        "kill -a web",
        "delete -f web -v --verbose",
    ];

    #[test]
    fn plain_lines_parse_as_clap_parses_them() {
        let ours = |text: &&&str| {
            subcommand_name(&line(text)).is_some_and(|name| FORMS.iter().any(|(form, _)| *form == name))
        };
        for text in PARSING.iter().filter(ours).chain(MORE_PLAIN) {
            let args = line(text);
            let parsed = parse(&args).unwrap_or_else(|| panic!("{text}: left to clap"));
            assert_eq!(Some(format!("{parsed:?}")), by_clap(&args), "{text}");
        }
    }

    /// Help, versions, mistakes and unusual forms: clap's to parse or
    /// refuse.
    #[test]
    fn anything_else_is_left_to_clap() {
        for text in [
            "",
            "--help",
            "-V",
            "run --help",
            "exec --help web",
            "exec web --timings --detach",
            "exec -- web true",
            "run --name a --name b -- true",
            "run --memory -1 -- true",
            "run --pids=0 -- true",
            "run --rootfs -- true",
            "run a b",
            "run --tty=yes -- true",
            "run -e -- true",
            "run -et X -- true",
            "state",
            "state a b",
            "kill a b c",
            "kill web NOSUCH",
            "delete --force --force web",
            "list",
            "ps web",
            "spec",
            "features",
            "--log-format yaml state web",
            "--root= state web",
            "-vv",
        ] {
            assert!(parse(&line(text)).is_none(), "{text:?} was parsed without clap");
        }
        let mut not_utf8 = line("state");
        not_utf8.push(std::os::unix::ffi::OsStringExt::from_vec(vec![b'w', 0xff]));
        assert!(parse(&not_utf8).is_none(), "an id that is not UTF-8");
    }

    /// Values that the options take, and some they refuse.
    const VALUES: &[&str] = &[
        "web",
        "x",
        "",
        "-1",
        "-",
        "10",
        "0",
        "+5",
        "1s",
        "0s",
        "/tmp",
        "rel",
        "KILL",
        "15",
        "all",
        "NET_ADMIN",
        "json",
        "text",
        "pid,net",
        "pid,,net",
        "bogus",
        "seccomp=unconfined",
        "A=1",
        "=1",
        "0:1000:10",
        "64m",
        "0.5",
        "none",
        "lo",
        "1000:1000",
        "net.ipv4.ip_forward=1",
        "/dev/null:rw",
        "-500",
        "1001",
        "--",
        "a=b=c",
    ];

    /// Positionals and command words.
    const WORDS: &[&str] = &[
        "web",
        "w2",
        "TERM",
        "9",
        "/bin/true",
        "-x",
        "--help",
        "--",
        "-v",
        "run",
    ];

    /// One argument or two: an option in one of its forms (the form, the
    /// option, its value chosen by the bytes), or a word.
    fn piece(options: &[(String, Option<char>, bool)], kind: u8, which: u8, value: u8) -> Vec<String> {
        let word = WORDS[usize::from(which) % WORDS.len()].to_owned();
        if options.is_empty() || kind % 4 == 0 {
            return vec![word];
        }
        let (long, short, takes_value) = &options[usize::from(which) % options.len()];
        let value = VALUES[usize::from(value) % VALUES.len()].to_owned();
        match (kind % 4, short, takes_value) {
            (1, _, false) => vec![format!("--{long}")],
            (1, _, true) => vec![format!("--{long}"), value],
            (2, _, true) => vec![format!("--{long}={value}")],
            (_, Some(short), true) => vec![format!("-{short}"), value],
            (_, Some(short), false) => vec![format!("-{short}")],
            (_, None, _) => vec![format!("--{long}")],
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10000))]

        /// Lines made from clap's own options and words: whatever is
        /// parsed without clap, clap parses alike.
        #[test]
        fn whatever_is_parsed_clap_parses_alike(
            subcommand in 0..FORMS.len(),
            before in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..3),
            after in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..8),
        ) {
            let whole = Cli::command();
            let name = FORMS[subcommand].0;
            let globals = clap_s(&whole);
            let mut options = clap_s(whole.find_subcommand(name).expect("a subcommand"));
            options.extend(globals.iter().cloned());
            let mut text = vec!["cradle".to_owned()];
            for (kind, which, value) in before {
                text.extend(piece(&globals, kind, which, value));
            }
            text.push(name.to_owned());
            for (kind, which, value) in after {
                text.extend(piece(&options, kind, which, value));
            }
            let args: Vec<OsString> = text.iter().map(OsString::from).collect();
            if let Some(parsed) = parse(&args) {
                prop_assert_eq!(Some(format!("{parsed:?}")), by_clap(&args), "{:?}", text);
            }
        }
    }
}
