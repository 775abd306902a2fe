//! From the command line to what a launch needs: the core's [`Plan`] (the
//! container's [`Config`], id maps, deadline) and the cgroup to create.
//! Everything that can be checked before anything is created is checked
//! here, so that bad input fails with nothing left behind.

use std::path::{Path, PathBuf};

use cradle_core::config::{Interface, Veth};
use cradle_core::{Config, IdMap, IdMaps, Namespace, NamespaceKind, Plan, Terminal};
use cradle_linux::cgroup::{CgroupConfig, Resources};
use cradle_linux::net;
use cradle_oci::ExecProcess;
use nix::unistd::{getegid, geteuid, gethostname};

use crate::args::{ExecArgs, NetSpec, RunArgs, UserSpec};
use crate::confinement::{self, Recorded};
use crate::error::CliError;
use crate::seccomp_cache::Compiler;
use crate::state::ContainerState;

/// `PATH` when the caller gives none (the backend's default, too).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The namespaces a container gets unless `--ns` says otherwise.
const DEFAULT_NAMESPACES: [NamespaceKind; 5] = [
    NamespaceKind::Pid,
    NamespaceKind::Mount,
    NamespaceKind::Uts,
    NamespaceKind::Ipc,
    NamespaceKind::Net,
];
/// The CPU period `--cpus` is a quota of, in microseconds (as docker).
const CPU_PERIOD_US: u64 = 100_000;

/// Everything `run` launches.
#[derive(Debug)]
pub(crate) struct RunPlan {
    pub(crate) plan: Plan,
    /// The cgroup to create, when the plan asks for one.
    pub(crate) cgroup: Option<CgroupConfig>,
    /// The namespaces it creates, sorted: `exec` joins them.
    pub(crate) namespaces: Vec<NamespaceKind>,
    /// The veth pairs, whose host ends outlive a detached `run`.
    pub(crate) veths: Vec<Veth>,
    /// The confinement, kept in the state for `exec`.
    pub(crate) confinement: Recorded,
}

/// The plan of `cradle run` for container `id`.
pub(crate) fn run_plan(args: &RunArgs, id: &str, compiler: &Compiler<'_>) -> Result<RunPlan, CliError> {
    let mut kinds = args.ns.clone().unwrap_or_else(|| DEFAULT_NAMESPACES.to_vec());
    if args.userns && !kinds.contains(&NamespaceKind::User) {
        kinds.push(NamespaceKind::User);
    }
    kinds.sort();
    if let Some(kind) = kinds
        .windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
    {
        return Err(usage(format!("--ns lists {} twice", kind.proc_name())));
    }
    let creates = |kind| kinds.contains(&kind);

    let mut config = Config::new(args.command.iter().cloned());
    config.namespaces = kinds.iter().map(|&kind| Namespace::new(kind)).collect();
    if args.hostname.is_some() && !creates(NamespaceKind::Uts) {
        return Err(usage("--hostname needs a new uts namespace (see --ns)"));
    }
    config.hostname.clone_from(&args.hostname);
    if let Some(rootfs) = &args.rootfs {
        if !creates(NamespaceKind::Mount) {
            return Err(usage("--rootfs needs a new mount namespace (see --ns)"));
        }
        config.rootfs = Some(rootfs_dir(rootfs)?);
    }
    let veths = networks(&mut config, args.net.as_ref(), creates(NamespaceKind::Net), id)?;
    apply_process_args(&mut config, args.cwd.as_ref(), args.user);
    let hostname = args.hostname.clone().or_else(own_hostname);
    config.env = environment(&args.env, config.user.uid, hostname, args.tty);
    config.terminal = if args.tty {
        Terminal::Console {
            size: crate::tty::caller_size(),
        }
    } else {
        Terminal::None
    };
    config.reaper = args.init;

    let id_maps = id_maps(args, creates(NamespaceKind::User))?;
    let mut resources = resources(args);
    // Root's containers always get a cgroup, which `delete` empties and
    // removes; a caller without privileges cannot make one, so gets one
    // only by asking for limits (and the error that explains why not).
    let with_cgroup = geteuid().is_root() || resources != Resources::default();
    let mut device_rules = None;
    let confinement = confinement::apply_run(&args.confinement, &mut config, &mut device_rules, compiler)?;
    if with_cgroup {
        resources.devices = device_rules;
    }
    let mut plan = Plan::init(config);
    plan.id_maps = id_maps;
    plan.cgroup = with_cgroup;
    plan.timeout = args.timeout;
    let cgroup = plan.cgroup.then(|| CgroupConfig {
        adopt_empty: false,
        name: format!("cradle-{id}"),
        parent: None,
        resources,
    });
    Ok(RunPlan {
        plan,
        cgroup,
        namespaces: kinds,
        veths,
        confinement,
    })
}

