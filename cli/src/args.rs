//! The command line as clap types, and the parsers of its values: ids,
//! sizes, id maps, durations, signals, namespace lists and network specs.
//! Every parser refuses bad input with a one-line reason.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::confinement::{ExecConfinement, RunConfinement};
use cradle_core::config::{IpNet, Veth};
use cradle_core::{IdMap, NamespaceKind};
use cradle_linux::Signal;

/// Where root's state lives unless `--root` says otherwise (as runc's
/// `/run/runc`).
const DEFAULT_ROOT: &str = "/run/cradle";
/// The longest container id: it is part of a cgroup name and a path.
const MAX_ID_LEN: usize = 64;

const ABOUT: &str = "Run processes in Linux containers: namespaces, a cgroup with limits, a \
                     root filesystem, network interfaces. Needs root.";

const EXAMPLES: &str = "Examples:
  cradle run --hostname demo -- /bin/sh -c 'echo \"pid $$ on $(hostname)\"'
  cradle run -d --name web --rootfs /srv/busybox --memory 64m -- httpd -f
  cradle exec web -- ps
  cradle list
  cradle kill web TERM
  cradle delete web";

/// The heading of the flags every subcommand takes, listed after the
/// subcommand's own so that its help starts with what is particular to it.
const GLOBAL_OPTIONS: &str = "Global options";

/// The `cradle` program.
#[derive(Debug, Parser)]
#[command(name = "cradle", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) globals: Globals,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The options every subcommand takes, before or after its name.
#[derive(Debug, Args)]
pub(crate) struct Globals {
    /// Directory of the containers' state, one subdirectory per container.
    /// It must be yours, not a symlink, and not writable by group or others
    /// (it is made 0700). [default: /run/cradle for root, else
    /// $XDG_RUNTIME_DIR/cradle, else /run/user/UID/cradle if /run/user/UID
    /// exists, else $HOME/.local/state/cradle]
    /// Example: --root /var/lib/cradle-test
    #[arg(help_heading = GLOBAL_OPTIONS, long, global = true, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
    /// More log output on stderr: -v info, -vv debug, -vvv trace. RUST_LOG,
    /// when set, takes precedence. Example: -vv
    #[arg(help_heading = GLOBAL_OPTIONS, short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Write the log to FILE instead of stderr (as runc; engines read it
    /// when a command fails). Example: --log /run/cradle/web.log
    #[arg(help_heading = GLOBAL_OPTIONS, long, global = true, value_name = "FILE")]
    pub(crate) log: Option<PathBuf>,
    /// The log's format: text, or JSON lines as containerd's shim reads
    /// them. Example: --log-format json
    #[arg(help_heading = GLOBAL_OPTIONS, long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Debug logging (as -vv). Example: --debug
    #[arg(help_heading = GLOBAL_OPTIONS, long, global = true)]
    pub(crate) debug: bool,
    /// Refused: cradle manages cgroups through the filesystem, not
    /// systemd. (Accepted as a flag so that engines get a clear error.)
    #[arg(help_heading = GLOBAL_OPTIONS, long, global = true)]
    pub(crate) systemd_cgroup: bool,
}

impl Cli {
    /// `--root`, or the default: [`DEFAULT_ROOT`] for root; for anyone
    /// else, who cannot write to `/run`, a directory of the caller's own
    /// (see [`crate::state_fs::user_root`]), never a guessable `/tmp` path.
    pub(crate) fn state_root(&self) -> PathBuf {
        if let Some(root) = &self.globals.root {
            return root.clone();
        }
        let uid = nix::unistd::geteuid();
        if uid.is_root() {
            return PathBuf::from(DEFAULT_ROOT);
        }
        crate::state_fs::user_root(uid.as_raw())
    }
}

