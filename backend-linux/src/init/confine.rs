//! The child's confinement steps: `oom_score_adj`, sysctls, capability
//! sets and the seccomp filter.
//!
//! The order matters, and [`setup`](super::setup) keeps it: the user is
//! changed with `PR_SET_KEEPCAPS`, so the permitted set survives `setuid`;
//! then the bounding set is cut and the other sets are set; the seccomp
//! filter goes on last. Installing a filter without `no_new_privs` takes
//! `CAP_SYS_ADMIN`, so in that case it is kept (permitted and effective)
//! until the filter is in, then dropped: the filter must allow `capset`.

use nix::errno::Errno;

use cradle_core::confinement::{self, Capability};
use cradle_core::{ChildError, ChildStep, Config};

use super::{failed, proc_files, refused};
use crate::sys::{self, CapSets};

/// Whether the seccomp filter needs `CAP_SYS_ADMIN` kept until it is
/// installed: there is one, and `no_new_privs` is not set.
pub(super) fn keeps_admin_for_seccomp(config: &Config) -> bool {
    config.seccomp.is_some() && !config.no_new_privileges
}

/// Whether the change of user must keep the permitted set
/// (`PR_SET_KEEPCAPS`): the capability step or the seccomp step still
/// needs it.
pub(super) fn keeps_caps_across_setuid(config: &Config) -> bool {
    config.capabilities.is_some() || keeps_admin_for_seccomp(config)
}

pub(super) fn oom_score_adj(config: &Config) -> Result<(), ChildError> {
    let Some(value) = config.oom_score_adj else {
        return Ok(());
    };
    proc_files::write_value("self/oom_score_adj", &value.to_string(), ChildStep::OomScoreAdj)
}

/// Writes each sysctl under `/proc/sys`, after checking again that it is
/// namespaced and that its namespace is the container's own.
pub(super) fn sysctls(config: &Config) -> Result<(), ChildError> {
    let step = ChildStep::Sysctls;
    for (key, value) in &config.sysctls {
        confinement::check_sysctl(key, |kind| config.creates(kind))
            .map_err(|e| refused(step, e.to_string()))?;
        proc_files::write_value(&format!("sys/{}", key.replace('.', "/")), value, step)?;
    }
    Ok(())
}

/// Cuts the bounding set to the config's, then sets the effective,
/// permitted and inheritable sets and raises the ambient ones.
/// Capabilities this kernel does not know are left out.
pub(super) fn capabilities(config: &Config) -> Result<(), ChildError> {
    let Some(wanted) = &config.capabilities else {
        return Ok(());
    };
    let step = ChildStep::Capabilities;
    let known = known_capabilities().map_err(failed(step, "PR_CAPBSET_READ"))?;
    let mask = |set: &std::collections::BTreeSet<Capability>| {
        set.iter().map(|cap| 1u64 << cap.number()).fold(0, |a, b| a | b) & known
    };
    let current = sys::capget().map_err(failed(step, "capget"))?;
    // Cutting the bounding set takes CAP_SETPCAP in force; after a change
    // of user the permitted set was kept, but not the effective one.
    sys::capset(CapSets {
        effective: current.permitted,
        ..current
    })
    .map_err(failed(step, "capset (raising the permitted set)"))?;
    let bounding = mask(&wanted.bounding);
    for number in (0..64).filter(|n| known & (1 << n) != 0 && bounding & (1 << n) == 0) {
        sys::capbset_drop(number).map_err(failed(step, format!("PR_CAPBSET_DROP {}", cap_name(number))))?;
    }
    let keep = if keeps_admin_for_seccomp(config) {
        current.permitted & (1 << Capability::SysAdmin.number())
    } else {
        0
    };
    sys::capset(CapSets {
        effective: mask(&wanted.effective) | keep,
        permitted: mask(&wanted.permitted) | keep,
        inheritable: mask(&wanted.inheritable),
    })
    .map_err(failed(step, "capset"))?;
    match sys::ambient_clear_all() {
        // A kernel without ambient capabilities (before 4.3) has none to
        // clear; raising one there is an error below.
        Err(Errno::EINVAL) if wanted.ambient.is_empty() => {}
        result => result.map_err(failed(step, "PR_CAP_AMBIENT_CLEAR_ALL"))?,
    }
    for cap in wanted
        .ambient
        .iter()
        .filter(|cap| known & (1 << cap.number()) != 0)
    {
        sys::ambient_raise(cap.number()).map_err(failed(step, format!("PR_CAP_AMBIENT_RAISE {cap}")))?;
    }
    Ok(())
}

