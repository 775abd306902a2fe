//! The child's set-up, step by step, in the order of the config's fields.

use std::fs::File;
use std::os::fd::AsFd as _;

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::sys::prctl;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::Mode;
use nix::unistd::{self, Gid, Uid};

use cradle_core::config::RlimitResource;
use cradle_core::{ChildError, ChildStep, Config, NamespaceKind, Terminal};

use super::{cgroups, confine, console, failed, io_failed, mounts, network, paths, refused, Placed};
use crate::{spawn, sys};

/// What the caller of [`init_with_hook`](crate::init_with_hook) watches the
/// steps with.
pub(super) type Hook<'a> = &'a mut dyn FnMut(ChildStep, &Config);

/// Runs every set-up step.
pub(super) fn run(config: &Config, mut placed: Placed, hook: Hook<'_>) -> Result<(), ChildError> {
    // First, so that every step after runs, and is charged, in them.
    let tasks = std::mem::take(&mut placed.cgroup_tasks);
    step(hook, config, ChildStep::Cgroup, |_| cgroups::join(tasks))?;
    step(hook, config, ChildStep::Setsid, new_session)?;
    // While `/proc` is the launcher's: a mount namespace joined next may
    // show another.
    super::hooks::remember_runtime_pid(config);
    step(hook, config, ChildStep::Namespaces, join_namespaces)?;
    step(hook, config, ChildStep::Hostname, set_hostname)?;
    step(hook, config, ChildStep::Rlimits, set_rlimits)?;
    step(hook, config, ChildStep::OomScoreAdj, confine::oom_score_adj)?;
    step(hook, config, ChildStep::Network, network::configure)?;
    mounts::run(config, hook)?;
    step(hook, config, ChildStep::Sysctls, confine::sysctls)?;
    step(hook, config, ChildStep::Paths, paths::paths)?;
    step(hook, config, ChildStep::ReadonlyRootfs, mounts::readonly_rootfs)?;
    the_process(config, placed, hook)
}

/// The set-up of a setns process: the steps that concern the process
/// itself. The helper has put it in the container's namespaces and root
/// already; what concerns the container (namespaces, hostname, network,
/// mounts) is the init's, and refused here rather than ignored.
pub(super) fn run_setns(config: &Config, placed: Placed, hook: Hook<'_>) -> Result<(), ChildError> {
    refuse_container_fields(config)?;
    step(hook, config, ChildStep::Setsid, new_session)?;
    step(hook, config, ChildStep::Rlimits, set_rlimits)?;
    step(hook, config, ChildStep::OomScoreAdj, confine::oom_score_adj)?;
    the_process(config, placed, hook)
}

/// The last steps, an init's and a setns process's alike: its terminal,
/// user, capabilities, working directory, descriptors and filter.
fn the_process(config: &Config, placed: Placed, hook: Hook<'_>) -> Result<(), ChildError> {
    step(hook, config, ChildStep::Console, |config| {
        console::make(config, placed.console)
    })?;
    set_umask(config);
    step(hook, config, ChildStep::User, set_user)?;
    step(hook, config, ChildStep::Capabilities, confine::capabilities)?;
    step(hook, config, ChildStep::Cwd, change_dir)?;
    step(hook, config, ChildStep::NoNewPrivileges, no_new_privileges)?;
    step(hook, config, ChildStep::Fds, close_on_exec)?;
    step(hook, config, ChildStep::Seccomp, confine::seccomp)
}

/// Shows `step` to the hook, then runs `action` as that step.
fn step(
    hook: &mut dyn FnMut(ChildStep, &Config),
    config: &Config,
    step: ChildStep,
    action: impl FnOnce(&Config) -> Result<(), ChildError>,
) -> Result<(), ChildError> {
    hook(step, config);
    action(config)
}