impl Command {
    /// A command whose failure exits 1, as runc's do (engines expect it):
    /// all but the shell form's `run -- CMD` and `exec ID -- CMD`, whose
    /// codes are docker's (125 for cradle's own failure, the command's
    /// otherwise).
    pub(crate) fn is_oci(&self) -> bool {
        match self {
            Command::Run(args) => args.id.is_some(),
            Command::Exec(args) => args.is_runc_form(),
            _ => true,
        }
    }
}

/// How the log is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line: `level`, `msg`, `time`.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// OCI: create a container from a bundle and hold it, set up, before
    /// its process runs; `start` lets it run.
    #[command(after_help = "Example:\n  cradle create --bundle /srv/bundle web && cradle start web")]
    Create(CreateArgs),
    /// OCI: let a created container's process run.
    #[command(after_help = "Example:\n  cradle start web")]
    Start(IdArgs),
    /// Freeze every process of a container.
    #[command(after_help = "Example:\n  cradle pause web")]
    Pause(IdArgs),
    /// Thaw a paused container.
    #[command(after_help = "Example:\n  cradle resume web")]
    Resume(IdArgs),
    /// List the processes of a container (host pids).
    #[command(after_help = "Examples:\n  cradle ps web\n  cradle ps --format json web")]
    Ps(PsArgs),
    /// Print what this runtime implements, as the OCI runtime spec's
    /// features document.
    Features,
    /// Write a default OCI config.json (confined as cradle's defaults) in
    /// the bundle directory.
    #[command(after_help = "Example:\n  mkdir -p b/rootfs && cd b && cradle spec && cradle run demo")]
    Spec(SpecArgs),
    /// Create a container and run a command in it, in the foreground or
    /// detached.
    #[command(after_help = RUN_EXAMPLES)]
    Run(Box<RunArgs>),
    /// Run another command in a running container.
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(ExecArgs),
    /// List the containers.
    #[command(after_help = "Examples:\n  cradle list\n  cradle list --format json")]
    List(ListArgs),
    /// Show one container's state as JSON: id, pid, status, start and
    /// creation times, cgroup paths, and namespace paths while it runs.
    #[command(after_help = "Example:\n  cradle state web")]
    State(StateArgs),
    /// Send a signal to a container's init process.
    #[command(after_help = KILL_HELP)]
    Kill(KillArgs),
    /// Remove a stopped container: its cgroup, interfaces and state.
    #[command(after_help = "Examples:\n  cradle delete web\n  cradle delete --force web")]
    Delete(DeleteArgs),
}

const KILL_HELP: &str = "The init is pid 1 of its pid namespace: the kernel delivers it only the
signals it has a handler for, and KILL. A `sleep` as init ignores TERM,
unless the container was run with --init: its reaper passes every signal on.

Examples:
  cradle kill web
  cradle kill web KILL
  cradle kill web 10";

const EXEC_EXAMPLES: &str = "Two forms:
  cradle exec [OPTIONS] ID -- CMD [ARG...]     in the foreground, as docker's
  cradle exec --process FILE [-d] [--pid-file FILE] ID
                                               runc's, as engines call it
Exit status: the command's own; 128+N when a signal N killed it. When cradle
fails: 125, 126 (cannot execute) or 127 (not found); in runc's form (with
--process, --detach, --pid-file or --console-socket) 1, as runc's commands.

Examples:
  cradle exec --env DEBUG=1 --cwd /tmp web -- /bin/sh -c 'ls'
  cradle exec -d --pid-file /run/e1.pid --process /run/e1.json web";