/// The plan of `cradle exec` into the running container `state`. The
/// backend's setns helper joins every namespace and the root of the
/// container's init (named in the options); the process enters its cgroup
/// and is confined as the container is, or as `--process` says.
pub(crate) fn exec_plan(
    args: &ExecArgs,
    state: &ContainerState,
    compiler: &Compiler<'_>,
) -> Result<Plan, CliError> {
    let mut config = match &args.process {
        Some(path) => {
            if !args.command.is_empty() {
                return Err(usage("exec: --process FILE gives the command: give no CMD too"));
            }
            let mut config = process_file(path)?;
            apply_process_args(&mut config, args.cwd.as_ref(), args.user);
            override_env(&mut config.env, &args.env);
            if args.tty && !config.terminal.is_some() {
                config.terminal = caller_console();
            }
            confinement::apply_exec_process(&args.confinement, &state.confinement, &mut config, compiler)?;
            config
        }
        None => {
            if args.command.is_empty() {
                return Err(usage(
                    "exec: give the command after the id (-- CMD), or --process FILE",
                ));
            }
            let mut config = Config::new(args.command.iter().cloned());
            apply_process_args(&mut config, args.cwd.as_ref(), args.user);
            config.env = environment(&args.env, config.user.uid, state.hostname.clone(), args.tty);
            config.terminal = if args.tty {
                caller_console()
            } else {
                Terminal::None
            };
            confinement::apply_exec(&args.confinement, &state.confinement, &mut config, compiler)?;
            config
        }
    };
    config.preserved_fds = args.preserve_fds;
    let mut plan = Plan::setns(config);
    plan.cgroup = state.cgroup.is_some();
    plan.timeout = args.timeout;
    Ok(plan)
}

/// A terminal made inside the container, of the caller's window size:
/// `-t`'s.
fn caller_console() -> Terminal {
    Terminal::Console {
        size: crate::tty::caller_size(),
    }
}

