//! `linux.resources` as the cgroup's [`Resources`]: limits converted to
//! what each field means there, and the device rules in the order runc
//! applies them.
//!
//! As runc does, a zero or `-1` limit is no limit (the field is left
//! unset), except where the spec gives zero a meaning.
//! `memory.checkBeforeUpdate` is about updating a running container's
//! limit, which cradle does not do: at creation it means nothing, and is
//! ignored.

use cradle_core::confinement::{DeviceKind, DeviceNode};
use cradle_linux::cgroup::{DeviceAccess, DeviceRule, DeviceType, Resources};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

use crate::linux::device_number;
use crate::OciError;

/// The cgroup limits of `linux.resources`, and the device rules for it and
/// for the nodes of `linux.devices` (`nodes`).
pub(crate) fn resources(spec: &Spec, nodes: &[DeviceNode]) -> Result<Resources, OciError> {
    let given = spec.linux().as_ref().and_then(|linux| linux.resources().as_ref());
    let mut resources = Resources::default();
    if let Some(given) = given {
        memory(given, &mut resources)?;
        cpu(given, &mut resources)?;
        others(given, &mut resources)?;
    }
    resources.devices = device_rules(given, nodes)?;
    Ok(resources)
}

/// A byte count: positive, or `-1`/`0` for none.
fn bytes(value: Option<i64>, path: &str) -> Result<Option<u64>, OciError> {
    match value {
        None | Some(-1) | Some(0) => Ok(None),
        Some(positive) if positive > 0 => Ok(Some(positive as u64)),
        Some(other) => Err(OciError::invalid(
            path,
            format!("{other}: a number of bytes, or -1 for no limit"),
        )),
    }
}

/// `memory`. The spec's `swap` is memory plus swap (v1's `memsw`);
/// `memory_swap_max` is the swap alone, so the memory limit is taken off,
/// and a swap limit needs a memory limit no greater than it.
fn memory(given: &LinuxResources, resources: &mut Resources) -> Result<(), OciError> {
    let Some(memory) = given.memory() else {
        return Ok(());
    };
    let path = |field: &str| format!("linux.resources.memory.{field}");
    resources.memory_max = bytes(memory.limit(), &path("limit"))?;
    resources.memory_reservation = bytes(memory.reservation(), &path("reservation"))?;
    // `kernel` is deprecated (runtime-spec 1.1: runtimes may ignore it),
    // and kernels since 6.1 take the value without enforcing it: checked
    // for form, then ignored, as runc and crun do.
    bytes(memory.kernel(), &path("kernel"))?;
    resources.memory_kernel_tcp = bytes(memory.kernel_tcp(), &path("kernelTCP"))?;
    if let Some(memory_and_swap) = bytes(memory.swap(), &path("swap"))? {
        let Some(limit) = resources.memory_max else {
            return Err(OciError::invalid(
                path("swap"),
                "a swap limit (memory + swap) needs a memory limit",
            ));
        };
        let swap = memory_and_swap.checked_sub(limit).ok_or_else(|| {
            OciError::invalid(
                path("swap"),
                format!("{memory_and_swap} is memory + swap: it cannot be below the memory limit {limit}"),
            )
        })?;
        resources.memory_swap_max = Some(swap);
    }
    if let Some(swappiness) = memory.swappiness() {
        if swappiness > 100 {
            return Err(OciError::invalid(
                path("swappiness"),
                format!("{swappiness} is outside 0..=100"),
            ));
        }
        resources.memory_swappiness = Some(swappiness);
    }
    resources.oom_kill_disable = memory.disable_oom_killer();
    Ok(())
}

/// `cpu`: shares, the CFS quota and period, the real-time runtime and
/// period, the cpuset.
fn cpu(given: &LinuxResources, resources: &mut Resources) -> Result<(), OciError> {
    let Some(cpu) = given.cpu() else {
        return Ok(());
    };
    let nonzero = |value: Option<u64>| value.filter(|v| *v != 0);
    resources.cpu_shares = nonzero(cpu.shares());
    resources.cpu_quota_us = match cpu.quota() {
        None | Some(0) => None,
        Some(quota) if quota > 0 || quota == -1 => Some(quota),
        Some(other) => {
            return Err(OciError::invalid(
                "linux.resources.cpu.quota",
                format!("{other}: a number of microseconds, or -1 for no limit"),
            ))
        }
    };
    resources.cpu_period_us = nonzero(cpu.period());
    resources.cpu_rt_runtime_us = cpu.realtime_runtime().filter(|runtime| *runtime != 0);
    resources.cpu_rt_period_us = nonzero(cpu.realtime_period());
    let text = |value: &Option<String>| value.as_ref().filter(|v| !v.is_empty()).cloned();
    resources.cpuset_cpus = text(cpu.cpus());
    resources.cpuset_mems = text(cpu.mems());
    Ok(())
}

