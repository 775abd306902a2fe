//! Resource limits, rendered in each version's file format.
//!
//! Pure: which files to write, with what, in which order. A limit goes to
//! the v1 hierarchy that has its controller, else to the v2 directory.
//! [`HumanSize`] writes a memory limit for people.

use std::fmt;

use super::devices::{self, DeviceRule};
use super::hierarchy::Version;

/// Resource limits, each written in the hierarchy's own format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Hard memory limit, bytes.
    pub memory_max: Option<u64>,
    /// Swap limit, bytes (v2 `memory.swap.max`; v1 memsw = memory + swap).
    pub memory_swap_max: Option<u64>,
    /// Most processes.
    pub pids_max: Option<u64>,
    /// CPU quota per period, microseconds; -1 for none.
    pub cpu_quota_us: Option<i64>,
    /// CPU period, microseconds.
    pub cpu_period_us: Option<u64>,
    /// CPU weight, 1..=10000 (v1 shares are converted).
    pub cpu_weight: Option<u64>,
    /// Memory soft limit, bytes (v1 `memory.soft_limit_in_bytes`, v2
    /// `memory.low`).
    pub memory_reservation: Option<u64>,
    /// Swappiness, 0..=100 (v1 `memory.swappiness`; cgroup2 has none).
    pub memory_swappiness: Option<u64>,
    /// Kernel memory limit, bytes (v1 `memory.kmem.limit_in_bytes`, where
    /// the kernel still has it).
    pub memory_kernel: Option<u64>,
    /// Kernel TCP buffer limit, bytes (v1 `memory.kmem.tcp.limit_in_bytes`).
    pub memory_kernel_tcp: Option<u64>,
    /// Keep the OOM killer away from the cgroup's processes (v1
    /// `memory.oom_control`); they wait for memory instead.
    pub oom_kill_disable: Option<bool>,
    /// CPU shares, 2..=262144 (v1 `cpu.shares`; converted to `cpu.weight`
    /// on cgroup2).
    pub cpu_shares: Option<u64>,
    /// Real-time runtime per period, microseconds (v1 `cpu.rt_runtime_us`).
    pub cpu_rt_runtime_us: Option<i64>,
    /// Real-time period, microseconds (v1 `cpu.rt_period_us`).
    pub cpu_rt_period_us: Option<u64>,
    /// CPUs the processes may run on, as the kernel lists them (`0-1,3`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the processes may use (`0`).
    pub cpuset_mems: Option<String>,
    /// Block I/O weight, 10..=1000 (v1 `blkio.weight` or
    /// `blkio.bfq.weight`; v2 `io.weight` or `io.bfq.weight`).
    pub blkio_weight: Option<u16>,
    /// Huge page limits: page size as the kernel names it (`2MB`, `1GB`),
    /// bytes.
    pub hugetlb: Vec<(String, u64)>,
    /// The `net_cls` class id of the cgroup's sockets.
    pub net_cls_classid: Option<u32>,
    /// `net_prio` priorities per interface.
    pub net_prio: Vec<(String, u32)>,
    /// Device rules, applied in order (see
    /// [`DeviceRule::container_default`]); `None` leaves the cgroup's
    /// device access as it inherits it. v1 writes them to `devices.allow`
    /// and `devices.deny`; v2 attaches a `BPF_CGROUP_DEVICE` program.
    pub devices: Option<Vec<DeviceRule>>,
}

/// A size in bytes as people read it, in powers of 1024 (as `--memory`
/// takes it): `4 KiB`, `64 MiB`; to a tenth where it is not a whole
/// number of the unit (`1.5 GiB`), and in bytes below 1 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanSize(pub u64);

impl fmt::Display for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        let bytes = u128::from(self.0);
        if bytes < 1024 {
            return write!(f, "{bytes} bytes");
        }
        // The largest unit it is at least one of, and one up where the
        // tenths round to 1024 of it: "1.0 MiB", not "1024.0 KiB".
        let mut index = (bytes.ilog2() / 10 - 1) as usize;
        loop {
            let unit = 1u128 << (10 * (index + 1));
            if bytes % unit == 0 {
                return write!(f, "{} {}", bytes / unit, UNITS[index]);
            }
            let tenths = (bytes * 10 + unit / 2) / unit;
            if tenths < 10 * 1024 || index + 1 == UNITS.len() {
                return write!(f, "{}.{} {}", tenths / 10, tenths % 10, UNITS[index]);
            }
            index += 1;
        }
    }
}

/// A controller that [`Resources`] can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Controller {
    Memory,
    Pids,
    Cpu,
    Devices,
}

impl Controller {
    pub(crate) const ALL: [Controller; 4] = [
        Controller::Memory,
        Controller::Pids,
        Controller::Cpu,
        Controller::Devices,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
            Controller::Devices => "devices",
        }
    }
}

/// One file to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    pub(crate) file: &'static str,
    pub(crate) value: String,
}

/// A limit that the format cannot express.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InvalidLimit {
    pub(crate) file: &'static str,
    pub(crate) value: String,
    pub(crate) reason: &'static str,
}

