//! CPU time (quota, weight, real-time budget) and CPU placement (cpuset).

use super::{Refusal, Resources, Setting};

/// v1: the period before the quota, as the kernel checks the quota against
/// it; shares (given, or converted from a weight); the real-time period
/// before the runtime, for the same reason.
pub(super) fn v1(resources: &Resources) -> Result<Vec<Setting>, Refusal> {
    let mut settings = Vec::new();
    if let Some(period) = resources.cpu_period_us {
        settings.push(Setting::new(
            "cpu_period_us",
            "cpu.cfs_period_us",
            valid_period(period, "cpu.cfs_period_us")?,
        ));
    }
    if let Some(quota) = resources.cpu_quota_us {
        let quota = valid_quota(quota, "cpu.cfs_quota_us")?.map_or(-1, i64::from);
        settings.push(Setting::new("cpu_quota_us", "cpu.cfs_quota_us", quota));
    }
    if let Some((limit, shares)) = shares(resources, "cpu.shares")? {
        settings.push(Setting::new(limit, "cpu.shares", shares));
    }
    if let Some(period) = resources.cpu_rt_period_us {
        settings.push(Setting::new(
            "cpu_rt_period_us",
            "cpu.rt_period_us",
            valid_period(period, "cpu.rt_period_us")?,
        ));
    }
    if let Some(runtime) = resources.cpu_rt_runtime_us {
        if runtime < -1 {
            return Err(Refusal::invalid(
                "cpu.rt_runtime_us",
                runtime,
                "a real-time runtime is a number of microseconds, or -1 for no limit",
            ));
        }
        settings.push(Setting::new("cpu_rt_runtime_us", "cpu.rt_runtime_us", runtime));
    }
    Ok(settings)
}

/// cgroup2: `cpu.max` is "quota period" with `max` for no quota; the period
/// alone keeps the quota unlimited. Shares become a weight. cgroup2 has no
/// real-time budget per cgroup: those limits are refused.
pub(super) fn v2(resources: &Resources) -> Result<Vec<Setting>, Refusal> {
    if resources.cpu_rt_runtime_us.is_some() || resources.cpu_rt_period_us.is_some() {
        let limit = if resources.cpu_rt_runtime_us.is_some() {
            "cpu_rt_runtime_us"
        } else {
            "cpu_rt_period_us"
        };
        return Err(Refusal::Unsupported {
            limit,
            reason: "cgroup2 has no real-time budget per cgroup (cpu.rt_* is v1 only)",
        });
    }
    let mut settings = Vec::new();
    let quota = match resources.cpu_quota_us {
        Some(quota) => valid_quota(quota, "cpu.max")?.map(|q| q.to_string()),
        None => None,
    };
    let quota = quota.unwrap_or_else(|| "max".to_owned());
    let limit = if resources.cpu_quota_us.is_some() {
        "cpu_quota_us"
    } else {
        "cpu_period_us"
    };
    match resources.cpu_period_us {
        Some(period) => {
            let period = valid_period(period, "cpu.max")?;
            settings.push(Setting::new(limit, "cpu.max", format!("{quota} {period}")));
        }
        None if resources.cpu_quota_us.is_some() => settings.push(Setting::new(limit, "cpu.max", quota)),
        None => {}
    }
    if let Some(weight) = resources.cpu_weight {
        if resources.cpu_shares.is_some() {
            return Err(both_weight_and_shares("cpu.weight", weight));
        }
        settings.push(Setting::new(
            "cpu_weight",
            "cpu.weight",
            valid_weight(weight, "cpu.weight")?,
        ));
    } else if let Some(shares) = resources.cpu_shares {
        let weight = shares_to_weight(valid_shares(shares, "cpu.weight")?);
        settings.push(Setting::new("cpu_shares", "cpu.weight", weight));
    }
    Ok(settings)
}

/// Both versions: the CPUs, then the memory nodes, as the kernel lists
/// them. A new v1 cpuset starts with its parent's (see `manager`), so these
/// narrow it.
pub(super) fn cpuset(resources: &Resources) -> Result<Vec<Setting>, Refusal> {
    let mut settings = Vec::new();
    if let Some(cpus) = &resources.cpuset_cpus {
        settings.push(Setting::new(
            "cpuset_cpus",
            "cpuset.cpus",
            valid_list(cpus, "cpuset.cpus")?,
        ));
    }
    if let Some(mems) = &resources.cpuset_mems {
        settings.push(Setting::new(
            "cpuset_mems",
            "cpuset.mems",
            valid_list(mems, "cpuset.mems")?,
        ));
    }
    Ok(settings)
}

