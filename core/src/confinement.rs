//! What confines a container process, as the child receives it:
//! capability sets, a compiled seccomp filter, extra device nodes,
//! namespaced sysctls. The parent decides and compiles; the child only
//! applies. Names are checked when the config is built (here, without I/O),
//! so a bad one is refused before anything is created.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::NamespaceKind;

macro_rules! capabilities {
    ($($variant:ident = $number:literal, $name:literal;)*) => {
        /// A Linux capability, by the kernel's number.
        #[allow(missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Capability {
            $($variant = $number,)*
        }

        impl Capability {
            /// Every capability this build knows, by number.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant,)*];

            /// The name, as `capabilities(7)` spells it: `CAP_CHOWN`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Capability::$variant => $name,)*
                }
            }
        }
    };
}

capabilities! {
    Chown = 0, "CAP_CHOWN";
    DacOverride = 1, "CAP_DAC_OVERRIDE";
    DacReadSearch = 2, "CAP_DAC_READ_SEARCH";
    Fowner = 3, "CAP_FOWNER";
    Fsetid = 4, "CAP_FSETID";
    Kill = 5, "CAP_KILL";
    Setgid = 6, "CAP_SETGID";
    Setuid = 7, "CAP_SETUID";
    Setpcap = 8, "CAP_SETPCAP";
    LinuxImmutable = 9, "CAP_LINUX_IMMUTABLE";
    NetBindService = 10, "CAP_NET_BIND_SERVICE";
    NetBroadcast = 11, "CAP_NET_BROADCAST";
    NetAdmin = 12, "CAP_NET_ADMIN";
    NetRaw = 13, "CAP_NET_RAW";
    IpcLock = 14, "CAP_IPC_LOCK";
    IpcOwner = 15, "CAP_IPC_OWNER";
    SysModule = 16, "CAP_SYS_MODULE";
    SysRawio = 17, "CAP_SYS_RAWIO";
    SysChroot = 18, "CAP_SYS_CHROOT";
    SysPtrace = 19, "CAP_SYS_PTRACE";
    SysPacct = 20, "CAP_SYS_PACCT";
    SysAdmin = 21, "CAP_SYS_ADMIN";
    SysBoot = 22, "CAP_SYS_BOOT";
    SysNice = 23, "CAP_SYS_NICE";
    SysResource = 24, "CAP_SYS_RESOURCE";
    SysTime = 25, "CAP_SYS_TIME";
    SysTtyConfig = 26, "CAP_SYS_TTY_CONFIG";
    Mknod = 27, "CAP_MKNOD";
    Lease = 28, "CAP_LEASE";
    AuditWrite = 29, "CAP_AUDIT_WRITE";
    AuditControl = 30, "CAP_AUDIT_CONTROL";
    Setfcap = 31, "CAP_SETFCAP";
    MacOverride = 32, "CAP_MAC_OVERRIDE";
    MacAdmin = 33, "CAP_MAC_ADMIN";
    Syslog = 34, "CAP_SYSLOG";
    WakeAlarm = 35, "CAP_WAKE_ALARM";
    BlockSuspend = 36, "CAP_BLOCK_SUSPEND";
    AuditRead = 37, "CAP_AUDIT_READ";
    Perfmon = 38, "CAP_PERFMON";
    Bpf = 39, "CAP_BPF";
    CheckpointRestore = 40, "CAP_CHECKPOINT_RESTORE";
}

impl Capability {
    /// The kernel's number for it.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// What podman and docker give a container unless told otherwise.
    pub const DEFAULT: [Capability; 14] = [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fowner,
        Capability::Fsetid,
        Capability::Kill,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::NetRaw,
        Capability::SysChroot,
        Capability::Mknod,
        Capability::AuditWrite,
        Capability::Setfcap,
    ];
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Hidden from a container by default (podman's and docker's list):
/// kernel memory, keys, timers and hardware that tell about (or reach)
/// the host. The shell interface applies it; `cradle spec` writes it.
pub const MASKED_PATHS: [&str; 10] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Read-only in a container by default: the host's kernel settings and
/// triggers.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// A capability name this build does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability {0:?} (names look like CAP_CHOWN or CHOWN)")]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;

    /// `CAP_NET_ADMIN`, `NET_ADMIN`, in any case.
    fn from_str(name: &str) -> Result<Capability, UnknownCapability> {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        Capability::ALL
            .iter()
            .copied()
            .find(|cap| cap.name() == full)
            .ok_or_else(|| UnknownCapability(name.to_owned()))
    }
}