const RUN_EXAMPLES: &str = "Two forms, told apart by `--` and nothing else:
  cradle run [OPTIONS] -- CMD [ARG...]    the shell form: a container built
                                          from the flags runs CMD
  cradle run [--bundle DIR] [-d] ID       the OCI form (runc's): the bundle's
                                          config.json runs as container ID
A command needs `--` before it; an ID is never a command. The shell form's
flags are refused in the OCI form (the bundle's config.json says all that).

Examples:
  cradle run -- /bin/echo hello
  cradle run --hostname demo -- /bin/sh -c 'hostname'
  cradle run --rootfs /srv/busybox --memory 64m --pids 32 --cpus 0.5 -- /bin/sh
  cradle run -t --rootfs /srv/busybox -- /bin/sh
  cradle run --init --rootfs /srv/busybox -- sleep 30
  cradle run -d --name web --rootfs /srv/busybox -- httpd -f -p 8080
  cradle run --net veth:name=eth0,address=10.0.0.2/24,gateway=10.0.0.1 -- ip addr
  cradle run --userns --uid-map 0:100000:65536 --gid-map 0:100000:65536 -- id

Exit status: the command's own; 128+N when a signal N killed it; 125 when
cradle failed; 126 when the command cannot be executed; 127 when it is not
found.";

/// `cradle run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Print, once the container has ended, where the wall time went,
    /// phase by phase (the launch step by step), and the CPU time used.
    /// Example: --timings
    #[arg(long)]
    pub(crate) timings: bool,
    /// The container's id; a random one when not given. Letters, digits,
    /// '_', '.', '-', at most 64. Example: --name web
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    pub(crate) name: Option<String>,
    /// Root filesystem: a directory that becomes '/'. Without it the
    /// container sees the host's filesystem, in a private mount namespace.
    /// Example: --rootfs /srv/busybox
    #[arg(long, value_name = "DIR")]
    pub(crate) rootfs: Option<PathBuf>,
    /// Host name inside the container (needs a uts namespace).
    /// Example: --hostname demo
    #[arg(long, value_name = "NAME")]
    pub(crate) hostname: Option<String>,
    /// Namespaces to create, comma-separated, from user, mount, uts, ipc,
    /// pid, net, cgroup, time. [default: pid,mount,uts,ipc,net]
    /// Example: --ns mount,uts,pid
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_namespace)]
    pub(crate) ns: Option<Vec<NamespaceKind>>,
    /// Network: 'none' (no interface up), 'loopback' (lo up), or
    /// 'veth[:KEY=VALUE,...]' with keys name, host, bridge, address (CIDR,
    /// repeatable), gateway, mtu, mac. [default: loopback when the net
    /// namespace is new]
    /// Example: --net veth:name=eth0,address=10.0.0.2/24,gateway=10.0.0.1
    #[arg(long, value_name = "SPEC", value_parser = parse_net)]
    pub(crate) net: Option<NetSpec>,
    /// Create a user namespace. Without maps, a non-root caller is mapped
    /// to root inside; root must give --uid-map and --gid-map.
    /// Example: --userns --uid-map 0:100000:65536 --gid-map 0:100000:65536
    #[arg(long)]
    pub(crate) userns: bool,
    /// A uid mapping of the user namespace, CONTAINER:HOST:COUNT
    /// (repeatable). Example: --uid-map 0:100000:65536
    #[arg(long, value_name = "C:H:N", value_parser = parse_id_map)]
    pub(crate) uid_map: Vec<IdMap>,
    /// A gid mapping of the user namespace, CONTAINER:HOST:COUNT
    /// (repeatable). Example: --gid-map 0:100000:65536
    #[arg(long, value_name = "C:H:N", value_parser = parse_id_map)]
    pub(crate) gid_map: Vec<IdMap>,
    /// User and group the command runs as, numeric. Example: --user 1000:1000
    #[arg(long, value_name = "UID[:GID]", value_parser = parse_user)]
    pub(crate) user: Option<UserSpec>,
    /// An environment variable (repeatable); KEY alone takes cradle's own
    /// value. Added to PATH, HOME and HOSTNAME. Example: --env LANG=C.UTF-8
    #[arg(long, short = 'e', value_name = "KEY=VALUE", value_parser = parse_env)]
    pub(crate) env: Vec<String>,
    /// Working directory inside the container, absolute. Example: --cwd /tmp
    #[arg(long, value_name = "DIR", value_parser = parse_absolute)]
    pub(crate) cwd: Option<PathBuf>,
    /// Memory limit in bytes, or with a suffix k, m, g, t (powers of 1024).
    /// Example: --memory 64m
    // Hyphen values reach the parser, which refuses a negative size as a
    // bad value rather than clap as an unknown flag.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    pub(crate) memory: Option<u64>,
    /// Most processes in the container. Example: --pids 64
    #[arg(long, value_name = "N", value_parser = parse_pids, allow_negative_numbers = true)]
    pub(crate) pids: Option<u64>,
    /// CPU limit, in CPUs (a fraction is a share of one). Example: --cpus 0.5
    #[arg(long, value_name = "FRACTION", value_parser = parse_cpus, allow_negative_numbers = true)]
    pub(crate) cpus: Option<f64>,
    /// Deadline of the launch handshake, from start to exec.
    /// Example: --timeout 500ms
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub(crate) timeout: Duration,
    /// Start the container, print its id and return; it keeps running.
    #[arg(short, long)]
    pub(crate) detach: bool,
    /// Give the command a pseudo-terminal, and put the caller's terminal in
    /// raw mode while it runs.
    #[arg(short, long)]
    pub(crate) tty: bool,
    /// Make pid 1 a small reaper that forks the command, passes every
    /// signal on to it, reaps the orphans it leaves, and exits as it did.
    /// Without it the command is pid 1, which the kernel shields from
    /// every signal it has no handler for (^C, TERM).
    /// Example: --init -- sleep 30
    #[arg(long)]
    pub(crate) init: bool,
    #[command(flatten, next_help_heading = "Confinement")]
    pub(crate) confinement: RunConfinement,
    /// OCI form: the bundle directory (config.json and its rootfs).
    /// [default: the current directory] Example: --bundle /srv/bundle
    #[arg(short, long, value_name = "DIR", help_heading = "OCI form")]
    pub(crate) bundle: Option<PathBuf>,
    /// OCI form: write the container's pid to FILE.
    #[arg(long, value_name = "FILE", help_heading = "OCI form")]
    pub(crate) pid_file: Option<PathBuf>,
    /// OCI form: the id of the container, run from its bundle. Example: web
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub(crate) id: Option<String>,
    /// Shell form: the command and its arguments, after `--`.
    /// Example: -- /bin/sh -c 'echo hi'
    #[arg(value_name = "CMD", last = true)]
    pub(crate) command: Vec<String>,
}