/// The config of the OCI process in `path`; a refusal names the file and
/// the JSON path.
fn process_file(path: &Path) -> Result<Config, CliError> {
    let mapped = ExecProcess::load(path).map_err(|error| match error.json_path() {
        Some(_) => usage(format!("--process {}: {error}", path.display())),
        // Its message names the file already.
        None => CliError::Bundle(error),
    })?;
    for warning in &mapped.warnings {
        tracing::warn!("--process {}: {warning}", path.display());
    }
    let mut config = mapped.config;
    if let Some(capabilities) = config.capabilities.as_mut() {
        crate::bundle::drop_unavailable(capabilities);
    }
    Ok(config)
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

/// The rootfs as an absolute path, checked to be a directory. No symlink
/// is followed: the child opens the path once and refuses one anywhere in
/// it, so that a component swapped for a symlink (to the host's `/`)
/// cannot redirect the container.
fn rootfs_dir(rootfs: &Path) -> Result<PathBuf, CliError> {
    let shown = rootfs.display();
    let path = std::path::absolute(rootfs).map_err(|error| usage(format!("--rootfs {shown}: {error}")))?;
    match std::fs::symlink_metadata(&path) {
        Ok(metadata) if metadata.is_dir() => Ok(path),
        Ok(metadata) if metadata.file_type().is_symlink() => Err(usage(format!(
            "--rootfs {shown}: a symlink; give the real path (readlink -f)"
        ))),
        Ok(_) => Err(usage(format!("--rootfs {shown}: not a directory"))),
        Err(error) => Err(usage(format!("--rootfs {shown}: {error}"))),
    }
}

/// Fills `config.networks` from `--net`; returns the veth pairs.
fn networks(
    config: &mut Config,
    spec: Option<&NetSpec>,
    new_netns: bool,
    id: &str,
) -> Result<Vec<Veth>, CliError> {
    if !new_netns {
        return match spec {
            None => Ok(Vec::new()),
            Some(_) => Err(usage("--net needs a new net namespace (see --ns)")),
        };
    }
    let mut veths = Vec::new();
    config.networks = match spec.unwrap_or(&NetSpec::Loopback) {
        NetSpec::None => Vec::new(),
        NetSpec::Loopback => vec![Interface::Loopback],
        NetSpec::Veth(veth) => {
            let mut veth = veth.clone();
            if veth.host_name.is_empty() {
                veth.host_name = host_name(id);
            }
            veth.peer_name = net::temp_peer_name();
            veths.push(veth.clone());
            vec![Interface::Loopback, Interface::Veth(veth)]
        }
    };
    net::validate(&config.networks)?;
    Ok(veths)
}

/// The host end's default name: `cr-` and a hash of the id (an id can be
/// longer than an interface name). Two ids with one hash collide visibly:
/// the kernel refuses the second pair, and nothing is taken over.
pub(crate) fn host_name(id: &str) -> String {
    // FNV-1a, 32 bits: stable across builds, unlike std's hasher.
    let hash = id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("cr-{hash:08x}")
}

/// `--cwd` and `--user`, shared by `run` and `exec`.
fn apply_process_args(config: &mut Config, cwd: Option<&PathBuf>, user: Option<UserSpec>) {
    if let Some(cwd) = cwd {
        config.cwd.clone_from(cwd);
    }
    if let Some(user) = user {
        config.user.uid = user.uid;
        config.user.gid = user.gid;
    }
}

/// `given` (`KEY=VALUE` each) over `env`: an entry of the same key is
/// replaced.
fn override_env(env: &mut Vec<String>, given: &[String]) {
    for entry in given {
        let key = entry.split_once('=').map_or(entry.as_str(), |(key, _)| key);
        env.retain(|old| old.split_once('=').map(|(old_key, _)| old_key) != Some(key));
        env.push(entry.clone());
    }
}

/// The defaults (`PATH`, `HOME`, `HOSTNAME`, and `TERM` on a terminal) with
/// the caller's `--env` entries over them: a config with an environment of
/// its own gets no defaults from the backend.
fn environment(given: &[String], uid: u32, hostname: Option<String>, tty: bool) -> Vec<String> {
    let home = if uid == 0 { "/root" } else { "/" };
    let mut env = vec![format!("PATH={DEFAULT_PATH}"), format!("HOME={home}")];
    env.extend(hostname.map(|name| format!("HOSTNAME={name}")));
    if tty {
        env.push(format!(
            "TERM={}",
            std::env::var("TERM").unwrap_or_else(|_| "xterm".to_owned())
        ));
    }
    override_env(&mut env, given);
    env
}

fn own_hostname() -> Option<String> {
    gethostname().ok()?.into_string().ok()
}

/// The id maps of a new user namespace: as given, or for a caller that is
/// not root, its own uid and gid as root inside.
fn id_maps(args: &RunArgs, new_userns: bool) -> Result<Option<IdMaps>, CliError> {
    if !new_userns {
        if !args.uid_map.is_empty() || !args.gid_map.is_empty() {
            return Err(usage("--uid-map and --gid-map need --userns"));
        }
        return Ok(None);
    }
    let given = (!args.uid_map.is_empty(), !args.gid_map.is_empty());
    match given {
        (true, true) => Ok(Some(IdMaps {
            uid: args.uid_map.clone(),
            gid: args.gid_map.clone(),
            deny_setgroups: false,
        })),
        (false, false) if !geteuid().is_root() => {
            let one = |host: u32| IdMap {
                container: 0,
                host,
                count: 1,
            };
            Ok(Some(IdMaps {
                uid: vec![one(geteuid().as_raw())],
                gid: vec![one(getegid().as_raw())],
                // Without CAP_SETGID outside, gid_map needs setgroups denied.
                deny_setgroups: true,
            }))
        }
        (false, false) => Err(usage(
            "--userns as root needs --uid-map and --gid-map, e.g. 0:100000:65536",
        )),
        _ => Err(usage("--userns needs both --uid-map and --gid-map")),
    }
}

fn resources(args: &RunArgs) -> Resources {
    Resources {
        memory_max: args.memory,
        pids_max: args.pids,
        // `--cpus` is checked to be in 0.01..=4096: the quota fits.
        cpu_quota_us: args.cpus.map(|cpus| (cpus * CPU_PERIOD_US as f64).round() as i64),
        cpu_period_us: args.cpus.map(|_| CPU_PERIOD_US),
        ..Resources::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_entries_override_the_defaults() {
        let env = environment(
            &["PATH=/x".to_owned(), "A=1".to_owned()],
            0,
            Some("box".to_owned()),
            false,
        );
        assert_eq!(env, ["HOME=/root", "HOSTNAME=box", "PATH=/x", "A=1"]);
        assert!(environment(&[], 1000, None, false).contains(&"HOME=/".to_owned()));
    }

    #[test]
    fn host_names_fit_and_differ() {
        let a = host_name("web");
        assert!(net::check_name(&a).is_ok(), "{a}");
        assert_ne!(a, host_name("web2"));
        assert_eq!(a, host_name("web"));
    }
}