impl Serialize for Capability {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Capability, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The five capability sets of the container process.
///
/// The child keeps its capabilities across the change of user, drops
/// every capability not in `bounding` from the bounding set, then sets the
/// others. A root process's capabilities after `exec` are its bounding set;
/// another user's are its ambient set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The most the process and its children can ever have.
    #[serde(default)]
    pub bounding: BTreeSet<Capability>,
    /// In force now.
    #[serde(default)]
    pub effective: BTreeSet<Capability>,
    /// The most the process may make effective.
    #[serde(default)]
    pub permitted: BTreeSet<Capability>,
    /// Kept across `exec` of a program with matching file capabilities.
    #[serde(default)]
    pub inheritable: BTreeSet<Capability>,
    /// Kept across `exec` of any program (non-root users).
    #[serde(default)]
    pub ambient: BTreeSet<Capability>,
}

impl Capabilities {
    /// `caps` in bounding, effective and permitted; none inheritable or
    /// ambient: what podman and docker do with their capability list.
    pub fn of(caps: impl IntoIterator<Item = Capability>) -> Capabilities {
        let set: BTreeSet<Capability> = caps.into_iter().collect();
        Capabilities {
            bounding: set.clone(),
            effective: set.clone(),
            permitted: set,
            inheritable: BTreeSet::new(),
            ambient: BTreeSet::new(),
        }
    }

    /// The podman/docker default set ([`Capability::DEFAULT`]).
    pub fn container_default() -> Capabilities {
        Capabilities::of(Capability::DEFAULT)
    }

    /// Sets the kernel would refuse: effective or inheritable outside
    /// permitted, ambient outside permitted and inheritable. The name of
    /// the first such capability and the rule it breaks.
    pub fn inconsistency(&self) -> Option<(Capability, &'static str)> {
        let outside =
            |set: &BTreeSet<Capability>, of: &BTreeSet<Capability>| set.difference(of).next().copied();
        if let Some(cap) = outside(&self.effective, &self.permitted) {
            return Some((cap, "is effective but not permitted"));
        }
        if let Some(cap) = outside(&self.ambient, &self.permitted) {
            return Some((cap, "is ambient but not permitted"));
        }
        if let Some(cap) = outside(&self.ambient, &self.inheritable) {
            return Some((cap, "is ambient but not inheritable"));
        }
        None
    }
}

/// A classic BPF program for `seccomp(SECCOMP_SET_MODE_FILTER)`, compiled
/// by the parent once and installed by the child as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompProgram {
    /// The instructions (`struct sock_filter`). Encoded as one string of
    /// 16 hex digits per instruction (`code`, `jt`, `jf`, `k`: 4, 2, 2
    /// and 8 digits): the default filter's 600 decode in microseconds,
    /// where as arrays of numbers they took tens, in the parent and again
    /// in the child.
    #[serde(with = "hex_instructions")]
    pub instructions: Vec<BpfInstruction>,
    /// `SECCOMP_FILTER_FLAG_*` bits passed to `seccomp(2)`.
    #[serde(default)]
    pub flags: u32,
}

/// One `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInstruction {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// [`SeccompProgram::instructions`] as hex: each instruction one 64-bit
/// word, `code << 48 | jt << 40 | jf << 32 | k`, in 16 digits.
mod hex_instructions {
    use serde::{de, Deserialize, Deserializer, Serializer};

    use super::BpfInstruction;

    const DIGITS_PER_INSTRUCTION: usize = 16;
    const DIGITS: &[u8; 16] = b"0123456789abcdef";

