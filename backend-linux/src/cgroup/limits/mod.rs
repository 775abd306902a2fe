//! Resource limits, rendered in each version's file format.
//!
//! Pure: which files to write, with what, in which order, and which limits
//! a version cannot take at all. A limit goes to the v1 hierarchy that has
//! its controller, else to the v2 directory. [`HumanSize`] writes a memory
//! limit for people.

mod cpu;
mod io;
mod memory;
mod net;

use std::fmt;

use super::devices::{self, DeviceRule};
use super::hierarchy::Version;

pub(crate) use memory::KMEM_LIMIT;

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
    /// CPU weight, 1..=10000 (converted to `cpu.shares` on v1); this or
    /// `cpu_shares`, not both.
    pub cpu_weight: Option<u64>,
    /// Memory soft limit, bytes (v1 `memory.soft_limit_in_bytes`, v2
    /// `memory.low`).
    pub memory_reservation: Option<u64>,
    /// Swappiness, 0..=100 (v1 `memory.swappiness`; cgroup2 has none).
    pub memory_swappiness: Option<u64>,
    /// Kernel memory limit, bytes (v1 `memory.kmem.limit_in_bytes`);
    /// refused where the kernel no longer enforces it (Linux 5.16 and
    /// later) and on cgroup2.
    pub memory_kernel: Option<u64>,
    /// Kernel TCP buffer limit, bytes (v1 `memory.kmem.tcp.limit_in_bytes`).
    pub memory_kernel_tcp: Option<u64>,
    /// Keep the OOM killer away from the cgroup's processes (v1
    /// `memory.oom_control`); they wait for memory instead.
    pub oom_kill_disable: Option<bool>,
    /// CPU shares, 2..=262144 (v1 `cpu.shares`; converted to `cpu.weight`
    /// on cgroup2); this or `cpu_weight`, not both.
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
    Cpuset,
    Blkio,
    Hugetlb,
    NetCls,
    NetPrio,
    Devices,
}

impl Controller {
    /// Every controller, in the order their limits are written.
    pub(crate) const ALL: [Controller; 9] = [
        Controller::Memory,
        Controller::Pids,
        Controller::Cpu,
        Controller::Cpuset,
        Controller::Blkio,
        Controller::Hugetlb,
        Controller::NetCls,
        Controller::NetPrio,
        Controller::Devices,
    ];

    /// Its name in a v1 hierarchy, as `/proc/self/cgroup` lists it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
            Controller::Cpuset => "cpuset",
            Controller::Blkio => "blkio",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::Devices => "devices",
        }
    }

    /// Its name in cgroup2's `cgroup.controllers`; `None` where cgroup2
    /// needs no controller (devices: a program is attached) or has none
    /// (net_cls, net_prio: their limits are refused there).
    pub(crate) fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Blkio => Some("io"),
            Controller::Devices | Controller::NetCls | Controller::NetPrio => None,
            other => Some(other.name()),
        }
    }
}

/// One file to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    /// The [`Resources`] field it comes from, named in errors.
    pub(crate) limit: &'static str,
    pub(crate) file: String,
    pub(crate) value: String,
    /// The same limit in another file and its format, written where the
    /// kernel lacks `file` (`blkio.bfq.weight` for `blkio.weight`).
    pub(crate) fallback: Option<(String, String)>,
    /// Read the file back after writing it: some kernels accept the value
    /// and do nothing with it (`memory.kmem.limit_in_bytes` since 6.1).
    pub(crate) verify: bool,
}

impl Setting {
    pub(crate) fn new(limit: &'static str, file: impl Into<String>, value: impl ToString) -> Setting {
        Setting {
            limit,
            file: file.into(),
            value: value.to_string(),
            fallback: None,
            verify: false,
        }
    }

    fn or_else(mut self, file: impl Into<String>, value: impl ToString) -> Setting {
        self.fallback = Some((file.into(), value.to_string()));
        self
    }

    fn verified(mut self) -> Setting {
        self.verify = true;
        self
    }
}

/// Why a limit cannot be rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The value is out of the format's range.
    Invalid {
        file: String,
        value: String,
        reason: &'static str,
    },
    /// The hierarchy's version has no such limit at all.
    Unsupported {
        limit: &'static str,
        reason: &'static str,
    },
}

impl Refusal {
    fn invalid(file: impl Into<String>, value: impl ToString, reason: &'static str) -> Refusal {
        Refusal::Invalid {
            file: file.into(),
            value: value.to_string(),
            reason,
        }
    }
}