/// v1 shares, from `cpu_shares` or converted from `cpu_weight`; with the
/// field it came from.
fn shares(resources: &Resources, file: &'static str) -> Result<Option<(&'static str, u64)>, Refusal> {
    match (resources.cpu_weight, resources.cpu_shares) {
        (Some(weight), Some(_)) => Err(both_weight_and_shares(file, weight)),
        (Some(weight), None) => Ok(Some((
            "cpu_weight",
            weight_to_shares(valid_weight(weight, file)?),
        ))),
        (None, Some(shares)) => Ok(Some(("cpu_shares", valid_shares(shares, file)?))),
        (None, None) => Ok(None),
    }
}

fn both_weight_and_shares(file: &'static str, weight: u64) -> Refusal {
    Refusal::invalid(
        file,
        weight,
        "cpu_weight and cpu_shares say the same thing: give one of them",
    )
}

/// A quota is positive, or -1 for none (`None` here).
fn valid_quota(quota: i64, file: &'static str) -> Result<Option<u32>, Refusal> {
    match quota {
        -1 => Ok(None),
        _ => u32::try_from(quota)
            .ok()
            .filter(|q| *q > 0)
            .map(Some)
            .ok_or_else(|| {
                Refusal::invalid(
                    file,
                    quota,
                    "a CPU quota is a positive number of microseconds (at most 2^32-1), or -1 for none",
                )
            }),
    }
}

fn valid_period(period: u64, file: &'static str) -> Result<u64, Refusal> {
    if period == 0 {
        return Err(Refusal::invalid(
            file,
            period,
            "a CPU period is a positive number of microseconds",
        ));
    }
    Ok(period)
}

fn valid_weight(weight: u64, file: &'static str) -> Result<u64, Refusal> {
    if !(1..=10_000).contains(&weight) {
        return Err(Refusal::invalid(file, weight, "a CPU weight is in 1..=10000"));
    }
    Ok(weight)
}

fn valid_shares(shares: u64, file: &'static str) -> Result<u64, Refusal> {
    if !(2..=262_144).contains(&shares) {
        return Err(Refusal::invalid(file, shares, "CPU shares are in 2..=262144"));
    }
    Ok(shares)
}

/// A CPU or memory-node list as the kernel writes it: numbers and ranges,
/// comma-separated (`0-3,8`). The kernel checks that they exist and lie
/// within the parent's.
fn valid_list<'a>(list: &'a str, file: &'static str) -> Result<&'a str, Refusal> {
    let well_formed = !list.is_empty()
        && list.split(',').all(|item| {
            let mut bounds = item.splitn(2, '-');
            bounds.all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
    if !well_formed {
        return Err(Refusal::invalid(
            file,
            list,
            "a cpuset list is numbers and ranges separated by commas, such as 0-3,8",
        ));
    }
    Ok(list)
}

/// The inverse of the shares-to-weight mapping that runc, crun and systemd
/// share: weight 1 is 2 shares, 100 is about the default 1024, 10000 is
/// 262144.
fn weight_to_shares(weight: u64) -> u64 {
    2 + (weight - 1) * 262_142 / 9_999
}

/// The shares-to-weight mapping of runc, crun and systemd: 2 shares are
/// weight 1, 262144 are 10000, the default 1024 is 39.
fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares - 2) * 9_999 / 262_142
}

#[cfg(test)]
mod tests {
    use super::super::tests::{pairs, rendered};
    use super::super::{Controller, Refusal, Resources};
    use super::*;
    use crate::cgroup::Version;

    fn refused_file(resources: &Resources, controller: Controller, version: Version) -> String {
        match resources.settings(controller, version) {
            Err(Refusal::Invalid { file, .. }) => file,
            other => panic!("{resources:?} in {version:?}: {other:?}"),
        }
    }

    #[test]
    fn cpu_quota_period_and_weight_in_each_format() {
        let resources = Resources {
            cpu_quota_us: Some(50_000),
            cpu_period_us: Some(100_000),
            cpu_weight: Some(100),
            ..Resources::default()
        };
        assert_eq!(
            rendered(&resources, Controller::Cpu, Version::V1),
            pairs(&[
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.shares", "2597")
            ])
        );
        assert_eq!(
            rendered(&resources, Controller::Cpu, Version::V2),
            pairs(&[("cpu.max", "50000 100000"), ("cpu.weight", "100")])
        );
    }