    pub(super) fn serialize<S: Serializer>(
        instructions: &[BpfInstruction],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(instructions.len() * DIGITS_PER_INSTRUCTION);
        for instruction in instructions {
            let word = u64::from(instruction.code) << 48
                | u64::from(instruction.jt) << 40
                | u64::from(instruction.jf) << 32
                | u64::from(instruction.k);
            for digit in (0..DIGITS_PER_INSTRUCTION).rev() {
                let nibble = (word >> (digit * 4)) & 0xf;
                text.push(char::from(DIGITS[usize::try_from(nibble).unwrap_or(0)]));
            }
        }
        serializer.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<BpfInstruction>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.len() % DIGITS_PER_INSTRUCTION != 0 {
            return Err(de::Error::custom(
                "seccomp program: not a whole number of 16-digit instructions",
            ));
        }
        text.as_bytes()
            .chunks_exact(DIGITS_PER_INSTRUCTION)
            .map(|digits| {
                let mut word = 0u64;
                for &digit in digits {
                    let value = char::from(digit)
                        .to_digit(16)
                        .ok_or_else(|| de::Error::custom("seccomp program: not a hex digit"))?;
                    word = word << 4 | u64::from(value);
                }
                let [c1, c0, jt, jf, k3, k2, k1, k0] = word.to_be_bytes();
                Ok(BpfInstruction {
                    code: u16::from_be_bytes([c1, c0]),
                    jt,
                    jf,
                    k: u32::from_be_bytes([k3, k2, k1, k0]),
                })
            })
            .collect()
    }
}

/// A device node created in the container's `/dev`, beside the standard
/// ones (`null`, `zero`, `full`, `random`, `urandom`, `tty`, `ptmx`).
/// Whether the process may use it is the cgroup's device rules' business.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNode {
    /// Where, inside the container: under `/dev`.
    pub path: PathBuf,
    /// Character or block.
    pub kind: DeviceKind,
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Permission bits (`0o666` when not given).
    #[serde(default = "default_device_mode")]
    pub mode: u32,
    /// Owner.
    #[serde(default)]
    pub uid: u32,
    /// Group.
    #[serde(default)]
    pub gid: u32,
}

fn default_device_mode() -> u32 {
    0o666
}

/// A device node's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// `c`
    Char,
    /// `b`
    Block,
    /// `p`: a named pipe (no major or minor, no cgroup rule).
    Fifo,
}

/// Why a sysctl cannot be set in a container.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SysctlError {
    /// A key that is not namespaced: setting it would change the host.
    #[error("sysctl {key}: not namespaced, it would change the host")]
    NotNamespaced {
        /// The key.
        key: String,
    },
    /// A namespaced key whose namespace the container does not create.
    #[error("sysctl {key}: needs a new {} namespace", needs.proc_name())]
    NeedsNamespace {
        /// The key.
        key: String,
        /// The namespace it belongs to.
        needs: NamespaceKind,
    },
    /// A key that cannot name a file under `/proc/sys`.
    #[error("sysctl {key:?}: not a sysctl name")]
    BadKey {
        /// The key.
        key: String,
    },
}