/// `pids`, `blockIO.weight`, `hugepageLimits`, `network`.
fn others(given: &LinuxResources, resources: &mut Resources) -> Result<(), OciError> {
    resources.pids_max = given
        .pids()
        .as_ref()
        .map(|pids| pids.limit())
        .filter(|limit| *limit > 0)
        .map(|limit| limit as u64);
    if let Some(weight) = given.block_io().as_ref().and_then(|io| io.weight()) {
        if !(10..=1000).contains(&weight) {
            return Err(OciError::invalid(
                "linux.resources.blockIO.weight",
                format!("{weight} is outside 10..=1000"),
            ));
        }
        resources.blkio_weight = Some(weight);
    }
    for (index, limit) in given.hugepage_limits().iter().flatten().enumerate() {
        let path = format!("linux.resources.hugepageLimits[{index}]");
        if limit.page_size().is_empty() {
            return Err(OciError::invalid(format!("{path}.pageSize"), "empty"));
        }
        let bytes = u64::try_from(limit.limit()).map_err(|_| {
            OciError::invalid(format!("{path}.limit"), format!("{} is negative", limit.limit()))
        })?;
        resources.hugetlb.push((limit.page_size().clone(), bytes));
    }
    if let Some(network) = given.network() {
        resources.net_cls_classid = network.class_id();
        resources.net_prio = network
            .priorities()
            .iter()
            .flatten()
            .map(|priority| (priority.name().clone(), priority.priority()))
            .collect();
    }
    Ok(())
}

/// The bundle's `linux.resources.devices` rules in order, then, as runc
/// appends them, cradle's standard allows (the allow rules of
/// [`DeviceRule::container_default`]: null, zero, full, random, urandom,
/// tty, console, ptmx, pts), then an allow rule for each node of
/// `linux.devices`. `None` without rules of the bundle's: allows alone
/// change nothing, as the cgroup inherits its parent's access.
fn device_rules(
    given: Option<&LinuxResources>,
    nodes: &[DeviceNode],
) -> Result<Option<Vec<DeviceRule>>, OciError> {
    let bundle_rules = given.and_then(|g| g.devices().as_deref()).unwrap_or_default();
    if bundle_rules.is_empty() {
        return Ok(None);
    }
    let mut rules = bundle_rules
        .iter()
        .enumerate()
        .map(|(index, rule)| device_rule(rule, &format!("linux.resources.devices[{index}]")))
        .collect::<Result<Vec<_>, _>>()?;
    rules.extend(
        DeviceRule::container_default()
            .into_iter()
            .filter(|rule| rule.allow),
    );
    // A FIFO is no device the cgroup governs.
    rules.extend(
        nodes
            .iter()
            .filter_map(|node| {
                let kind = match node.kind {
                    DeviceKind::Char => DeviceType::Char,
                    DeviceKind::Block => DeviceType::Block,
                    DeviceKind::Fifo => return None,
                };
                Some((node, kind))
            })
            .map(|(node, kind)| DeviceRule {
                allow: true,
                kind,
                major: Some(node.major),
                minor: Some(node.minor),
                access: DeviceAccess::ALL,
            }),
    );
    Ok(Some(rules))
}

/// One rule: type `a` (the default), `c`, `b` (or `u`, a character
/// device); a number left out (or `-1`) is any; access `rwm` by default. An
/// `a` rule covers every device and access, so it may not name numbers or
/// fewer accesses.
fn device_rule(rule: &LinuxDeviceCgroup, path: &str) -> Result<DeviceRule, OciError> {
    let kind = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A => DeviceType::All,
        LinuxDeviceType::C | LinuxDeviceType::U => DeviceType::Char,
        LinuxDeviceType::B => DeviceType::Block,
        LinuxDeviceType::P => {
            return Err(OciError::invalid(
                format!("{path}.type"),
                "\"p\": a device rule covers a, c or b devices",
            ))
        }
    };
    let number = |value: Option<i64>, field: &str| match value {
        None | Some(-1) => Ok(None),
        Some(number) => device_number(number, &format!("{path}.{field}")).map(Some),
    };
    let access = match rule.access().as_deref().filter(|a| !a.is_empty()) {
        None => DeviceAccess::ALL,
        Some(access) => access
            .parse()
            .map_err(|error| OciError::invalid(format!("{path}.access"), format!("{error}")))?,
    };
    let rule = DeviceRule {
        allow: rule.allow(),
        kind,
        major: number(rule.major(), "major")?,
        minor: number(rule.minor(), "minor")?,
        access,
    };
    if kind == DeviceType::All && (rule.major.is_some() || rule.minor.is_some()) {
        return Err(OciError::invalid(
            path,
            "an \"a\" rule covers every device: it names no major or minor number",
        ));
    }
    if kind == DeviceType::All && access != DeviceAccess::ALL {
        return Err(OciError::invalid(
            format!("{path}.access"),
            format!("{access}: an \"a\" rule covers every access (rwm)"),
        ));
    }
    Ok(rule)
}
