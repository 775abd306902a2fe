//! Memory limits: v1's `memory.*_in_bytes` family, cgroup2's `memory.max`
//! and friends.

use super::{Refusal, Resources, Setting};

/// The kernel-memory limit: a v1 file that newer kernels keep only so that
/// old writers do not break.
///
/// Linux 5.4 deprecated it, 5.16 refused writes (`EOPNOTSUPP`), 6.1 and
/// later accept them and enforce nothing. runc ignores the limit on every
/// kernel; cradle writes it and reads it back, and refuses it where it does
/// not hold (see `manager`): the runtime spec has a runtime fail on a limit
/// it cannot apply, and a bundle that asks for one should not run believing
/// it has it.
pub(crate) const KMEM_LIMIT: &str = "memory.kmem.limit_in_bytes";

/// v1: the memory limit first (memsw may never be below it), then memsw,
/// then the rest.
pub(super) fn v1(resources: &Resources) -> Result<Vec<Setting>, Refusal> {
    let mut settings: Vec<Setting> = resources
        .memory_max
        .map(|max| Setting::new("memory_max", "memory.limit_in_bytes", max))
        .into_iter()
        .collect();
    if let Some(swap) = resources.memory_swap_max {
        let Some(memory) = resources.memory_max else {
            return Err(Refusal::invalid(
                "memory.memsw.limit_in_bytes",
                swap,
                "v1 limits memory and swap together: a swap limit needs memory_max",
            ));
        };
        settings.push(Setting::new(
            "memory_swap_max",
            "memory.memsw.limit_in_bytes",
            memory.saturating_add(swap),
        ));
    }
    if let Some(soft) = resources.memory_reservation {
        settings.push(Setting::new(
            "memory_reservation",
            "memory.soft_limit_in_bytes",
            soft,
        ));
    }
    if let Some(swappiness) = resources.memory_swappiness {
        settings.push(Setting::new(
            "memory_swappiness",
            "memory.swappiness",
            valid_swappiness(swappiness)?,
        ));
    }
    if let Some(kernel) = resources.memory_kernel {
        settings.push(Setting::new("memory_kernel", KMEM_LIMIT, kernel).verified());
    }
    if let Some(tcp) = resources.memory_kernel_tcp {
        settings.push(Setting::new(
            "memory_kernel_tcp",
            "memory.kmem.tcp.limit_in_bytes",
            tcp,
        ));
    }
    if let Some(disable) = resources.oom_kill_disable {
        settings.push(Setting::new(
            "oom_kill_disable",
            "memory.oom_control",
            u8::from(disable),
        ));
    }
    Ok(settings)
}

/// cgroup2: `memory.max`, `memory.swap.max` (swap alone) and `memory.low`.
/// It has no swappiness, no kernel-memory limits and no way to keep the
/// OOM killer away: those are refused, except an `oom_kill_disable` of
/// false, which asks for what cgroup2 does anyway.
pub(super) fn v2(resources: &Resources) -> Result<Vec<Setting>, Refusal> {
    let unsupported = |limit, reason| Err(Refusal::Unsupported { limit, reason });
    if resources.memory_swappiness.is_some() {
        return unsupported(
            "memory_swappiness",
            "cgroup2 has no per-cgroup swappiness (memory.swappiness is v1 only)",
        );
    }
    if resources.memory_kernel.is_some() {
        return unsupported(
            "memory_kernel",
            "cgroup2 has no kernel-memory limit: memory.max counts kernel memory too",
        );
    }
    if resources.memory_kernel_tcp.is_some() {
        return unsupported(
            "memory_kernel_tcp",
            "cgroup2 has no TCP buffer limit: memory.max counts socket memory too",
        );
    }
    if resources.oom_kill_disable == Some(true) {
        return unsupported(
            "oom_kill_disable",
            "cgroup2 cannot keep the OOM killer away (memory.oom_control is v1 only)",
        );
    }
    let max = resources
        .memory_max
        .map(|max| Setting::new("memory_max", "memory.max", max));
    let swap = resources
        .memory_swap_max
        .map(|max| Setting::new("memory_swap_max", "memory.swap.max", max));
    let low = resources
        .memory_reservation
        .map(|low| Setting::new("memory_reservation", "memory.low", low));
    Ok(max.into_iter().chain(swap).chain(low).collect())
}