/// `cradle exec`.
#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// Print, once the command has ended, where the wall time went, phase
    /// by phase (the launch step by step), and the CPU time used. Not with
    /// --detach. Example: --timings
    #[arg(long, conflicts_with = "detach")]
    pub(crate) timings: bool,
    /// An environment variable (repeatable). Example: --env DEBUG=1
    #[arg(long, short = 'e', value_name = "KEY=VALUE", value_parser = parse_env)]
    pub(crate) env: Vec<String>,
    /// Working directory inside the container, absolute. Example: --cwd /tmp
    #[arg(long, value_name = "DIR", value_parser = parse_absolute)]
    pub(crate) cwd: Option<PathBuf>,
    /// User and group the command runs as, numeric. Example: --user 1000:1000
    #[arg(long, short = 'u', value_name = "UID[:GID]", value_parser = parse_user)]
    pub(crate) user: Option<UserSpec>,
    /// Deadline of the launch handshake. Example: --timeout 2s
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub(crate) timeout: Duration,
    /// Give the command a pseudo-terminal, and put the caller's terminal in
    /// raw mode while it runs.
    #[arg(short, long)]
    pub(crate) tty: bool,
    /// Pass N more descriptors (from 3) on to the process.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) preserve_fds: u32,
    /// The container. Example: web
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub(crate) id: String,
    /// The command and its arguments, unless --process gives them.
    /// Example: -- ps
    #[arg(value_name = "CMD", trailing_var_arg = true)]
    pub(crate) command: Vec<String>,
    #[command(flatten, next_help_heading = "Confinement")]
    pub(crate) confinement: ExecConfinement,
    /// The process to run, as an OCI `process` object (args, env, cwd,
    /// user, capabilities, rlimits, ...) in FILE, instead of CMD. The
    /// flags above apply over it. Example: --process /run/p.json
    #[arg(short, long, value_name = "FILE", help_heading = "runc's form")]
    pub(crate) process: Option<PathBuf>,
    /// Return once the process runs, leaving it running: it is the
    /// caller's (its subreaper's) to reap once cradle has exited.
    #[arg(short, long, help_heading = "runc's form")]
    pub(crate) detach: bool,
    /// Write the process's pid to FILE.
    #[arg(long, value_name = "FILE", help_heading = "runc's form")]
    pub(crate) pid_file: Option<PathBuf>,
    /// A Unix socket to which the process's terminal (its master end) is
    /// sent. Not supported yet.
    #[arg(long, value_name = "SOCKET", help_heading = "runc's form")]
    pub(crate) console_socket: Option<PathBuf>,
}

