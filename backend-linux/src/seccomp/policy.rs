//! The policy model: the OCI runtime-spec `linux.seccomp` object, and the
//! reading of profile files (OCI, and docker/podman's `seccomp.json` with
//! its per-rule `includes`/`excludes`).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use cradle_core::confinement::Capability;
use serde::{Deserialize, Serialize};

use super::SeccompError;
use crate::strict_json::Strict;

/// `EPERM`: the errno of `SCMP_ACT_ERRNO` and the data of `SCMP_ACT_TRACE`
/// when the profile gives no `errnoRet` (as runc does).
const DEFAULT_ERRNO: u16 = libc::EPERM as u16;

/// A seccomp policy: the OCI runtime-spec `linux.seccomp` object. As JSON
/// (serde) it is that object, camelCase: `defaultAction`,
/// `defaultErrnoRet`, `architectures`, `flags`, `syscalls`.
///
/// Read a profile file with [`Policy::from_json`], which also takes the
/// docker/podman format; build the default with
/// [`default_policy`](super::default_policy); compile with
/// [`compile`](super::compile).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "wire::Policy")]
pub struct Policy {
    /// What a syscall no rule matches gets.
    pub default_action: Action,
    /// The architectures whose syscalls the filter takes, beside the
    /// native one (always taken). A syscall of any other architecture
    /// kills the process.
    pub architectures: Vec<Arch>,
    /// `SECCOMP_FILTER_FLAG_*` flags for `seccomp(2)`.
    pub flags: Vec<Flag>,
    /// The rules, in order.
    pub syscalls: Vec<Rule>,
}

/// The OCI object, read as JSON strictly (an object where the object
/// has one: see [`strict_json`](crate::strict_json)).
impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Policy, D::Error> {
        use serde::de::Error as _;
        let value = serde_json::Value::deserialize(deserializer)?;
        let policy = wire::Policy::deserialize(Strict(&value)).map_err(D::Error::custom)?;
        Policy::try_from(policy).map_err(D::Error::custom)
    }
}

/// What the filter does with a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `SCMP_ACT_ALLOW`: run it.
    Allow,
    /// `SCMP_ACT_ERRNO`: fail it with this errno (`errnoRet`, `EPERM`
    /// when not given).
    Errno(u16),
    /// `SCMP_ACT_KILL_THREAD` (and `SCMP_ACT_KILL`): kill the thread.
    KillThread,
    /// `SCMP_ACT_KILL_PROCESS`: kill the process.
    KillProcess,
    /// `SCMP_ACT_TRAP`: send `SIGSYS`.
    Trap,
    /// `SCMP_ACT_LOG`: run it and log it.
    Log,
    /// `SCMP_ACT_TRACE`: stop for a ptrace tracer with this message
    /// (`errnoRet`, `EPERM` when not given); without a tracer the syscall
    /// fails with `ENOSYS`. Nothing in the child has to take part, so it
    /// is supported.
    Trace(u16),
}

impl Action {
    /// The OCI name, and the `errnoRet` that goes with it.
    pub fn oci_name(self) -> (&'static str, Option<u32>) {
        match self {
            Action::Allow => ("SCMP_ACT_ALLOW", None),
            Action::Errno(errno) => ("SCMP_ACT_ERRNO", Some(errno.into())),
            Action::KillThread => ("SCMP_ACT_KILL_THREAD", None),
            Action::KillProcess => ("SCMP_ACT_KILL_PROCESS", None),
            Action::Trap => ("SCMP_ACT_TRAP", None),
            Action::Log => ("SCMP_ACT_LOG", None),
            Action::Trace(data) => ("SCMP_ACT_TRACE", Some(data.into())),
        }
    }

