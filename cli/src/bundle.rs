//! An OCI bundle, as the CLI launches it: the mapping of `cradle-oci`,
//! the seccomp policy compiled (through the cache), and the record that
//! `state`, `start` and `delete` read later.

use std::path::Path;

use cradle_core::{Hook as ChildHook, HookStage, NamespaceKind, Plan};
use cradle_linux::cgroup::{Cgroup, CgroupConfig};
use cradle_oci::{Bundle, Hook};

use crate::confinement::{Recorded, SeccompChoice};
use crate::error::CliError;
use crate::seccomp_cache::Compiler;
use crate::shared_mounts::SharedMounts;
use crate::state::{self, ContainerState, HookRecord, OciRecord, Placement, Stage, Viewpoint};

/// What `create` and `run ID` launch for a bundle.
#[derive(Debug)]
pub(crate) struct BundlePlan {
    pub(crate) plan: Plan,
    pub(crate) cgroup: Option<CgroupConfig>,
    /// Run once the process is set up and recorded, before it is started.
    pub(crate) prestart: Vec<HookRecord>,
    /// The record written before anything exists (stage `creating`).
    pub(crate) record: ContainerState,
}

/// Loads the bundle at `dir` for container `id`; refuses what cradle
/// cannot run before anything exists.
pub(crate) fn load(dir: &Path, id: &str, compiler: &Compiler<'_>) -> Result<BundlePlan, CliError> {
    let dir = std::path::absolute(dir).map_err(CliError::file(dir))?;
    let bundle = Bundle::load(&dir)?;
    for warning in bundle.warnings() {
        tracing::warn!("{warning}");
    }
    let container = bundle.container(id)?;
    let hooks = container.hooks;
    let mut plan = container.plan;
    // Run by the child itself, inside the container's namespaces.
    let in_container = [
        (HookStage::CreateContainer, &hooks.create_container),
        (HookStage::StartContainer, &hooks.start_container),
    ];
    plan.config.hooks = in_container
        .into_iter()
        .flat_map(|(stage, list)| {
            list.iter().map(move |hook| ChildHook {
                stage,
                path: hook.path.clone(),
                args: hook.args.clone(),
                env: hook.env.clone(),
                timeout: hook
                    .timeout
                    .map(|timeout| u32::try_from(timeout.as_secs().max(1)).unwrap_or(u32::MAX)),
            })
        })
        .collect();
    if let Some(capabilities) = plan.config.capabilities.as_mut() {
        drop_unavailable(capabilities);
    }
    let seccomp = match &container.seccomp {
        Some(policy) => {
            plan.config.seccomp = Some(compiler.compile(policy)?);
            SeccompChoice::Profile {
                profile: serde_json::to_value(policy).unwrap_or_default(),
            }
        }
        None => SeccompChoice::Unconfined,
    };
    let confinement = Recorded {
        privileged: plan.config.capabilities.is_none(),
        capabilities: plan
            .config
            .capabilities
            .as_ref()
            .map(|caps| caps.bounding.clone())
            .unwrap_or_default(),
        seccomp,
        no_new_privileges: plan.config.no_new_privileges,
    };
    let placement = container.cgroup.as_ref().map(|cgroup| Placement {
        name: cgroup.name.clone(),
        parent: cgroup.parent.clone(),
    });
    let cgroup_paths = container
        .cgroup
        .as_ref()
        .map(Cgroup::planned)
        .transpose()
        .map_err(|error| CliError::Backend(error.into()))?;
    plan.cgroup = container.cgroup.is_some();
    let namespaces: Vec<NamespaceKind> = plan.config.new_namespaces().collect();
    let record = ContainerState {
        id: id.to_owned(),
        stage: Stage::Creating,
        pid: 0,
        start_time: 0,
        created: state::now_rfc3339(),
        command: plan.config.args.clone(),
        rootfs: plan.config.rootfs.clone(),
        hostname: plan.config.hostname.clone(),
        namespaces,
        cgroup: cgroup_paths,
        interfaces: Vec::new(),
        detached: true,
        supervisor: None,
        confinement,
        oci: Some(OciRecord {
            bundle: dir,
            annotations: bundle.annotations(),
            placement: placement.unwrap_or(Placement {
                name: format!("cradle-{id}"),
                parent: None,
            }),
            poststart: records(&hooks.poststart),
            poststop: records(&hooks.poststop),
        }),
        shared_mounts: SharedMounts::planned(&plan.config)?,
        written_from: Viewpoint::own(),
    };
    if !plan.config.hooks.is_empty() {
        // The child adds its pid and status.
        let mut document = document_as(&record, state::Status::Creating);
        if let Some(fields) = document.as_object_mut() {
            fields.remove("status");
            fields.remove("pid");
        }
        plan.config.hook_state = Some(document.to_string());
    }
    let prestart = records(&hooks.prestart)
        .into_iter()
        .chain(records(&hooks.create_runtime))
        .collect();
    Ok(BundlePlan {
        plan,
        cgroup: container.cgroup,
        prestart,
        record,
    })
}