impl ExecArgs {
    /// Called as runc's callers call it (an engine's): its failures exit
    /// 1, as the other OCI commands', rather than docker's 125, 126, 127.
    pub(crate) fn is_runc_form(&self) -> bool {
        self.process.is_some() || self.detach || self.pid_file.is_some() || self.console_socket.is_some()
    }
}

/// `cradle list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Output format (-f as runc's). Example: --format json
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
}

/// How `list` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people.
    Table,
    /// A JSON array for programs.
    Json,
}

/// `cradle state`.
#[derive(Debug, Args)]
pub(crate) struct StateArgs {
    /// The container. Example: web
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub(crate) id: String,
}

/// `cradle create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The bundle: a directory with config.json (and usually the rootfs).
    /// Example: --bundle /srv/bundle
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub(crate) bundle: PathBuf,
    /// Write the container's pid to FILE. Example: --pid-file /run/web.pid
    #[arg(long, value_name = "FILE")]
    pub(crate) pid_file: Option<PathBuf>,
    /// A Unix socket to which the container's terminal (its master end) is
    /// sent, for a config with process.terminal.
    #[arg(long, value_name = "SOCKET")]
    pub(crate) console_socket: Option<PathBuf>,
    /// Pass N more descriptors (from 3) on to the container.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) preserve_fds: u32,
    /// Accepted for runc's command line: cradle creates no session keyring.
    #[arg(long)]
    pub(crate) no_new_keyring: bool,
    /// Accepted for runc's command line: cradle never pivots otherwise.
    #[arg(long, hide = true)]
    pub(crate) no_pivot: bool,
    /// Deadline of the launch handshake. Example: --timeout 2s
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub(crate) timeout: Duration,
    /// The container's id. Example: web
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub(crate) id: String,
}

/// A command that takes only a container's id.
#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// The container. Example: web
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub(crate) id: String,
}

/// `cradle ps`.
#[derive(Debug, Args)]
pub(crate) struct PsArgs {
    /// Output format. Example: --format json
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// The container. Example: web
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub(crate) id: String,
}

/// `cradle spec`.
#[derive(Debug, Args)]
pub(crate) struct SpecArgs {
    /// Where to write config.json. Example: --bundle /srv/bundle
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub(crate) bundle: PathBuf,
}

/// `cradle kill`.
#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// Signal every process in the container's cgroup, not only its init.
    #[arg(short, long)]
    pub(crate) all: bool,
    /// The container. Example: web
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub(crate) id: String,
    /// Signal, by name (TERM, SIGTERM) or number (15). Example: KILL
    #[arg(value_name = "SIGNAL", value_parser = parse_signal, default_value = "TERM")]
    pub(crate) signal: Signal,
}

/// `cradle delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Kill the container first if it is still running.
    #[arg(short, long)]
    pub(crate) force: bool,
    /// The container. Example: web
    #[arg(value_name = "ID", value_parser = parse_id)]
    pub(crate) id: String,
}