    /// Reads an OCI action and its `errnoRet`; `path` says where, for the
    /// error.
    pub(crate) fn from_oci(
        name: &str,
        errno_ret: Option<u64>,
        path: &str,
        errno_path: &str,
    ) -> Result<Action, SeccompError> {
        let errno = || -> Result<u16, SeccompError> {
            match errno_ret {
                None => Ok(DEFAULT_ERRNO),
                Some(value) => u16::try_from(value).map_err(|_| SeccompError::Invalid {
                    path: errno_path.to_owned(),
                    message: format!("{value} does not fit the filter's 16 bits of return data"),
                }),
            }
        };
        let action = match name {
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_ERRNO" => return Ok(Action::Errno(errno()?)),
            "SCMP_ACT_TRACE" => return Ok(Action::Trace(errno()?)),
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_NOTIFY" => {
                return Err(SeccompError::Unsupported {
                    path: path.to_owned(),
                    name: name.to_owned(),
                    why: "no user-space notification listener (seccomp agent) is implemented",
                })
            }
            _ => {
                return Err(SeccompError::UnknownName {
                    path: path.to_owned(),
                    what: "action",
                    name: name.to_owned(),
                })
            }
        };
        if errno_ret.is_some() {
            return Err(SeccompError::Invalid {
                path: errno_path.to_owned(),
                message: format!("errnoRet goes only with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {name}"),
            });
        }
        Ok(action)
    }

    pub(crate) fn to_scmp(self) -> libseccomp::ScmpAction {
        use libseccomp::ScmpAction;
        match self {
            Action::Allow => ScmpAction::Allow,
            Action::Errno(errno) => ScmpAction::Errno(errno.into()),
            Action::KillThread => ScmpAction::KillThread,
            Action::KillProcess => ScmpAction::KillProcess,
            Action::Trap => ScmpAction::Trap,
            Action::Log => ScmpAction::Log,
            Action::Trace(data) => ScmpAction::Trace(data),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.oci_name() {
            (name, None) => f.write_str(name),
            (name, Some(ret)) => write!(f, "{name}({ret})"),
        }
    }
}

/// One rule: the syscalls it names get `action` when every condition in
/// `args` holds (conditions on the same argument are alternatives, as in
/// runc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Syscall names. Names unknown on this architecture are skipped when
    /// compiling.
    pub names: Vec<String>,
    /// What they get.
    pub action: Action,
    /// Conditions on the arguments.
    pub args: Vec<ArgCondition>,
}

impl Rule {
    /// A rule without conditions.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>, action: Action) -> Rule {
        Rule {
            names: names.into_iter().map(Into::into).collect(),
            action,
            args: Vec::new(),
        }
    }

    /// The same rule with one more condition.
    pub fn with_arg(mut self, condition: ArgCondition) -> Rule {
        self.args.push(condition);
        self
    }
}

/// A condition on one argument of a syscall: `arg[index] op value`; for
/// [`ArgOp::MaskedEqual`], `arg[index] & value == value_two`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgCondition {
    /// Which argument, 0 to 5.
    pub index: u32,
    /// The value compared with, or the mask.
    pub value: u64,
    /// The value the masked argument must equal ([`ArgOp::MaskedEqual`]
    /// only).
    #[serde(default)]
    pub value_two: u64,
    /// The comparison.
    pub op: ArgOp,
}

impl ArgCondition {
    /// `arg[index] op value`.
    pub fn new(index: u32, op: ArgOp, value: u64) -> ArgCondition {
        ArgCondition {
            index,
            value,
            value_two: 0,
            op,
        }
    }

    /// `arg[index] & mask == value`.
    pub fn masked_eq(index: u32, mask: u64, value: u64) -> ArgCondition {
        ArgCondition {
            index,
            value: mask,
            value_two: value,
            op: ArgOp::MaskedEqual,
        }
    }