/// Refuses, for a setns process, the fields that set up a container.
fn refuse_container_fields(config: &Config) -> Result<(), ChildError> {
    let set = [
        (ChildStep::Namespaces, "namespaces", !config.namespaces.is_empty()),
        (ChildStep::Hostname, "a hostname", config.hostname.is_some()),
        (ChildStep::Network, "networks", !config.networks.is_empty()),
        (ChildStep::Rootfs, "a rootfs", config.rootfs.is_some()),
        (ChildStep::Mounts, "mounts", !config.mounts.is_empty()),
        (
            ChildStep::Paths,
            "read-only or masked paths",
            !config.readonly_paths.is_empty() || !config.masked_paths.is_empty(),
        ),
        (ChildStep::Devices, "device nodes", !config.devices.is_empty()),
        (ChildStep::Sysctls, "sysctls", !config.sysctls.is_empty()),
        (
            ChildStep::ReadonlyRootfs,
            "a read-only root",
            config.readonly_rootfs,
        ),
        (ChildStep::Exec, "a reaper (pid 1 is the init's)", config.reaper),
    ];
    match set.into_iter().find(|(_, _, set)| *set) {
        Some((step, what, _)) => Err(refused(
            step,
            format!("a setns process joins a running container: it cannot set {what}"),
        )),
        None => Ok(()),
    }
}

fn new_session(config: &Config) -> Result<(), ChildError> {
    unistd::setsid()
        .map(drop)
        .map_err(failed(ChildStep::Setsid, "setsid"))?;
    if config.terminal == Terminal::Stdin {
        take_terminal()?;
    }
    Ok(())
}

/// Makes stdin the controlling terminal of the session just made.
fn take_terminal() -> Result<(), ChildError> {
    sys::take_controlling_terminal(std::io::stdin().as_fd())
        .map_err(failed(ChildStep::Setsid, "ioctl(TIOCSCTTY) on stdin"))
}

/// The command's umask, once the init has made its last file (it cannot
/// fail: `umask` takes any mode and keeps the permission bits).
fn set_umask(config: &Config) {
    if let Some(mask) = config.umask {
        nix::sys::stat::umask(Mode::from_bits_truncate(mask & 0o777));
    }
}

/// Enters the working directory, and checks that it is below the root: a
/// path through `/proc/self/fd/<n>` of a descriptor opened outside (one
/// preserved by the caller, say) would leave the process in a directory
/// of the host, from which `..` leads anywhere (CVE-2024-21626). The
/// kernel shows such a directory to `getcwd` as unreachable, which the C
/// library reports as `ENOENT`.
fn change_dir(config: &Config) -> Result<(), ChildError> {
    let cwd = &config.cwd;
    unistd::chdir(cwd).map_err(failed(ChildStep::Cwd, format!("chdir {}", cwd.display())))?;
    match unistd::getcwd() {
        Ok(_) => Ok(()),
        Err(Errno::ENOENT) => Err(refused(
            ChildStep::Cwd,
            format!("{} leads out of the container's root", cwd.display()),
        )),
        Err(errno) => Err(failed(ChildStep::Cwd, "getcwd")(errno)),
    }
}

fn no_new_privileges(config: &Config) -> Result<(), ChildError> {
    if !config.no_new_privileges {
        return Ok(());
    }
    prctl::set_no_new_privs().map_err(failed(ChildStep::NoNewPrivileges, "PR_SET_NO_NEW_PRIVS"))
}

/// Joins the namespaces given by path, user first, then mount: the rest of
/// the set-up (the root's propagation, the mounts, the pivot) happens in
/// the joined mount namespace, as runc's does. Every file is opened first:
/// once in a joined mount namespace, a `/proc/<pid>` path may name another
/// process, or none.
///
/// A pid namespace is not joined here: that moves only the caller's future
/// children, and the init `exec`s rather than forks. The parent cloned the
/// init into it already ([`cradle_core::launch::Spawn::pid_namespace`]).
/// A time namespace would take the same, and is refused.
fn join_namespaces(config: &Config) -> Result<(), ChildError> {
    let step = ChildStep::Namespaces;
    let mut opened = Vec::new();
    for kind in NamespaceKind::ALL {
        let Some(path) = config.joins(kind).filter(|_| kind != NamespaceKind::Pid) else {
            continue;
        };
        let shown = path.display();
        if kind == NamespaceKind::Time {
            let message = format!(
                "joining the time namespace {shown} is not supported yet: \
                 it would hold the command's children, not the command"
            );
            return Err(refused(step, message));
        }
        let file = File::open(path).map_err(io_failed(step, format!("open {shown}")))?;
        opened.push((kind, path, file));
    }
    for (kind, path, file) in opened {
        let flag = i32::try_from(spawn::namespace_flag(kind)).map_err(|_| Errno::EINVAL);
        flag.and_then(|flag| setns(&file, CloneFlags::from_bits_retain(flag)))
            .map_err(failed(step, format!("setns {}", path.display())))?;
    }
    Ok(())
}