    #[test]
    fn cpu_without_quota_or_period() {
        let unlimited = Resources {
            cpu_quota_us: Some(-1),
            ..Resources::default()
        };
        assert_eq!(
            rendered(&unlimited, Controller::Cpu, Version::V1),
            pairs(&[("cpu.cfs_quota_us", "-1")])
        );
        assert_eq!(
            rendered(&unlimited, Controller::Cpu, Version::V2),
            pairs(&[("cpu.max", "max")])
        );
        let period_only = Resources {
            cpu_period_us: Some(20_000),
            ..Resources::default()
        };
        assert_eq!(
            rendered(&period_only, Controller::Cpu, Version::V2),
            pairs(&[("cpu.max", "max 20000")])
        );
    }

    #[test]
    fn shares_as_shares_on_v1_and_as_a_weight_on_cgroup2() {
        let resources = Resources {
            cpu_shares: Some(1024),
            ..Resources::default()
        };
        assert_eq!(
            rendered(&resources, Controller::Cpu, Version::V1),
            pairs(&[("cpu.shares", "1024")])
        );
        assert_eq!(
            rendered(&resources, Controller::Cpu, Version::V2),
            pairs(&[("cpu.weight", "39")])
        );
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        let both = Resources {
            cpu_shares: Some(1024),
            cpu_weight: Some(100),
            ..Resources::default()
        };
        assert_eq!(refused_file(&both, Controller::Cpu, Version::V1), "cpu.shares");
        assert_eq!(refused_file(&both, Controller::Cpu, Version::V2), "cpu.weight");
    }

    #[test]
    fn real_time_period_before_runtime_on_v1_and_refused_on_cgroup2() {
        let resources = Resources {
            cpu_rt_runtime_us: Some(10_000),
            cpu_rt_period_us: Some(100_000),
            ..Resources::default()
        };
        assert_eq!(
            rendered(&resources, Controller::Cpu, Version::V1),
            pairs(&[("cpu.rt_period_us", "100000"), ("cpu.rt_runtime_us", "10000")])
        );
        match resources.settings(Controller::Cpu, Version::V2) {
            Err(Refusal::Unsupported { limit, .. }) => assert_eq!(limit, "cpu_rt_runtime_us"),
            other => panic!("{other:?}"),
        }
        let negative = Resources {
            cpu_rt_runtime_us: Some(-2),
            ..Resources::default()
        };
        assert_eq!(
            refused_file(&negative, Controller::Cpu, Version::V1),
            "cpu.rt_runtime_us"
        );
    }

    #[test]
    fn weight_and_shares_map_onto_each_others_whole_range() {
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
    }

    #[test]
    fn out_of_range_cpu_values_are_refused() {
        let base = Resources::default;
        let cases = [
            (
                Resources {
                    cpu_weight: Some(0),
                    ..base()
                },
                "cpu.weight",
            ),
            (
                Resources {
                    cpu_weight: Some(10_001),
                    ..base()
                },
                "cpu.weight",
            ),
            (
                Resources {
                    cpu_shares: Some(1),
                    ..base()
                },
                "cpu.weight",
            ),
            (
                Resources {
                    cpu_shares: Some(262_145),
                    ..base()
                },
                "cpu.weight",
            ),
            (
                Resources {
                    cpu_quota_us: Some(0),
                    ..base()
                },
                "cpu.max",
            ),
            (
                Resources {
                    cpu_quota_us: Some(-2),
                    ..base()
                },
                "cpu.max",
            ),
            (
                Resources {
                    cpu_period_us: Some(0),
                    ..base()
                },
                "cpu.max",
            ),
        ];
        for (resources, file) in cases {
            assert_eq!(refused_file(&resources, Controller::Cpu, Version::V2), file);
            assert!(
                resources.settings(Controller::Cpu, Version::V1).is_err(),
                "{resources:?}"
            );
        }
    }

    #[test]
    fn cpusets_are_the_same_in_both_formats_and_well_formed() {
        let resources = Resources {
            cpuset_cpus: Some("0-1,3".to_owned()),
            cpuset_mems: Some("0".to_owned()),
            ..Resources::default()
        };
        for version in [Version::V1, Version::V2] {
            assert_eq!(
                rendered(&resources, Controller::Cpuset, version),
                pairs(&[("cpuset.cpus", "0-1,3"), ("cpuset.mems", "0")])
            );
        }
        for bad in ["", "a", "0-", "-1", "1,,2", "0 1", "0-1-2"] {
            let resources = Resources {
                cpuset_cpus: Some(bad.to_owned()),
                ..Resources::default()
            };
            assert_eq!(
                refused_file(&resources, Controller::Cpuset, Version::V1),
                "cpuset.cpus",
                "{bad:?}"
            );
        }
    }
}