fn records(hooks: &[Hook]) -> Vec<HookRecord> {
    hooks
        .iter()
        .map(|hook| HookRecord {
            path: hook.path.clone(),
            args: hook.args.clone(),
            env: hook.env.clone(),
            timeout_secs: hook.timeout.map(|timeout| timeout.as_secs().max(1)),
        })
        .collect()
}

/// The OCI state document of `state` (the spec's fields, with `paused`
/// as runc reports a frozen container).
pub(crate) fn state_document(state: &ContainerState) -> serde_json::Value {
    document_as(state, state.status())
}

/// The state document of `state` at `status`: what a hook of that stage
/// is told, whatever the process has done since (a `poststart` hook of a
/// command that has exited already still runs after a start).
pub(crate) fn document_as(state: &ContainerState, status: state::Status) -> serde_json::Value {
    let mut document = serde_json::json!({
        "ociVersion": cradle_oci::OCI_VERSION,
        "id": state.id,
        "status": status.as_str(),
        "bundle": state.oci.as_ref().map(|oci| oci.bundle.clone()).unwrap_or_default(),
    });
    if !matches!(status, state::Status::Stopped | state::Status::Creating) && state.pid > 0 {
        document["pid"] = state.pid.into();
    }
    if let Some(oci) = state.oci.as_ref().filter(|oci| !oci.annotations.is_empty()) {
        document["annotations"] = serde_json::to_value(&oci.annotations).unwrap_or_default();
    }
    document
}

/// Takes out of every set the capabilities this process's own bounding
/// set lacks, warning for each: no process of the container could hold
/// them, and a bundle that asks for "all" (as a privileged one does) gets
/// all the host has, as docker's `--privileged` does. Unreadable, nothing
/// is taken out (the launch then fails at the capability step if it must).
pub(crate) fn drop_unavailable(capabilities: &mut cradle_core::confinement::Capabilities) {
    // Each asked about once, whatever the sets that name it.
    let lacking: std::collections::BTreeSet<_> = capabilities
        .bounding
        .iter()
        .chain(&capabilities.permitted)
        .chain(&capabilities.effective)
        .chain(&capabilities.inheritable)
        .chain(&capabilities.ambient)
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|cap| !cradle_linux::bounding_set::holds(*cap).unwrap_or(true))
        .collect();
    let available = |cap: &cradle_core::confinement::Capability| !lacking.contains(cap);
    for cap in &lacking {
        tracing::warn!("process.capabilities: {cap} is not in this runtime's bounding set; left out");
    }
    for set in [
        &mut capabilities.bounding,
        &mut capabilities.permitted,
        &mut capabilities.effective,
        &mut capabilities.inheritable,
        &mut capabilities.ambient,
    ] {
        set.retain(available);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use cradle_core::confinement::{Capabilities, Capability};

    /// Every set keeps exactly the capabilities in `CapBnd` of this
    /// process's status.
    #[test]
    fn capabilities_outside_the_own_bounding_set_are_left_out() {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix("CapBnd:"))
            .expect("CapBnd");
        let own = u64::from_str_radix(line.trim(), 16).expect("hex");
        let all: BTreeSet<Capability> = Capability::ALL.iter().copied().collect();
        let mut capabilities = Capabilities {
            bounding: all.clone(),
            effective: all.clone(),
            permitted: all.clone(),
            inheritable: all.clone(),
            ambient: all.clone(),
        };
        super::drop_unavailable(&mut capabilities);
        let held: BTreeSet<Capability> = all
            .into_iter()
            .filter(|cap| own & (1u64 << cap.number()) != 0)
            .collect();
        assert!(!held.is_empty());
        for set in [
            &capabilities.bounding,
            &capabilities.effective,
            &capabilities.permitted,
            &capabilities.inheritable,
            &capabilities.ambient,
        ] {
            assert_eq!(set, &held);
        }
    }
}