fn set_hostname(config: &Config) -> Result<(), ChildError> {
    let Some(name) = &config.hostname else {
        return Ok(());
    };
    // Without a UTS namespace of its own the container would rename the host.
    if !config.namespaces.iter().any(|ns| ns.kind == NamespaceKind::Uts) {
        return Err(refused(ChildStep::Hostname, "a hostname needs a UTS namespace"));
    }
    unistd::sethostname(name).map_err(failed(ChildStep::Hostname, format!("sethostname {name:?}")))
}

fn set_rlimits(config: &Config) -> Result<(), ChildError> {
    for limit in &config.rlimits {
        let resource = resource(limit.resource);
        setrlimit(resource, limit.soft, limit.hard)
            .map_err(failed(ChildStep::Rlimits, format!("setrlimit {resource:?}")))?;
    }
    Ok(())
}

fn resource(resource: RlimitResource) -> Resource {
    match resource {
        RlimitResource::As => Resource::RLIMIT_AS,
        RlimitResource::Core => Resource::RLIMIT_CORE,
        RlimitResource::Cpu => Resource::RLIMIT_CPU,
        RlimitResource::Data => Resource::RLIMIT_DATA,
        RlimitResource::Fsize => Resource::RLIMIT_FSIZE,
        RlimitResource::Locks => Resource::RLIMIT_LOCKS,
        RlimitResource::Memlock => Resource::RLIMIT_MEMLOCK,
        RlimitResource::Msgqueue => Resource::RLIMIT_MSGQUEUE,
        RlimitResource::Nice => Resource::RLIMIT_NICE,
        RlimitResource::Nofile => Resource::RLIMIT_NOFILE,
        RlimitResource::Nproc => Resource::RLIMIT_NPROC,
        RlimitResource::Rss => Resource::RLIMIT_RSS,
        RlimitResource::Rtprio => Resource::RLIMIT_RTPRIO,
        RlimitResource::Rttime => Resource::RLIMIT_RTTIME,
        RlimitResource::Sigpending => Resource::RLIMIT_SIGPENDING,
        RlimitResource::Stack => Resource::RLIMIT_STACK,
    }
}

/// Supplementary groups, then gid, then uid: after `setuid` the process
/// may no longer change its groups.
fn set_user(config: &Config) -> Result<(), ChildError> {
    let step = ChildStep::User;
    let user = &config.user;
    let groups: Vec<Gid> = user
        .additional_gids
        .iter()
        .map(|&gid| Gid::from_raw(gid))
        .collect();
    match unistd::setgroups(&groups) {
        // A user namespace with `setgroups` denied keeps the (empty) list it
        // has; only a list asked for is an error there.
        Err(Errno::EPERM) if groups.is_empty() => {}
        result => result.map_err(failed(step, format!("setgroups {:?}", user.additional_gids)))?,
    }
    // All three gids, where `setgid` without `CAP_SETGID` would set the
    // effective one alone, and leave a real gid apart (`spawn::real_gid`)
    // to the command.
    let gid = Gid::from_raw(user.gid);
    unistd::setresgid(gid, gid, gid).map_err(failed(step, format!("setresgid {}", user.gid)))?;
    // The capability and seccomp steps still set (or need) capabilities:
    // keep the permitted set across the change of user.
    if user.uid != 0 && confine::keeps_caps_across_setuid(config) {
        prctl::set_keepcaps(true).map_err(failed(step, "PR_SET_KEEPCAPS"))?;
    }
    unistd::setuid(Uid::from_raw(user.uid)).map_err(failed(step, format!("setuid {}", user.uid)))
}

/// Marks every descriptor after stdio and the preserved ones close-on-exec,
/// whatever the parent left open.
fn close_on_exec(config: &Config) -> Result<(), ChildError> {
    let step = ChildStep::Fds;
    let first = i32::try_from(config.preserved_fds)
        .ok()
        .and_then(|n| n.checked_add(3))
        .ok_or_else(|| refused(step, "too many preserved descriptors"))?;
    sys::close_range_cloexec(first).map_err(failed(step, format!("close_range({first}.., CLOEXEC)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setns_process_refuses_a_reaper() {
        let mut config = Config::new(["true"]);
        assert!(refuse_container_fields(&config).is_ok());
        config.reaper = true;
        let error = refuse_container_fields(&config).expect_err("a reaper is the init's");
        assert_eq!((error.step, error.errno), (ChildStep::Exec, None));
        assert!(error.message.contains("reaper"), "{}", error.message);
    }
}