fn valid_swappiness(swappiness: u64) -> Result<u64, Refusal> {
    if swappiness > 100 {
        return Err(Refusal::invalid(
            "memory.swappiness",
            swappiness,
            "swappiness is in 0..=100",
        ));
    }
    Ok(swappiness)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{pairs, rendered};
    use super::super::{Controller, Refusal, Resources};
    use crate::cgroup::Version;

    fn every_memory_limit() -> Resources {
        Resources {
            memory_max: Some(64 << 20),
            memory_swap_max: Some(16 << 20),
            memory_reservation: Some(32 << 20),
            memory_swappiness: Some(10),
            memory_kernel: Some(8 << 20),
            memory_kernel_tcp: Some(4 << 20),
            oom_kill_disable: Some(true),
            ..Resources::default()
        }
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
    fn every_v1_memory_limit_in_order() {
        let settings = every_memory_limit()
            .settings(Controller::Memory, Version::V1)
            .expect("valid");
        let written: Vec<(&str, &str, &str)> = settings
            .iter()
            .map(|s| (s.limit, s.file.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            written,
            [
                ("memory_max", "memory.limit_in_bytes", "67108864"),
                ("memory_swap_max", "memory.memsw.limit_in_bytes", "83886080"),
                ("memory_reservation", "memory.soft_limit_in_bytes", "33554432"),
                ("memory_swappiness", "memory.swappiness", "10"),
                ("memory_kernel", "memory.kmem.limit_in_bytes", "8388608"),
                ("memory_kernel_tcp", "memory.kmem.tcp.limit_in_bytes", "4194304"),
                ("oom_kill_disable", "memory.oom_control", "1"),
            ]
        );
        // Only the kernel-memory limit is read back.
        let verified: Vec<&str> = settings.iter().filter(|s| s.verify).map(|s| s.limit).collect();
        assert_eq!(verified, ["memory_kernel"]);
    }

    #[test]
    fn cgroup2_takes_the_soft_limit_as_memory_low() {
        let resources = Resources {
            memory_reservation: Some(1 << 20),
            oom_kill_disable: Some(false),
            ..Resources::default()
        };
        assert_eq!(
            rendered(&resources, Controller::Memory, Version::V2),
            pairs(&[("memory.low", "1048576")])
        );
    }

    #[test]
    fn cgroup2_refuses_the_v1_only_limits_naming_them() {
        let base = Resources::default;
        let cases = [
            (
                Resources {
                    memory_swappiness: Some(0),
                    ..base()
                },
                "memory_swappiness",
            ),
            (
                Resources {
                    memory_kernel: Some(1 << 20),
                    ..base()
                },
                "memory_kernel",
            ),
            (
                Resources {
                    memory_kernel_tcp: Some(1 << 20),
                    ..base()
                },
                "memory_kernel_tcp",
            ),
            (
                Resources {
                    oom_kill_disable: Some(true),
                    ..base()
                },
                "oom_kill_disable",
            ),
        ];
        for (resources, expected) in cases {
            match resources.settings(Controller::Memory, Version::V2) {
                Err(Refusal::Unsupported { limit, reason }) => {
                    assert_eq!(limit, expected);
                    assert!(reason.starts_with("cgroup2 "), "{reason}");
                }
                other => panic!("{expected}: {other:?}"),
            }
            assert!(resources.settings(Controller::Memory, Version::V1).is_ok());
        }
    }

    #[test]
    fn v1_cannot_limit_swap_alone_nor_swappiness_past_100() {
        let swap_alone = Resources {
            memory_swap_max: Some(1),
            ..Resources::default()
        };
        let error = swap_alone.settings(Controller::Memory, Version::V1).unwrap_err();
        assert!(
            matches!(&error, Refusal::Invalid { file, .. } if file == "memory.memsw.limit_in_bytes"),
            "{error:?}"
        );
        assert_eq!(
            rendered(&swap_alone, Controller::Memory, Version::V2),
            pairs(&[("memory.swap.max", "1")])
        );
        let swappiness = Resources {
            memory_swappiness: Some(101),
            ..Resources::default()
        };
        let error = swappiness.settings(Controller::Memory, Version::V1).unwrap_err();
        assert!(
            matches!(&error, Refusal::Invalid { file, .. } if file == "memory.swappiness"),
            "{error:?}"
        );
    }
}