/// The namespace a sysctl key belongs to, or why it cannot be set in a
/// container: `kernel.shm*`, `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`
/// (ipc), `kernel.hostname`, `kernel.domainname` (uts), `net.*` (net).
/// Keys are spelled with dots or slashes.
pub fn sysctl_namespace(key: &str) -> Result<NamespaceKind, SysctlError> {
    let dotted = key.replace('/', ".");
    let bad = dotted.is_empty()
        || dotted
            .split('.')
            .any(|part| part.is_empty() || part == ".." || part.contains('\0'));
    if bad {
        return Err(SysctlError::BadKey { key: key.to_owned() });
    }
    let ipc = [
        "kernel.shmmax",
        "kernel.shmall",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let ipc_msg = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem"];
    if ipc.contains(&dotted.as_str())
        || ipc_msg.contains(&dotted.as_str())
        || dotted.starts_with("kernel.shm")
        || dotted.starts_with("kernel.msg")
        || dotted.starts_with("fs.mqueue.")
    {
        return Ok(NamespaceKind::Ipc);
    }
    if dotted == "kernel.hostname" || dotted == "kernel.domainname" {
        return Ok(NamespaceKind::Uts);
    }
    if dotted.starts_with("net.") {
        return Ok(NamespaceKind::Net);
    }
    Err(SysctlError::NotNamespaced { key: key.to_owned() })
}

/// Checks that `key` can be set in a container that creates the
/// namespaces `creates` says it does.
pub fn check_sysctl(key: &str, creates: impl Fn(NamespaceKind) -> bool) -> Result<(), SysctlError> {
    let needs = sysctl_namespace(key)?;
    if creates(needs) {
        Ok(())
    } else {
        Err(SysctlError::NeedsNamespace {
            key: key.to_owned(),
            needs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_parse_with_or_without_prefix_and_refuse_unknown_names() {
        assert_eq!("CAP_NET_ADMIN".parse(), Ok(Capability::NetAdmin));
        assert_eq!("net_admin".parse(), Ok(Capability::NetAdmin));
        assert_eq!(
            "CAP_CHECKPOINT_RESTORE".parse(),
            Ok(Capability::CheckpointRestore)
        );
        assert!("CAP_NOPE".parse::<Capability>().is_err());
        assert!(serde_json::from_str::<Capability>("\"CAP_NOPE\"").is_err());
        for (number, cap) in Capability::ALL.iter().enumerate() {
            assert_eq!(cap.number() as usize, number, "{cap}");
            assert_eq!(cap.name().parse(), Ok(*cap));
        }
    }

    #[test]
    fn the_default_set_is_podmans_mask() {
        let mask: u64 = Capability::DEFAULT.iter().map(|c| 1u64 << c.number()).sum();
        // CapEff inside a podman or docker container running as root.
        assert_eq!(mask, 0x0000_0000_a804_25fb);
    }

    #[test]
    fn inconsistent_sets_are_named() {
        let mut caps = Capabilities::of([Capability::Chown]);
        assert_eq!(caps.inconsistency(), None);
        caps.ambient.insert(Capability::Chown);
        assert_eq!(
            caps.inconsistency(),
            Some((Capability::Chown, "is ambient but not inheritable"))
        );
        caps.effective.insert(Capability::Kill);
        assert_eq!(
            caps.inconsistency(),
            Some((Capability::Kill, "is effective but not permitted"))
        );
    }

    #[test]
    fn bpf_instructions_travel_as_hex_words() {
        let program = SeccompProgram {
            instructions: vec![
                BpfInstruction {
                    code: 6,
                    jt: 0,
                    jf: 0,
                    k: 0x7fff_0000,
                },
                BpfInstruction {
                    code: 0x15,
                    jt: 1,
                    jf: 0xab,
                    k: 0x0102_0304,
                },
                BpfInstruction {
                    code: u16::MAX,
                    jt: u8::MAX,
                    jf: u8::MAX,
                    k: u32::MAX,
                },
            ],
            flags: 0,
        };
        let json = serde_json::to_string(&program).expect("encodes");
        assert_eq!(
            json,
            r#"{"instructions":"000600007fff0000001501ab01020304ffffffffffffffff","flags":0}"#
        );
        assert_eq!(
            serde_json::from_str::<SeccompProgram>(&json).expect("decodes"),
            program
        );
        let empty = r#"{"instructions":""}"#;
        assert_eq!(
            serde_json::from_str::<SeccompProgram>(empty).expect("decodes"),
            SeccompProgram::default()
        );
    }

    #[test]
    fn a_program_that_is_not_whole_hex_words_is_refused() {
        for instructions in [
            r#""0006""#,
            r#""000600007fff000g""#,
            r#""000600007fff0000 ""#,
            "[[6,0,0,0]]",
            "7",
        ] {
            let json = format!(r#"{{"instructions":{instructions}}}"#);
            let error = serde_json::from_str::<SeccompProgram>(&json).expect_err(&json);
            assert!(
                error.to_string().contains("seccomp program") || error.to_string().contains("invalid type"),
                "{json}: {error}"
            );
        }
    }

    #[test]
    fn only_namespaced_sysctls_pass() {
        let all = |_| true;
        assert_eq!(check_sysctl("net.ipv4.ip_forward", all), Ok(()));
        assert_eq!(check_sysctl("net/ipv4/ip_forward", all), Ok(()));
        assert_eq!(check_sysctl("kernel.shmmax", all), Ok(()));
        assert_eq!(check_sysctl("kernel.sem", all), Ok(()));
        assert_eq!(check_sysctl("fs.mqueue.msg_max", all), Ok(()));
        assert!(matches!(
            check_sysctl("vm.drop_caches", all),
            Err(SysctlError::NotNamespaced { .. })
        ));
        assert!(matches!(
            check_sysctl("kernel.core_pattern", all),
            Err(SysctlError::NotNamespaced { .. })
        ));
        assert!(matches!(
            check_sysctl("net/../../x", all),
            Err(SysctlError::BadKey { .. })
        ));
        assert_eq!(
            check_sysctl("net.ipv4.ip_forward", |kind| kind != NamespaceKind::Net),
            Err(SysctlError::NeedsNamespace {
                key: "net.ipv4.ip_forward".to_owned(),
                needs: NamespaceKind::Net
            })
        );
    }
}