impl Resources {
    /// Whether any limit needs `controller`.
    pub(crate) fn needs(&self, controller: Controller) -> bool {
        match controller {
            Controller::Memory => {
                self.memory_max.is_some()
                    || self.memory_swap_max.is_some()
                    || self.memory_reservation.is_some()
                    || self.memory_swappiness.is_some()
                    || self.memory_kernel.is_some()
                    || self.memory_kernel_tcp.is_some()
                    || self.oom_kill_disable.is_some()
            }
            Controller::Pids => self.pids_max.is_some(),
            Controller::Cpu => {
                self.cpu_quota_us.is_some()
                    || self.cpu_period_us.is_some()
                    || self.cpu_weight.is_some()
                    || self.cpu_shares.is_some()
                    || self.cpu_rt_runtime_us.is_some()
                    || self.cpu_rt_period_us.is_some()
            }
            Controller::Cpuset => self.cpuset_cpus.is_some() || self.cpuset_mems.is_some(),
            Controller::Blkio => self.blkio_weight.is_some(),
            Controller::Hugetlb => !self.hugetlb.is_empty(),
            Controller::NetCls => self.net_cls_classid.is_some(),
            Controller::NetPrio => !self.net_prio.is_empty(),
            Controller::Devices => self.devices.is_some(),
        }
    }

    /// The files to write, in order, for `controller` in `version`'s format
    /// (none for v2 devices: a program is attached instead). Device rules
    /// are checked apart, by [`devices::validate`].
    pub(crate) fn settings(&self, controller: Controller, version: Version) -> Result<Vec<Setting>, Refusal> {
        match (controller, version) {
            (Controller::Memory, Version::V1) => memory::v1(self),
            (Controller::Memory, Version::V2) => memory::v2(self),
            (Controller::Pids, _) => Ok(self
                .pids_max
                .map(|max| Setting::new("pids_max", "pids.max", max))
                .into_iter()
                .collect()),
            (Controller::Cpu, Version::V1) => cpu::v1(self),
            (Controller::Cpu, Version::V2) => cpu::v2(self),
            (Controller::Cpuset, _) => cpu::cpuset(self),
            (Controller::Blkio, _) => io::blkio(self, version),
            (Controller::Hugetlb, _) => io::hugetlb(self, version),
            (Controller::NetCls, _) => net::classid(self, version),
            (Controller::NetPrio, _) => net::priorities(self, version),
            (Controller::Devices, Version::V1) => Ok(self
                .devices
                .as_deref()
                .map(devices::v1_settings)
                .unwrap_or_default()),
            (Controller::Devices, Version::V2) => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The files and values of `controller`'s limits in `version`.
    pub(in crate::cgroup::limits) fn rendered(
        resources: &Resources,
        controller: Controller,
        version: Version,
    ) -> Vec<(String, String)> {
        let settings = resources.settings(controller, version).expect("valid limits");
        settings.into_iter().map(|s| (s.file, s.value)).collect()
    }

    pub(in crate::cgroup::limits) fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(file, value)| (file.to_string(), value.to_string()))
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
    fn only_asked_for_controllers_are_needed() {
        let needed = |resources: &Resources| -> Vec<Controller> {
            Controller::ALL
                .into_iter()
                .filter(|c| resources.needs(*c))
                .collect()
        };
        let pids = Resources {
            pids_max: Some(3),
            ..Resources::default()
        };
        assert_eq!(needed(&pids), [Controller::Pids]);
        let every = Resources {
            memory_swappiness: Some(1),
            cpu_rt_period_us: Some(1),
            cpuset_mems: Some("0".to_owned()),
            blkio_weight: Some(10),
            hugetlb: vec![("2MB".to_owned(), 0)],
            net_cls_classid: Some(1),
            net_prio: vec![("lo".to_owned(), 1)],
            devices: Some(Vec::new()),
            ..pids
        };
        assert_eq!(needed(&every), Controller::ALL);
        assert!(needed(&Resources::default()).is_empty());
    }

    #[test]
    fn controllers_are_named_as_each_version_names_them() {
        let names: Vec<(&str, Option<&str>)> = Controller::ALL
            .into_iter()
            .map(|c| (c.name(), c.v2_name()))
            .collect();
        assert_eq!(
            names,
            [
                ("memory", Some("memory")),
                ("pids", Some("pids")),
                ("cpu", Some("cpu")),
                ("cpuset", Some("cpuset")),
                ("blkio", Some("io")),
                ("hugetlb", Some("hugetlb")),
                ("net_cls", None),
                ("net_prio", None),
                ("devices", None),
            ]
        );
    }
}