impl Resources {
    /// Whether any limit needs `controller`.
    pub(crate) fn needs(&self, controller: Controller) -> bool {
        match controller {
            Controller::Memory => self.memory_max.is_some() || self.memory_swap_max.is_some(),
            Controller::Pids => self.pids_max.is_some(),
            Controller::Cpu => {
                self.cpu_quota_us.is_some() || self.cpu_period_us.is_some() || self.cpu_weight.is_some()
            }
            Controller::Devices => self.devices.is_some(),
        }
    }

    /// The files to write, in order, for `controller` in `version`'s format
    /// (none for v2 devices: a program is attached instead). Device rules
    /// are checked apart, by [`devices::validate`].
    pub(crate) fn settings(
        &self,
        controller: Controller,
        version: Version,
    ) -> Result<Vec<Setting>, InvalidLimit> {
        match (controller, version) {
            (Controller::Memory, Version::V1) => self.memory_v1(),
            (Controller::Memory, Version::V2) => Ok(self.memory_v2()),
            (Controller::Pids, _) => Ok(self
                .pids_max
                .map(|max| setting("pids.max", max))
                .into_iter()
                .collect()),
            (Controller::Cpu, Version::V1) => self.cpu_v1(),
            (Controller::Cpu, Version::V2) => self.cpu_v2(),
            (Controller::Devices, Version::V1) => Ok(self
                .devices
                .as_deref()
                .map(devices::v1_settings)
                .unwrap_or_default()),
            (Controller::Devices, Version::V2) => Ok(Vec::new()),
        }
    }

    /// v1 limits memory and memory+swap (`memsw`); the memory limit goes
    /// first, since memsw may never be below it.
    fn memory_v1(&self) -> Result<Vec<Setting>, InvalidLimit> {
        let mut settings: Vec<Setting> = self
            .memory_max
            .map(|max| setting("memory.limit_in_bytes", max))
            .into_iter()
            .collect();
        if let Some(swap) = self.memory_swap_max {
            let Some(memory) = self.memory_max else {
                return Err(InvalidLimit {
                    file: "memory.memsw.limit_in_bytes",
                    value: swap.to_string(),
                    reason: "v1 limits memory and swap together: a swap limit needs memory_max",
                });
            };
            settings.push(setting(
                "memory.memsw.limit_in_bytes",
                memory.saturating_add(swap),
            ));
        }
        Ok(settings)
    }

    fn memory_v2(&self) -> Vec<Setting> {
        let max = self.memory_max.map(|max| setting("memory.max", max));
        let swap = self.memory_swap_max.map(|max| setting("memory.swap.max", max));
        max.into_iter().chain(swap).collect()
    }

    /// v1: the period before the quota, as the kernel checks the quota
    /// against it; shares converted from the weight.
    fn cpu_v1(&self) -> Result<Vec<Setting>, InvalidLimit> {
        let mut settings = Vec::new();
        if let Some(period) = self.cpu_period_us {
            settings.push(setting(
                "cpu.cfs_period_us",
                valid_period(period, "cpu.cfs_period_us")?,
            ));
        }
        if let Some(quota) = self.cpu_quota_us {
            let quota = valid_quota(quota, "cpu.cfs_quota_us")?.map_or(-1, i64::from);
            settings.push(setting("cpu.cfs_quota_us", quota));
        }
        if let Some(weight) = self.cpu_weight {
            settings.push(setting(
                "cpu.shares",
                weight_to_shares(valid_weight(weight, "cpu.shares")?),
            ));
        }
        Ok(settings)
    }

    /// v2: `cpu.max` is "quota period" with `max` for no quota; the period
    /// alone keeps the quota unlimited.
    fn cpu_v2(&self) -> Result<Vec<Setting>, InvalidLimit> {
        let mut settings = Vec::new();
        let quota = match self.cpu_quota_us {
            Some(quota) => valid_quota(quota, "cpu.max")?.map(|q| q.to_string()),
            None => None,
        };
        let quota = quota.unwrap_or_else(|| "max".to_owned());
        match self.cpu_period_us {
            Some(period) => {
                let period = valid_period(period, "cpu.max")?;
                settings.push(setting("cpu.max", format!("{quota} {period}")));
            }
            None if self.cpu_quota_us.is_some() => settings.push(setting("cpu.max", quota)),
            None => {}
        }
        if let Some(weight) = self.cpu_weight {
            settings.push(setting("cpu.weight", valid_weight(weight, "cpu.weight")?));
        }
        Ok(settings)
    }
}

fn setting(file: &'static str, value: impl ToString) -> Setting {
    Setting {
        file,
        value: value.to_string(),
    }
}

/// A quota is positive, or -1 for none (`None` here).
fn valid_quota(quota: i64, file: &'static str) -> Result<Option<u32>, InvalidLimit> {
    match quota {
        -1 => Ok(None),
        _ => u32::try_from(quota)
            .ok()
            .filter(|q| *q > 0)
            .map(Some)
            .ok_or(InvalidLimit {
                file,
                value: quota.to_string(),
                reason: "a CPU quota is a positive number of microseconds (at most 2^32-1), or -1 for none",
            }),
    }
}