/// `--user UID[:GID]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UserSpec {
    pub(crate) uid: u32,
    /// The uid when not given, as `docker run --user` has it for numbers.
    pub(crate) gid: u32,
}

/// `--net`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NetSpec {
    /// No interface is brought up, not even `lo`.
    None,
    /// `lo` up.
    Loopback,
    /// `lo` up and a veth pair. The host end's name is filled in from the
    /// container id unless given; the temporary peer name at launch.
    Veth(Veth),
}

pub(crate) fn parse_id(value: &str) -> Result<String, String> {
    let valid_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    let starts_well = value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if value.is_empty() || value.len() > MAX_ID_LEN || !valid_chars || !starts_well {
        return Err(format!(
            "an id is 1 to {MAX_ID_LEN} letters, digits, '_', '.' or '-', starting with a letter or digit"
        ));
    }
    Ok(value.to_owned())
}

pub(crate) fn parse_namespace(value: &str) -> Result<NamespaceKind, String> {
    Ok(match value {
        "user" => NamespaceKind::User,
        "mount" | "mnt" => NamespaceKind::Mount,
        "uts" => NamespaceKind::Uts,
        "ipc" => NamespaceKind::Ipc,
        "pid" => NamespaceKind::Pid,
        "net" | "network" => NamespaceKind::Net,
        "cgroup" => NamespaceKind::Cgroup,
        "time" => NamespaceKind::Time,
        _ => return Err("namespaces are user, mount, uts, ipc, pid, net, cgroup, time".to_owned()),
    })
}

/// `CONTAINER:HOST:COUNT`, with a count of at least 1 and no range that
/// runs past the last id.
pub(crate) fn parse_id_map(value: &str) -> Result<IdMap, String> {
    let bad = || "expected CONTAINER:HOST:COUNT, three numbers, e.g. 0:100000:65536".to_owned();
    let mut parts = value.split(':').map(u32::from_str);
    let (Some(Ok(container)), Some(Ok(host)), Some(Ok(count)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if count == 0 {
        return Err("the count of a map is at least 1".to_owned());
    }
    if container.checked_add(count - 1).is_none() || host.checked_add(count - 1).is_none() {
        return Err("the map runs past the last id (4294967295)".to_owned());
    }
    Ok(IdMap {
        container,
        host,
        count,
    })
}

pub(crate) fn parse_user(value: &str) -> Result<UserSpec, String> {
    let bad = || "expected UID or UID:GID, numbers, e.g. 1000:1000".to_owned();
    let (uid, gid) = match value.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid)),
        None => (value, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(str::parse).transpose().map_err(|_| bad())?.unwrap_or(uid);
    Ok(UserSpec { uid, gid })
}

/// `KEY=VALUE`, or `KEY` alone for cradle's own value of `KEY`.
pub(crate) fn parse_env(value: &str) -> Result<String, String> {
    let (key, rest) = match value.split_once('=') {
        Some((key, rest)) => (key, Some(rest)),
        None => (value, None),
    };
    if key.is_empty() || value.contains('\0') {
        return Err("expected KEY=VALUE with a non-empty KEY".to_owned());
    }
    match rest {
        Some(_) => Ok(value.to_owned()),
        None => match std::env::var(key) {
            Ok(own) => Ok(format!("{key}={own}")),
            Err(_) => Err(format!("{key} has no value here; give it as {key}=VALUE")),
        },
    }
}

pub(crate) fn parse_absolute(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err("expected an absolute path".to_owned())
    }
}