    pub(crate) fn to_scmp(self) -> libseccomp::ScmpArgCompare {
        use libseccomp::{ScmpArgCompare, ScmpCompareOp};
        let (op, datum) = match self.op {
            ArgOp::NotEqual => (ScmpCompareOp::NotEqual, self.value),
            ArgOp::LessThan => (ScmpCompareOp::Less, self.value),
            ArgOp::LessOrEqual => (ScmpCompareOp::LessOrEqual, self.value),
            ArgOp::Equal => (ScmpCompareOp::Equal, self.value),
            ArgOp::GreaterOrEqual => (ScmpCompareOp::GreaterEqual, self.value),
            ArgOp::GreaterThan => (ScmpCompareOp::Greater, self.value),
            ArgOp::MaskedEqual => (ScmpCompareOp::MaskedEqual(self.value), self.value_two),
        };
        ScmpArgCompare::new(self.index, op, datum)
    }
}

/// Defines a closed set of names, each with its OCI spelling, `FromStr`
/// (refusing anything else) and serde as that string.
macro_rules! oci_names {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every name.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The OCI spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = SeccompError;

            fn from_str(text: &str) -> Result<$name, SeccompError> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|item| item.as_str() == text)
                    .ok_or_else(|| SeccompError::UnknownName {
                        path: String::new(),
                        what: $what,
                        name: text.to_owned(),
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

oci_names! {
    /// A comparison of an argument (`SCMP_CMP_*`).
    ArgOp, "op" {
        /// `!=`
        NotEqual = "SCMP_CMP_NE",
        /// `<`
        LessThan = "SCMP_CMP_LT",
        /// `<=`
        LessOrEqual = "SCMP_CMP_LE",
        /// `==`
        Equal = "SCMP_CMP_EQ",
        /// `>=`
        GreaterOrEqual = "SCMP_CMP_GE",
        /// `>`
        GreaterThan = "SCMP_CMP_GT",
        /// `arg & value == value_two`
        MaskedEqual = "SCMP_CMP_MASKED_EQ",
    }
}

oci_names! {
    /// An architecture whose syscall numbers the filter knows
    /// (`SCMP_ARCH_*`).
    Arch, "architecture" {
        /// i386.
        X86 = "SCMP_ARCH_X86",
        /// x86-64.
        X86_64 = "SCMP_ARCH_X86_64",
        /// The x32 ABI.
        X32 = "SCMP_ARCH_X32",
        /// 32-bit ARM.
        Arm = "SCMP_ARCH_ARM",
        /// arm64.
        Aarch64 = "SCMP_ARCH_AARCH64",
        /// MIPS o32, big-endian.
        Mips = "SCMP_ARCH_MIPS",
        /// MIPS n64, big-endian.
        Mips64 = "SCMP_ARCH_MIPS64",
        /// MIPS n32, big-endian.
        Mips64N32 = "SCMP_ARCH_MIPS64N32",
        /// MIPS o32, little-endian.
        Mipsel = "SCMP_ARCH_MIPSEL",
        /// MIPS n64, little-endian.
        Mipsel64 = "SCMP_ARCH_MIPSEL64",
        /// MIPS n32, little-endian.
        Mipsel64N32 = "SCMP_ARCH_MIPSEL64N32",
        /// 32-bit PowerPC.
        Ppc = "SCMP_ARCH_PPC",
        /// 64-bit PowerPC, big-endian.
        Ppc64 = "SCMP_ARCH_PPC64",
        /// 64-bit PowerPC, little-endian.
        Ppc64Le = "SCMP_ARCH_PPC64LE",
        /// 31-bit s390.
        S390 = "SCMP_ARCH_S390",
        /// s390x.
        S390X = "SCMP_ARCH_S390X",
        /// 32-bit PA-RISC.
        Parisc = "SCMP_ARCH_PARISC",
        /// 64-bit PA-RISC.
        Parisc64 = "SCMP_ARCH_PARISC64",
        /// RISC-V 64.
        Riscv64 = "SCMP_ARCH_RISCV64",
        /// LoongArch 64.
        Loongarch64 = "SCMP_ARCH_LOONGARCH64",
        /// Motorola 68000.
        M68k = "SCMP_ARCH_M68K",
        /// SuperH, little-endian.
        Sh = "SCMP_ARCH_SH",
        /// SuperH, big-endian.
        Sheb = "SCMP_ARCH_SHEB",
    }
}

impl Arch {
    /// The architecture this build runs on, where it is one of these.
    pub const NATIVE: Option<Arch> = if cfg!(target_arch = "x86_64") {
        Some(Arch::X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(Arch::Aarch64)
    } else if cfg!(target_arch = "riscv64") {
        Some(Arch::Riscv64)
    } else if cfg!(target_arch = "s390x") {
        Some(Arch::S390X)
    } else {
        None
    };

    pub(crate) fn to_scmp(self) -> libseccomp::ScmpArch {
        use libseccomp::ScmpArch;
        match self {
            Arch::X86 => ScmpArch::X86,
            Arch::X86_64 => ScmpArch::X8664,
            Arch::X32 => ScmpArch::X32,
            Arch::Arm => ScmpArch::Arm,
            Arch::Aarch64 => ScmpArch::Aarch64,
            Arch::Mips => ScmpArch::Mips,
            Arch::Mips64 => ScmpArch::Mips64,
            Arch::Mips64N32 => ScmpArch::Mips64N32,
            Arch::Mipsel => ScmpArch::Mipsel,
            Arch::Mipsel64 => ScmpArch::Mipsel64,
            Arch::Mipsel64N32 => ScmpArch::Mipsel64N32,
            Arch::Ppc => ScmpArch::Ppc,
            Arch::Ppc64 => ScmpArch::Ppc64,
            Arch::Ppc64Le => ScmpArch::Ppc64Le,
            Arch::S390 => ScmpArch::S390,
            Arch::S390X => ScmpArch::S390X,
            Arch::Parisc => ScmpArch::Parisc,
            Arch::Parisc64 => ScmpArch::Parisc64,
            Arch::Riscv64 => ScmpArch::Riscv64,
            Arch::Loongarch64 => ScmpArch::Loongarch64,
            Arch::M68k => ScmpArch::M68k,
            Arch::Sh => ScmpArch::Sh,
            Arch::Sheb => ScmpArch::Sheb,
        }
    }
}

oci_names! {
    /// A `SECCOMP_FILTER_FLAG_*` flag the child passes to `seccomp(2)`.
    /// `TSYNC` is not needed (the child is one thread when it installs the
    /// filter); `NEW_LISTENER` and `WAIT_KILLABLE_RECV` go with
    /// `SCMP_ACT_NOTIFY`, which is not supported.
    Flag, "flag" {
        /// Log every action but `SECCOMP_RET_ALLOW`.
        Log = "SECCOMP_FILTER_FLAG_LOG",
        /// Leave the speculative store bypass mitigation off.
        SpecAllow = "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    }
}

impl Flag {
    /// The kernel's bit.
    pub fn bit(self) -> u32 {
        match self {
            Flag::Log => 1 << 1,
            Flag::SpecAllow => 1 << 2,
        }
    }
}

/// The names a docker/podman profile may use in `includes`/`excludes`
/// `arches` (Go's `GOARCH` names, libseccomp's short names), and whether
/// each is this build's architecture.
fn docker_arch_is_native(name: &str) -> Option<bool> {
    const KNOWN: &[&str] = &[
        "386",
        "x86",
        "amd64",
        "x86_64",
        "x32",
        "arm",
        "arm64",
        "aarch64",
        "mips",
        "mipsle",
        "mipsel",
        "mips64",
        "mips64le",
        "mipsel64",
        "mips64n32",
        "mipsel64n32",
        "mips3l64n32",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "ppc64",
        "ppc64le",
        "s390",
        "s390x",
        "riscv64",
        "loong64",
        "loongarch64",
        "parisc",
        "parisc64",
        "m68k",
        "sh",
        "sheb",
    ];
    let native: &[&str] = if cfg!(target_arch = "x86_64") {
        &["amd64", "x86_64"]
    } else if cfg!(target_arch = "aarch64") {
        &["arm64", "aarch64"]
    } else if cfg!(target_arch = "riscv64") {
        &["riscv64"]
    } else if cfg!(target_arch = "s390x") {
        &["s390x"]
    } else {
        &[]
    };
    KNOWN.contains(&name).then(|| native.contains(&name))
}

/// A kernel release, `major.minor.patch`, compared in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KernelVersion(pub(crate) u32, pub(crate) u32, pub(crate) u32);

impl KernelVersion {
    /// What an unparsable running kernel counts as: newer than any.
    const NEWEST: KernelVersion = KernelVersion(u32::MAX, u32::MAX, u32::MAX);

    /// `6.1`, `5.10.0`, `6.18.44-fc-v1272`: two or three numbers, then
    /// anything that does not start with a digit.
    pub(crate) fn parse(text: &str) -> Option<KernelVersion> {
        let numeric = text
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap_or("");
        let mut parts = numeric.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            None | Some("") => 0,
            Some(patch) => patch.parse().ok()?,
        };
        Some(KernelVersion(major, minor, patch))
    }

    /// The running kernel, from `uname`; an unparsable release counts as
    /// new.
    pub(crate) fn running() -> KernelVersion {
        let uts = nix::sys::utsname::uname();
        uts.ok()
            .and_then(|uts| uts.release().to_str().and_then(KernelVersion::parse))
            .unwrap_or(KernelVersion::NEWEST)
    }
}

impl Policy {
    /// Reads a profile file: the OCI `linux.seccomp` object, or the
    /// docker/podman `seccomp.json` format (`archMap`, `name`, and
    /// per-rule `includes`/`excludes` on `caps`, `arches` and
    /// `minKernel`). A docker rule is kept when the process holds every
    /// capability its `includes.caps` names and none its `excludes.caps`
    /// names, when this architecture is in its `includes.arches` (if any)
    /// and not in its `excludes.arches`, and when the running kernel is at
    /// least its `includes.minKernel` and older than its
    /// `excludes.minKernel`. `archMap` gives the native architecture's
    /// entry and its `subArchitectures`.
    ///
    /// Fields only podman or docker use (`comment`, `listenerPath`,
    /// `listenerMetadata`...) are ignored; an unknown action, op,
    /// architecture, flag or capability name, a value of the wrong type,
    /// and an array where an object belongs are errors naming where they
    /// are. A key given twice takes its last value, as Go's reader takes
    /// it.
    pub fn from_json(bytes: &[u8], caps: &BTreeSet<Capability>) -> Result<Policy, SeccompError> {
        Policy::from_json_on(bytes, caps, KernelVersion::running())
    }

    /// [`Policy::from_json`] of a profile already parsed (an OCI bundle's
    /// `linux.seccomp`, read with the rest of its `config.json`).
    pub fn from_value(
        profile: &serde_json::Value,
        caps: &BTreeSet<Capability>,
    ) -> Result<Policy, SeccompError> {
        Policy::from_value_on(profile, caps, KernelVersion::running())
    }

    /// [`Policy::from_json`] as if `kernel` were running.
    pub(crate) fn from_json_on(
        bytes: &[u8],
        caps: &BTreeSet<Capability>,
        kernel: KernelVersion,
    ) -> Result<Policy, SeccompError> {
        let profile: serde_json::Value = serde_json::from_slice(bytes).map_err(SeccompError::Json)?;
        Policy::from_value_on(&profile, caps, kernel)
    }

    fn from_value_on(
        profile: &serde_json::Value,
        caps: &BTreeSet<Capability>,
        kernel: KernelVersion,
    ) -> Result<Policy, SeccompError> {
        // An object where the profile has one (see `strict_json`); a value
        // of the wrong type is refused naming where it is.
        let profile: wire::Profile = serde_path_to_error::deserialize(Strict(profile)).map_err(|error| {
            let path = error.path().to_string();
            match path.as_str() {
                "." => SeccompError::Json(error.into_inner()),
                _ => SeccompError::Invalid {
                    path,
                    message: error.into_inner().to_string(),
                },
            }
        })?;
        profile.into_policy(caps, kernel)
    }
}

/// The JSON forms: the OCI object (what `Policy` serializes as) and the
/// docker/podman profile (a superset, read by `from_json`).
mod wire {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Policy {
        default_action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default_errno_ret: Option<u64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        architectures: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        flags: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        syscalls: Vec<Syscall>,
    }

    /// Strict: a docker entry (`includes`, `excludes`, `name`) read as
    /// OCI would lose its conditions; `Policy::from_json` reads those.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(super) struct Syscall {
        #[serde(default)]
        names: Vec<String>,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        errno_ret: Option<u64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<Arg>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Arg {
        index: u32,
        value: u64,
        #[serde(default)]
        value_two: u64,
        op: String,
    }

    impl From<super::Policy> for Policy {
        fn from(policy: super::Policy) -> Policy {
            let (default_action, default_errno_ret) = policy.default_action.oci_name();
            Policy {
                default_action: default_action.to_owned(),
                default_errno_ret: default_errno_ret.map(u64::from),
                architectures: policy
                    .architectures
                    .iter()
                    .map(|a| a.as_str().to_owned())
                    .collect(),
                flags: policy.flags.iter().map(|f| f.as_str().to_owned()).collect(),
                syscalls: policy
                    .syscalls
                    .into_iter()
                    .map(|rule| {
                        let (action, errno_ret) = rule.action.oci_name();
                        Syscall {
                            names: rule.names,
                            action: action.to_owned(),
                            errno_ret: errno_ret.map(u64::from),
                            args: rule
                                .args
                                .iter()
                                .map(|arg| Arg {
                                    index: arg.index,
                                    value: arg.value,
                                    value_two: arg.value_two,
                                    op: arg.op.as_str().to_owned(),
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            }
        }
    }

    impl TryFrom<Policy> for super::Policy {
        type Error = SeccompError;

        fn try_from(policy: Policy) -> Result<super::Policy, SeccompError> {
            Profile {
                default_action: Some(policy.default_action),
                default_errno_ret: policy.default_errno_ret,
                architectures: policy.architectures,
                arch_map: Vec::new(),
                flags: policy.flags,
                syscalls: policy
                    .syscalls
                    .into_iter()
                    .map(|s| DockerSyscall {
                        name: None,
                        names: s.names,
                        action: Some(s.action),
                        errno_ret: s.errno_ret,
                        args: s.args,
                        includes: Filter::default(),
                        excludes: Filter::default(),
                    })
                    .collect(),
            }
            .into_policy(&BTreeSet::new(), KernelVersion::NEWEST)
        }
    }

    /// The docker/podman profile; the OCI object is the same without
    /// `archMap`, `name`, `includes` and `excludes`. Its lists and objects
    /// may be `null`, as Go writes an empty one (containers-common's own
    /// profile has `"args": null`): read as empty, as Go reads them.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Profile {
        #[serde(default)]
        default_action: Option<String>,
        #[serde(default)]
        default_errno_ret: Option<u64>,
        #[serde(default, deserialize_with = "null_as_empty")]
        architectures: Vec<String>,
        #[serde(default, deserialize_with = "null_as_empty")]
        arch_map: Vec<ArchMapEntry>,
        #[serde(default, deserialize_with = "null_as_empty")]
        flags: Vec<String>,
        #[serde(default, deserialize_with = "null_as_empty")]
        syscalls: Vec<DockerSyscall>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ArchMapEntry {
        architecture: String,
        #[serde(default)]
        sub_architectures: Option<Vec<String>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DockerSyscall {
        #[serde(default)]
        name: Option<String>,
        #[serde(default, deserialize_with = "null_as_empty")]
        names: Vec<String>,
        #[serde(default)]
        action: Option<String>,
        #[serde(default)]
        errno_ret: Option<u64>,
        #[serde(default, deserialize_with = "null_as_empty")]
        args: Vec<Arg>,
        #[serde(default, deserialize_with = "null_as_empty")]
        includes: Filter,
        #[serde(default, deserialize_with = "null_as_empty")]
        excludes: Filter,
    }

    #[derive(Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Filter {
        #[serde(default, deserialize_with = "null_as_empty")]
        caps: Vec<String>,
        #[serde(default, deserialize_with = "null_as_empty")]
        arches: Vec<String>,
        #[serde(default)]
        min_kernel: Option<String>,
    }

    /// A list or object that may be `null`: its empty value then.
    fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: serde::Deserializer<'de>,
        T: Default + Deserialize<'de>,
    {
        Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
    }

    fn parse_name<T: FromStr<Err = SeccompError>>(text: &str, path: String) -> Result<T, SeccompError> {
        text.parse().map_err(|error| match error {
            SeccompError::UnknownName { what, name, .. } => SeccompError::UnknownName { path, what, name },
            other => other,
        })
    }

    impl Filter {
        /// Checks every name, then says whether the filter matches: every
        /// cap held (`all_caps`) or any (`!all_caps`), this arch listed,
        /// the kernel at least `minKernel`. An empty part matches nothing
        /// (`None`: the part is not there).
        fn parts(
            &self,
            path: &str,
            caps: &BTreeSet<Capability>,
            kernel: KernelVersion,
            all_caps: bool,
        ) -> Result<[Option<bool>; 3], SeccompError> {
            let mut held = Vec::new();
            for (i, name) in self.caps.iter().enumerate() {
                let cap: Capability = name.parse().map_err(|_| SeccompError::UnknownName {
                    path: format!("{path}.caps[{i}]"),
                    what: "capability",
                    name: name.clone(),
                })?;
                held.push(caps.contains(&cap));
            }
            let mut native = Vec::new();
            for (i, name) in self.arches.iter().enumerate() {
                native.push(
                    docker_arch_is_native(name).ok_or_else(|| SeccompError::UnknownName {
                        path: format!("{path}.arches[{i}]"),
                        what: "architecture",
                        name: name.clone(),
                    })?,
                );
            }
            let min_kernel = match &self.min_kernel {
                None => None,
                Some(text) => Some(KernelVersion::parse(text).ok_or_else(|| SeccompError::Invalid {
                    path: format!("{path}.minKernel"),
                    message: format!("{text:?} is not a kernel version like \"5.8\""),
                })?),
            };
            let caps_part = (!held.is_empty()).then(|| {
                if all_caps {
                    held.iter().all(|h| *h)
                } else {
                    held.iter().any(|h| *h)
                }
            });
            let arch_part = (!native.is_empty()).then(|| native.iter().any(|n| *n));
            let kernel_part = min_kernel.map(|min| kernel >= min);
            Ok([caps_part, arch_part, kernel_part])
        }
    }

    impl Profile {
        pub(super) fn into_policy(
            self,
            caps: &BTreeSet<Capability>,
            kernel: KernelVersion,
        ) -> Result<super::Policy, SeccompError> {
            let default_name = self.default_action.ok_or_else(|| SeccompError::Invalid {
                path: "defaultAction".to_owned(),
                message: "missing".to_owned(),
            })?;
            let default_action = Action::from_oci(
                &default_name,
                self.default_errno_ret,
                "defaultAction",
                "defaultErrnoRet",
            )?;

            if !self.architectures.is_empty() && !self.arch_map.is_empty() {
                return Err(SeccompError::Invalid {
                    path: "archMap".to_owned(),
                    message: "both architectures and archMap are given: use one".to_owned(),
                });
            }
            let mut architectures = Vec::new();
            for (i, name) in self.architectures.iter().enumerate() {
                architectures.push(parse_name::<Arch>(name, format!("architectures[{i}]"))?);
            }
            for (i, entry) in self.arch_map.iter().enumerate() {
                let arch: Arch = parse_name(&entry.architecture, format!("archMap[{i}].architecture"))?;
                let mut subs = Vec::new();
                for (j, name) in entry.sub_architectures.iter().flatten().enumerate() {
                    subs.push(parse_name::<Arch>(
                        name,
                        format!("archMap[{i}].subArchitectures[{j}]"),
                    )?);
                }
                if Some(arch) == Arch::NATIVE {
                    architectures.push(arch);
                    architectures.extend(subs);
                }
            }

            let mut flags = Vec::new();
            for (i, name) in self.flags.iter().enumerate() {
                let path = format!("flags[{i}]");
                if matches!(
                    name.as_str(),
                    "SECCOMP_FILTER_FLAG_NEW_LISTENER" | "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
                ) {
                    return Err(SeccompError::Unsupported {
                        path,
                        name: name.clone(),
                        why: "it goes with SCMP_ACT_NOTIFY, which is not supported",
                    });
                }
                if name == "SECCOMP_FILTER_FLAG_TSYNC" {
                    return Err(SeccompError::Unsupported {
                        path,
                        name: name.clone(),
                        why: "the child installs the filter while it is one thread",
                    });
                }
                flags.push(parse_name::<Flag>(name, path)?);
            }

            let mut syscalls = Vec::new();
            for (i, call) in self.syscalls.into_iter().enumerate() {
                let path = format!("syscalls[{i}]");
                // Names first, whether or not the entry is kept: a typo is
                // an error on every machine, not only where it matters.
                let action_name = call.action.ok_or_else(|| SeccompError::Invalid {
                    path: format!("{path}.action"),
                    message: "missing".to_owned(),
                })?;
                let action = Action::from_oci(
                    &action_name,
                    call.errno_ret,
                    &format!("{path}.action"),
                    &format!("{path}.errnoRet"),
                )?;
                let mut args = Vec::new();
                for (j, arg) in call.args.iter().enumerate() {
                    let arg_path = format!("{path}.args[{j}]");
                    let op = parse_name::<ArgOp>(&arg.op, format!("{arg_path}.op"))?;
                    if arg.index > 5 {
                        return Err(SeccompError::Invalid {
                            path: format!("{arg_path}.index"),
                            message: format!("{} is not an argument (0 to 5)", arg.index),
                        });
                    }
                    args.push(ArgCondition {
                        index: arg.index,
                        value: arg.value,
                        value_two: arg.value_two,
                        op,
                    });
                }
                let [inc_caps, inc_arch, inc_kernel] =
                    call.includes
                        .parts(&format!("{path}.includes"), caps, kernel, true)?;
                let [exc_caps, exc_arch, exc_kernel] =
                    call.excludes
                        .parts(&format!("{path}.excludes"), caps, kernel, false)?;
                let included = [inc_caps, inc_arch, inc_kernel].iter().all(|p| p.unwrap_or(true));
                let excluded = [exc_caps, exc_arch, exc_kernel]
                    .iter()
                    .any(|p| p.unwrap_or(false));

                let names = match (call.name, call.names.is_empty()) {
                    (Some(_), false) => {
                        return Err(SeccompError::Invalid {
                            path,
                            message: "both name and names are given: use one".to_owned(),
                        })
                    }
                    (Some(name), true) => vec![name],
                    (None, _) => call.names,
                };
                if names.is_empty() {
                    return Err(SeccompError::Invalid {
                        path: format!("{path}.names"),
                        message: "no syscall named".to_owned(),
                    });
                }
                if included && !excluded {
                    syscalls.push(Rule { names, action, args });
                }
            }

            Ok(super::Policy {
                default_action,
                architectures,
                flags,
                syscalls,
            })
        }
    }
}