fn valid_period(period: u64, file: &'static str) -> Result<u64, InvalidLimit> {
    if period == 0 {
        return Err(InvalidLimit {
            file,
            value: period.to_string(),
            reason: "a CPU period is a positive number of microseconds",
        });
    }
    Ok(period)
}

fn valid_weight(weight: u64, file: &'static str) -> Result<u64, InvalidLimit> {
    if !(1..=10_000).contains(&weight) {
        return Err(InvalidLimit {
            file,
            value: weight.to_string(),
            reason: "a CPU weight is in 1..=10000",
        });
    }
    Ok(weight)
}

/// The inverse of the shares-to-weight mapping that runc, crun and systemd
/// share: weight 1 is 2 shares, 100 is about the default 1024, 10000 is
/// 262144.
fn weight_to_shares(weight: u64) -> u64 {
    2 + (weight - 1) * 262_142 / 9_999
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(
        resources: &Resources,
        controller: Controller,
        version: Version,
    ) -> Vec<(&'static str, String)> {
        let settings = resources.settings(controller, version).expect("valid limits");
        settings.into_iter().map(|s| (s.file, s.value)).collect()
    }

    fn pairs(expected: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        expected
            .iter()
            .map(|(file, value)| (*file, value.to_string()))
            .collect()
    }

    #[test]
    fn sizes_for_people() {
        let shown = |bytes: u64| HumanSize(bytes).to_string();
        assert_eq!(shown(0), "0 bytes");
        assert_eq!(shown(1023), "1023 bytes");
        assert_eq!(shown(4 << 10), "4 KiB");
        assert_eq!(shown(64 << 20), "64 MiB");
        assert_eq!(shown(3 << 29), "1.5 GiB");
        assert_eq!(shown(5 << 40), "5 TiB");
        assert_eq!(shown(1_000_000), "976.6 KiB");
        assert_eq!(shown(1025), "1.0 KiB");
        // Rounded up to a whole next unit: said in that unit.
        assert_eq!(shown((1 << 20) - 1), "1.0 MiB");
        assert_eq!(shown(u64::MAX), "16.0 EiB");
        assert_eq!(shown(1 << 60), "1 EiB");
    }

    #[test]
    fn memory_and_swap_in_each_format() {
        let resources = Resources {
            memory_max: Some(64 << 20),
            memory_swap_max: Some(16 << 20),
            ..Resources::default()
        };
        assert_eq!(
            rendered(&resources, Controller::Memory, Version::V1),
            pairs(&[
                ("memory.limit_in_bytes", "67108864"),
                ("memory.memsw.limit_in_bytes", "83886080")
            ])
        );
        assert_eq!(
            rendered(&resources, Controller::Memory, Version::V2),
            pairs(&[("memory.max", "67108864"), ("memory.swap.max", "16777216")])
        );
    }

    #[test]
    fn v1_cannot_limit_swap_alone() {
        let resources = Resources {
            memory_swap_max: Some(1),
            ..Resources::default()
        };
        let error = resources.settings(Controller::Memory, Version::V1).unwrap_err();
        assert_eq!(error.file, "memory.memsw.limit_in_bytes");
        assert_eq!(
            rendered(&resources, Controller::Memory, Version::V2),
            pairs(&[("memory.swap.max", "1")])
        );
    }

    #[test]
    fn pids_in_both_formats() {
        let resources = Resources {
            pids_max: Some(5),
            ..Resources::default()
        };
        for version in [Version::V1, Version::V2] {
            assert_eq!(
                rendered(&resources, Controller::Pids, version),
                pairs(&[("pids.max", "5")])
            );
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
    fn weight_maps_onto_the_whole_shares_range() {
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
    }

    #[test]
    fn out_of_range_cpu_values_are_refused() {
        let cases = [
            (
                Resources {
                    cpu_weight: Some(0),
                    ..Resources::default()
                },
                "cpu.weight",
            ),
            (
                Resources {
                    cpu_weight: Some(10_001),
                    ..Resources::default()
                },
                "cpu.weight",
            ),
            (
                Resources {
                    cpu_quota_us: Some(0),
                    ..Resources::default()
                },
                "cpu.max",
            ),
            (
                Resources {
                    cpu_quota_us: Some(-2),
                    ..Resources::default()
                },
                "cpu.max",
            ),
            (
                Resources {
                    cpu_period_us: Some(0),
                    ..Resources::default()
                },
                "cpu.max",
            ),
        ];
        for (resources, file) in cases {
            let error = resources.settings(Controller::Cpu, Version::V2).unwrap_err();
            assert_eq!(error.file, file, "{resources:?}");
            assert!(
                resources.settings(Controller::Cpu, Version::V1).is_err(),
                "{resources:?}"
            );
        }
    }

    #[test]
    fn only_asked_for_controllers_are_needed() {
        let resources = Resources {
            pids_max: Some(3),
            ..Resources::default()
        };
        let needed: Vec<Controller> = Controller::ALL
            .into_iter()
            .filter(|c| resources.needs(*c))
            .collect();
        assert_eq!(needed, [Controller::Pids]);
    }
}