/// A byte count: digits with an optional binary suffix `k`, `m`, `g`, `t`
/// (any case, an optional trailing `b` or `ib`).
pub(crate) fn parse_size(value: &str) -> Result<u64, String> {
    let bad = || "expected bytes, or a number with a suffix k, m, g or t, e.g. 64m".to_owned();
    let lower = value.trim().to_ascii_lowercase();
    let unit = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let split = unit.find(|c: char| !c.is_ascii_digit()).unwrap_or(unit.len());
    let (digits, suffix) = unit.split_at(split);
    let negative = suffix
        .strip_prefix('-')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    if digits.is_empty() && negative {
        return Err("a size must be positive".to_owned());
    }
    let shift = match suffix {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(bad()),
    };
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| "the size does not fit in 64 bits".to_owned())?;
    if bytes == 0 {
        return Err("a memory limit of 0 would kill everything".to_owned());
    }
    Ok(bytes)
}

/// `--pids`: a count of at least 1 (0 would forbid the command itself).
pub(crate) fn parse_pids(value: &str) -> Result<u64, String> {
    match value.trim().parse::<i128>() {
        Ok(count) if count < 1 => Err("must be at least 1".to_owned()),
        Ok(count) => u64::try_from(count).map_err(|_| format!("must be at most {}", u64::MAX)),
        Err(_) => Err("expected a whole number of processes, e.g. 64".to_owned()),
    }
}

pub(crate) fn parse_cpus(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(cpus) if cpus.is_finite() && (0.01..=4096.0).contains(&cpus) => Ok(cpus),
        _ => Err("expected a number of CPUs from 0.01 to 4096, e.g. 0.5".to_owned()),
    }
}

pub(crate) fn parse_duration(value: &str) -> Result<Duration, String> {
    // humantime's own reasons ("expected number at 0") name offsets, not
    // what a duration looks like.
    let duration =
        humantime::parse_duration(value).map_err(|_| "not a duration (e.g. 500ms, 10s, 1m)".to_owned())?;
    if duration.is_zero() {
        return Err("a zero deadline would fail every launch".to_owned());
    }
    Ok(duration)
}

/// A signal by name (`TERM`, `SIGTERM`, `RTMIN+3`, any case) or number.
pub(crate) fn parse_signal(value: &str) -> Result<Signal, String> {
    let signal = match value.parse::<i32>() {
        Ok(number) => Signal::from_number(number),
        Err(_) => Signal::from_name(value),
    };
    signal.ok_or_else(|| format!("unknown signal {value:?} (expected a name like TERM or a number like 15)"))
}

pub(crate) fn parse_net(value: &str) -> Result<NetSpec, String> {
    let (kind, rest) = match value.split_once(':') {
        Some((kind, rest)) => (kind, Some(rest)),
        None => (value, None),
    };
    match (kind, rest) {
        ("none", None) => Ok(NetSpec::None),
        ("loopback", None) => Ok(NetSpec::Loopback),
        ("veth", rest) => parse_veth(rest.unwrap_or_default()).map(NetSpec::Veth),
        _ => Err("expected none, loopback or veth[:KEY=VALUE,...]".to_owned()),
    }
}

/// The keys of `veth:...`; the names are checked later, with the rest of
/// the network configuration.
fn parse_veth(spec: &str) -> Result<Veth, String> {
    let mut veth = Veth {
        name: "eth0".to_owned(),
        ..Veth::default()
    };
    for pair in spec.split(',').filter(|pair| !pair.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("veth option {pair:?} is not KEY=VALUE"));
        };
        match key {
            "name" => veth.name = value.to_owned(),
            "host" => veth.host_name = value.to_owned(),
            "bridge" => veth.bridge = Some(value.to_owned()),
            "address" => veth.addresses.push(parse_cidr(value)?),
            "gateway" => {
                let gateway: IpAddr = value.parse().map_err(|_| format!("bad gateway {value:?}"))?;
                match gateway {
                    IpAddr::V4(_) => veth.gateway = Some(gateway),
                    IpAddr::V6(_) => veth.gateway6 = Some(gateway),
                }
            }
            "mtu" => veth.mtu = Some(value.parse().map_err(|_| format!("bad mtu {value:?}"))?),
            "mac" => veth.mac = Some(value.to_owned()),
            _ => {
                return Err(format!(
                    "unknown veth option {key:?} (known: name, host, bridge, address, gateway, mtu, mac)"
                ))
            }
        }
    }
    Ok(veth)
}

