//! `process`: the command, its environment, who runs it and how it is
//! confined (capabilities, rlimits, `no_new_privs`, OOM score), and its
//! terminal.

use std::collections::{BTreeSet, HashSet};

use cradle_core::config::{Rlimit, RlimitResource};
use cradle_core::{Capabilities, Capability, Config, Terminal, WindowSize};
use oci_spec::runtime::{PosixRlimitType, Process, Spec};

use crate::OciError;

/// Fills `config` from the bundle's `process`.
pub(crate) fn apply(spec: &Spec, config: &mut Config) -> Result<(), OciError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| OciError::invalid("process", "missing: cradle needs the process to run"))?;
    apply_process(process, config)
}

/// Fills `config` from `process`, a bundle's or one on its own (`exec
/// --process`); errors name the fields as `process.<field>`.
pub(crate) fn apply_process(process: &Process, config: &mut Config) -> Result<(), OciError> {
    config.args = process.args().clone().unwrap_or_default();
    if config.args.is_empty() {
        return Err(OciError::invalid("process.args", "missing: the command to run"));
    }
    config.env = process.env().clone().unwrap_or_default();
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        return Err(OciError::invalid(
            "process.cwd",
            format!("{:?}: not an absolute path", cwd.display()),
        ));
    }
    config.cwd.clone_from(cwd);
    let user = process.user();
    config.user.uid = user.uid();
    config.user.gid = user.gid();
    config.user.additional_gids = user.additional_gids().clone().unwrap_or_default();
    config.umask = user.umask();
    config.capabilities = capabilities(process)?;
    config.rlimits = rlimits(process)?;
    config.no_new_privileges = process.no_new_privileges().unwrap_or(false);
    config.oom_score_adj = process.oom_score_adj();
    if let Some(value) = config.oom_score_adj.filter(|v| !(-1000..=1000).contains(v)) {
        return Err(OciError::invalid(
            "process.oomScoreAdj",
            format!("{value} is outside -1000..=1000"),
        ));
    }
    // The terminal is made inside the container, as runc makes it, and
    // its master goes to the engine's console socket.
    config.terminal = if process.terminal() == Some(true) {
        Terminal::Console {
            size: console_size(process)?,
        }
    } else {
        Terminal::None
    };
    Ok(())
}

/// The five sets, when given; `None` leaves the process all of root's.
fn capabilities(process: &Process) -> Result<Option<Capabilities>, OciError> {
    let Some(given) = process.capabilities() else {
        return Ok(None);
    };
    let set = |name: &str, caps: &Option<oci_spec::runtime::Capabilities>| {
        caps.iter()
            .flatten()
            .map(|cap| {
                // oci-spec spells them without the prefix (`NET_ADMIN`).
                cap.to_string().parse::<Capability>().map_err(|error| {
                    OciError::unsupported(format!("process.capabilities.{name}"), error.to_string())
                })
            })
            .collect::<Result<BTreeSet<Capability>, OciError>>()
    };
    let capabilities = Capabilities {
        bounding: set("bounding", given.bounding())?,
        effective: set("effective", given.effective())?,
        permitted: set("permitted", given.permitted())?,
        inheritable: set("inheritable", given.inheritable())?,
        ambient: set("ambient", given.ambient())?,
    };
    if let Some((capability, rule)) = capabilities.inconsistency() {
        return Err(OciError::invalid(
            "process.capabilities",
            format!("{capability} {rule}"),
        ));
    }
    Ok(Some(capabilities))
}

/// `process.rlimits`: each type once, the soft limit at most the hard one.
fn rlimits(process: &Process) -> Result<Vec<Rlimit>, OciError> {
    let mut seen = HashSet::new();
    process
        .rlimits()
        .iter()
        .flatten()
        .enumerate()
        .map(|(index, rlimit)| {
            let resource = rlimit_resource(rlimit.typ());
            if !seen.insert(resource) {
                return Err(OciError::invalid(
                    format!("process.rlimits[{index}].type"),
                    format!("{} given twice", rlimit.typ()),
                ));
            }
            if rlimit.soft() > rlimit.hard() {
                return Err(OciError::invalid(
                    format!("process.rlimits[{index}].soft"),
                    format!("{} is over the hard limit {}", rlimit.soft(), rlimit.hard()),
                ));
            }
            Ok(Rlimit {
                resource,
                soft: rlimit.soft(),
                hard: rlimit.hard(),
            })
        })
        .collect()
}

fn rlimit_resource(kind: PosixRlimitType) -> RlimitResource {
    match kind {
        PosixRlimitType::RlimitAs => RlimitResource::As,
        PosixRlimitType::RlimitCore => RlimitResource::Core,
        PosixRlimitType::RlimitCpu => RlimitResource::Cpu,
        PosixRlimitType::RlimitData => RlimitResource::Data,
        PosixRlimitType::RlimitFsize => RlimitResource::Fsize,
        PosixRlimitType::RlimitLocks => RlimitResource::Locks,
        PosixRlimitType::RlimitMemlock => RlimitResource::Memlock,
        PosixRlimitType::RlimitMsgqueue => RlimitResource::Msgqueue,
        PosixRlimitType::RlimitNice => RlimitResource::Nice,
        PosixRlimitType::RlimitNofile => RlimitResource::Nofile,
        PosixRlimitType::RlimitNproc => RlimitResource::Nproc,
        PosixRlimitType::RlimitRss => RlimitResource::Rss,
        PosixRlimitType::RlimitRtprio => RlimitResource::Rtprio,
        PosixRlimitType::RlimitRttime => RlimitResource::Rttime,
        PosixRlimitType::RlimitSigpending => RlimitResource::Sigpending,
        PosixRlimitType::RlimitStack => RlimitResource::Stack,
    }
}

/// `consoleSize` (only read with a terminal: the spec says it is ignored
/// without one).
fn console_size(process: &Process) -> Result<Option<WindowSize>, OciError> {
    let Some(size) = process.console_size() else {
        return Ok(None);
    };
    let fit = |value: u64, field: &str| {
        u16::try_from(value).map_err(|_| {
            OciError::invalid(
                format!("process.consoleSize.{field}"),
                format!("{value} is over {}", u16::MAX),
            )
        })
    };
    Ok(Some(WindowSize {
        rows: fit(size.height(), "height")?,
        cols: fit(size.width(), "width")?,
    }))
}
