//! [`Confinement::Default`] as a config: podman's capability set (and the
//! caller's additions), the seccomp allow list for that set, masked and
//! read-only paths. The cgroup's device allow list goes with it (see
//! [`Command::spawn`](super::Command::spawn)).

use std::collections::BTreeSet;
use std::path::PathBuf;

use cradle_core::confinement::{self, Capabilities, Capability, SeccompProgram};
use cradle_core::Config;

use super::Confinement;
use crate::{seccomp, Error};

/// How a container was confined, for the processes started in it later.
#[derive(Clone, Debug)]
pub(super) struct Confined {
    capabilities: BTreeSet<Capability>,
    seccomp: SeccompProgram,
}

/// Confines a container's init as `confinement` says; how, if at all.
pub(super) fn apply(
    confinement: &Confinement,
    cap_add: &BTreeSet<Capability>,
    config: &mut Config,
) -> Result<Option<Confined>, Error> {
    match confinement {
        Confinement::Privileged => Ok(None),
        Confinement::Default => {
            let capabilities: BTreeSet<Capability> =
                Capability::DEFAULT.iter().chain(cap_add).copied().collect();
            let confined = Confined {
                seccomp: seccomp::compile(&seccomp::default_policy(&capabilities))?,
                capabilities,
            };
            confined.apply_to(config);
            config.masked_paths = confinement::MASKED_PATHS.iter().map(PathBuf::from).collect();
            config.readonly_paths = confinement::READONLY_PATHS.iter().map(PathBuf::from).collect();
            if config.rootfs.is_none() {
                // The host's /sys (a rootfs gets a new one, read-only).
                config.readonly_paths.push(PathBuf::from("/sys"));
            }
            Ok(Some(confined))
        }
    }
}

/// Confines a process started in a container confined as `container` is,
/// with `cap_add` more capabilities; nothing for a privileged container or
/// `Confinement::Privileged`.
pub(super) fn apply_exec(
    container: Option<&Confined>,
    confinement: &Confinement,
    cap_add: &BTreeSet<Capability>,
    config: &mut Config,
) -> Result<(), Error> {
    let Some(container) = container.filter(|_| *confinement == Confinement::Default) else {
        return Ok(());
    };
    if cap_add.is_empty() {
        container.apply_to(config);
        return Ok(());
    }
    let capabilities: BTreeSet<Capability> = container.capabilities.iter().chain(cap_add).copied().collect();
    Confined {
        seccomp: seccomp::compile(&seccomp::default_policy(&capabilities))?,
        capabilities,
    }
    .apply_to(config);
    Ok(())
}

impl Confined {
    fn apply_to(&self, config: &mut Config) {
        config.capabilities = Some(Capabilities::of(self.capabilities.iter().copied()));
        config.seccomp = Some(self.seccomp.clone());
    }
}