fn parse_cidr(value: &str) -> Result<IpNet, String> {
    let bad = || format!("bad address {value:?}: expected ADDRESS/PREFIX, e.g. 10.0.0.2/24");
    let (address, prefix) = value.split_once('/').ok_or_else(bad)?;
    let address: IpAddr = address.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad());
    }
    Ok(IpNet { address, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        for bad in ["", "m", "1.5g", "-1", "12x", "0", "99999999999t"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_size("-5m"), Err("a size must be positive".to_owned()));
        assert_ne!(parse_size("--"), Err("a size must be positive".to_owned()));
    }

    #[test]
    fn pids() {
        assert_eq!(parse_pids("64"), Ok(64));
        assert_eq!(parse_pids(&u64::MAX.to_string()), Ok(u64::MAX));
        for below in ["0", "-3"] {
            assert_eq!(
                parse_pids(below),
                Err("must be at least 1".to_owned()),
                "{below:?}"
            );
        }
        for bad in ["", "x", "1.5", "18446744073709551616"] {
            assert!(parse_pids(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn id_maps() {
        assert_eq!(
            parse_id_map("0:100000:65536"),
            Ok(IdMap {
                container: 0,
                host: 100_000,
                count: 65_536
            })
        );
        for bad in ["", "0:1", "0:1:2:3", "a:1:1", "0:0:0", "4294967295:0:2", "-1:0:1"] {
            assert!(parse_id_map(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("10"), Ok(Signal::SIGUSR1));
        // Real-time signals, which runc takes by number.
        assert_eq!(parse_signal("40").map(Signal::number), Ok(40));
        assert_eq!(
            parse_signal("RTMIN+1"),
            Ok(Signal::from_number(nix::libc::SIGRTMIN() + 1).expect("RTMIN+1"))
        );
        for bad in ["", "NOPE", "0", "99", "-9"] {
            assert!(parse_signal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids() {
        for good in ["web", "a", "c1.test_x-2"] {
            assert!(parse_id(good).is_ok(), "{good:?}");
        }
        for bad in ["", "-x", ".", "..", "a/b", "a b", &"x".repeat(65)] {
            assert!(parse_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_and_cpus() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert_eq!(
            parse_duration("soon"),
            Err("not a duration (e.g. 500ms, 10s, 1m)".to_owned())
        );
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "x"] {
            assert!(parse_cpus(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn net_specs() {
        assert_eq!(parse_net("none"), Ok(NetSpec::None));
        assert_eq!(parse_net("loopback"), Ok(NetSpec::Loopback));
        let Ok(NetSpec::Veth(veth)) = parse_net("veth:address=10.0.0.2/24,gateway=10.0.0.1,mtu=1400") else {
            panic!("a veth spec");
        };
        assert_eq!(veth.name, "eth0");
        assert_eq!(veth.addresses.len(), 1);
        assert_eq!(veth.mtu, Some(1400));
        assert!(veth.gateway.is_some());
        assert!(matches!(parse_net("veth"), Ok(NetSpec::Veth(_))));
        for bad in [
            "",
            "bridge",
            "veth:x=1",
            "veth:address=10.0.0.2",
            "veth:address=1.2.3.4/33",
            "none:x",
        ] {
            assert!(parse_net(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn users_and_env() {
        assert_eq!(parse_user("1000"), Ok(UserSpec { uid: 1000, gid: 1000 }));
        assert_eq!(parse_user("1:2"), Ok(UserSpec { uid: 1, gid: 2 }));
        assert!(parse_user("root").is_err());
        assert_eq!(parse_env("A=b=c"), Ok("A=b=c".to_owned()));
        assert!(parse_env("=x").is_err());
    }
}