/// The capabilities this kernel knows, as a mask: those the bounding set
/// can be asked about, numbers 0 to the last one, found by bisection (six
/// questions, not one per capability).
fn known_capabilities() -> Result<u64, Errno> {
    let known = |number: u32| match sys::capbset_read(number) {
        Ok(_) => Ok(true),
        Err(Errno::EINVAL) => Ok(false),
        Err(errno) => Err(errno),
    };
    // Every kernel knows capability 0; the last known is in [low, high).
    let (mut low, mut high) = (0u32, 64u32);
    while high - low > 1 {
        let middle = (low + high) / 2;
        if known(middle)? {
            low = middle;
        } else {
            high = middle;
        }
    }
    Ok(u64::MAX >> (63 - low))
}

fn cap_name(number: u32) -> String {
    Capability::ALL
        .get(number as usize)
        .map_or_else(|| format!("capability {number}"), |cap| cap.name().to_owned())
}

/// Installs the config's seccomp filter. Without `no_new_privs` the
/// kernel wants `CAP_SYS_ADMIN` for it, which was kept for this step and
/// is dropped right after.
pub(super) fn seccomp(config: &Config) -> Result<(), ChildError> {
    let Some(program) = &config.seccomp else {
        return Ok(());
    };
    let step = ChildStep::Seccomp;
    let filter = sys::sock_filters(program);
    let keep = keeps_admin_for_seccomp(config);
    let admin = 1u64 << Capability::SysAdmin.number();
    if !keep {
        return sys::seccomp_set_mode_filter(&filter, program.flags)
            .map_err(failed(step, "seccomp(SECCOMP_SET_MODE_FILTER)"));
    }
    let before = sys::capget().map_err(failed(step, "capget"))?;
    let during = CapSets {
        effective: before.effective | (before.permitted & admin),
        ..before
    };
    if during != before {
        sys::capset(during).map_err(failed(
            step,
            "capset (raising CAP_SYS_ADMIN to install the filter)",
        ))?;
    }
    sys::seccomp_set_mode_filter(&filter, program.flags)
        .map_err(failed(step, "seccomp(SECCOMP_SET_MODE_FILTER)"))?;
    // Compared with what is in force now, so that a CAP_SYS_ADMIN raised
    // for the filter is always let go.
    let after = final_sets(config, before);
    if after != during {
        sys::capset(after).map_err(failed(
            step,
            "capset after installing the filter (the profile must allow capset, or set no_new_privileges)",
        ))?;
    }
    Ok(())
}

/// The capability sets the process keeps once `CAP_SYS_ADMIN`, kept for
/// the filter, is let go: the config's, or, without capability sets in
/// the config, none for a user other than root (as `setuid` would have
/// left it) and all for root.
fn final_sets(config: &Config, before: CapSets) -> CapSets {
    let admin = 1u64 << Capability::SysAdmin.number();
    let admin_if = |set: &std::collections::BTreeSet<Capability>| {
        if set.contains(&Capability::SysAdmin) {
            admin
        } else {
            0
        }
    };
    match &config.capabilities {
        Some(wanted) => CapSets {
            effective: (before.effective & !admin) | admin_if(&wanted.effective),
            permitted: (before.permitted & !admin) | admin_if(&wanted.permitted),
            inheritable: before.inheritable,
        },
        None if config.user.uid != 0 => CapSets::default(),
        None => before,
    }
}

#[cfg(test)]
mod tests {
    use cradle_core::confinement::Capabilities;

    use super::*;

    #[test]
    fn cap_sys_admin_raised_for_the_filter_is_let_go_unless_asked_for() {
        let admin = 1u64 << Capability::SysAdmin.number();
        let chown = 1u64 << Capability::Chown.number();
        let mut config = Config::new(["x"]);
        // Permitted but not effective: raised for the filter, then the
        // effective set must lose it again.
        let mut wanted = Capabilities::of([Capability::Chown, Capability::SysAdmin]);
        wanted.effective.remove(&Capability::SysAdmin);
        config.capabilities = Some(wanted);
        let before = CapSets {
            effective: chown,
            permitted: chown | admin,
            inheritable: 0,
        };
        let after = final_sets(&config, before);
        assert_eq!(after.effective, chown);
        assert_eq!(after.permitted, chown | admin);
        // Not asked for at all: gone from both.
        config.capabilities = Some(Capabilities::of([Capability::Chown]));
        let after = final_sets(&config, before);
        assert_eq!((after.effective, after.permitted), (chown, chown));
        // No sets in the config: a user other than root keeps none.
        config.capabilities = None;
        config.user.uid = 1000;
        assert_eq!(final_sets(&config, before), CapSets::default());
    }

    #[test]
    fn the_known_capabilities_are_the_kernels() {
        let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .expect("cap_last_cap")
            .trim()
            .parse()
            .expect("a number");
        let known = known_capabilities().expect("PR_CAPBSET_READ");
        assert_eq!(known.count_ones(), last + 1);
        assert_eq!(known, (1u64 << (last + 1)) - 1);
    }
}
