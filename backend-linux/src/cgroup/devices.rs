//! The container's device allow list (OCI `linux.resources.devices`).
//!
//! Rules apply in order, a later rule overriding an earlier one for the
//! devices and the accesses they share; a device or access no rule covers
//! keeps what the cgroup inherited from its parent. An `a` rule covers every
//! device and every access, so it overrides everything before it: a list
//! that starts with "deny `a`" is an allow list.
//!
//! - v1 (a `devices` hierarchy is mounted): each rule is one write, to
//!   `devices.deny` or `devices.allow`, as `c 1:3 rwm`.
//! - v2: a `BPF_CGROUP_DEVICE` program made from the rules, attached to the
//!   container's cgroup2 directory with `BPF_F_ALLOW_MULTI`, so the
//!   programs of the cgroups above still apply too.
//!
//! The program is assembled here from a handful of instructions, as runc
//! and crun do, rather than with an eBPF toolchain crate: see
//! [`program`]. The `bpf` calls are in `bpf`; a program another process
//! loaded is taken rather than loaded again where `shared_programs` finds
//! one.
//!
//! v1's own quirk is not reproduced in v2: in v1 a deny rule only takes
//! access away from an earlier allow rule that names exactly the same
//! device (a `deny c 1:3 w` after `allow c *:* rwm` leaves 1:3 writable).
//! Lists whose later rules name the same devices as the earlier ones, as
//! the OCI default does, mean the same in both.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use super::error::CgroupError;
use super::limits::Setting;
use super::{bpf, shared_programs};

/// One device cgroup rule (OCI `linux.resources.devices` entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceRule {
    /// Grant (`devices.allow`) or refuse (`devices.deny`) the access.
    pub allow: bool,
    /// Which kind of device; [`DeviceType::All`] covers every device.
    pub kind: DeviceType,
    /// The major number; `None` for any (`*`).
    pub major: Option<u32>,
    /// The minor number; `None` for any (`*`).
    pub minor: Option<u32>,
    /// The accesses granted or refused.
    pub access: DeviceAccess,
}

/// A device rule's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// Every device, with every access (`a`).
    All,
    /// A character device (`c`).
    Char,
    /// A block device (`b`).
    Block,
}

/// The accesses a rule covers: a subset of `rwm`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeviceAccess {
    /// Opening for reading (`r`).
    pub read: bool,
    /// Opening for writing (`w`).
    pub write: bool,
    /// Creating a device node (`m`).
    pub mknod: bool,
}

/// A device access string with letters other than `r`, `w` and `m`, or
/// none at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid device access {input:?}: expected a non-empty subset of \"rwm\"")]
pub struct ParseDeviceAccessError {
    /// What was given.
    pub input: String,
}

impl DeviceType {
    /// The letter of the cgroup formats: `a`, `c` or `b`.
    pub fn letter(self) -> char {
        match self {
            DeviceType::All => 'a',
            DeviceType::Char => 'c',
            DeviceType::Block => 'b',
        }
    }
}

impl DeviceAccess {
    /// Every access: `rwm`.
    pub const ALL: DeviceAccess = DeviceAccess {
        read: true,
        write: true,
        mknod: true,
    };

    /// Whether it covers no access at all.
    pub fn is_empty(self) -> bool {
        !(self.read || self.write || self.mknod)
    }

    /// The kernel's `BPF_DEVCG_ACC_*` bits: `MKNOD` 1, `READ` 2, `WRITE` 4.
    fn bits(self) -> i32 {
        [
            (self.mknod, BPF_DEVCG_ACC_MKNOD),
            (self.read, BPF_DEVCG_ACC_READ),
            (self.write, BPF_DEVCG_ACC_WRITE),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .fold(0, |bits, (_, bit)| bits | bit)
    }
}

impl FromStr for DeviceAccess {
    type Err = ParseDeviceAccessError;

    /// A non-empty subset of `rwm`, in any order (repeats are harmless, as
    /// for the kernel).
    fn from_str(input: &str) -> Result<DeviceAccess, ParseDeviceAccessError> {
        let error = || ParseDeviceAccessError {
            input: input.to_owned(),
        };
        let mut access = DeviceAccess::default();
        for letter in input.chars() {
            match letter {
                'r' => access.read = true,
                'w' => access.write = true,
                'm' => access.mknod = true,
                _ => return Err(error()),
            }
        }
        if access.is_empty() {
            return Err(error());
        }
        Ok(access)
    }
}

impl fmt::Display for DeviceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, letter) in [(self.read, "r"), (self.write, "w"), (self.mknod, "m")] {
            if on {
                f.write_str(letter)?;
            }
        }
        Ok(())
    }
}

impl DeviceRule {
    /// The OCI default allow list, in order: deny all (`a`, rwm), then
    /// allow rwm: c 1:3 null, c 1:5 zero, c 1:7 full, c 1:8 random, c 1:9
    /// urandom, c 5:0 tty, c 5:1 console, c 5:2 ptmx, c 136:* pts. No
    /// `b *:* m` / `c *:* m` wildcard: mknod of other devices is refused.
    pub fn container_default() -> Vec<DeviceRule> {
        let char_device = |major, minor| DeviceRule {
            allow: true,
            kind: DeviceType::Char,
            major: Some(major),
            minor,
            access: DeviceAccess::ALL,
        };
        let mut rules = vec![DeviceRule {
            allow: false,
            kind: DeviceType::All,
            major: None,
            minor: None,
            access: DeviceAccess::ALL,
        }];
        rules.extend(
            [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2)]
                .into_iter()
                .map(|(major, minor)| char_device(major, Some(minor))),
        );
        rules.push(char_device(136, None));
        rules
    }

    /// The line written to `devices.allow` or `devices.deny`: `c 1:3 rwm`,
    /// `a *:* rwm`, `c 136:* rwm`.
    pub fn v1_line(&self) -> String {
        let number = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind.letter(),
            number(self.major),
            number(self.minor),
            self.access
        )
    }

    /// Why the rule cannot be applied, if it cannot. The kernel's v1
    /// format reads nothing after an `a`: such a rule stands for every
    /// device and every access, so one that says otherwise is refused (in
    /// both versions, so that a rule means the same everywhere).
    fn invalid(&self) -> Option<&'static str> {
        if self.access.is_empty() {
            Some("a device rule covers at least one of r, w and m")
        } else if self.kind == DeviceType::All && (self.major.is_some() || self.minor.is_some()) {
            Some("an 'a' rule covers every device: its numbers must be *:*")
        } else if self.kind == DeviceType::All && self.access != DeviceAccess::ALL {
            Some("an 'a' rule covers every access: its access must be rwm")
        } else {
            None
        }
    }
}

impl fmt::Display for DeviceRule {
    /// `allow c 1:3 rwm`, `deny a *:* rwm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.allow { "allow" } else { "deny" };
        write!(f, "{verdict} {}", self.v1_line())
    }
}

/// Checks every rule; the first that cannot be applied is an error naming
/// it and its place in the list.
pub(crate) fn validate(rules: &[DeviceRule]) -> Result<(), CgroupError> {
    for (index, rule) in rules.iter().enumerate() {
        if let Some(reason) = rule.invalid() {
            return Err(CgroupError::InvalidDeviceRule {
                index,
                rule: rule.to_string(),
                reason,
            });
        }
    }
    Ok(())
}

/// The v1 writes, in order: `devices.deny` for a deny rule,
/// `devices.allow` for an allow rule. The rules must be [`validate`]d.
pub(crate) fn v1_settings(rules: &[DeviceRule]) -> Vec<Setting> {
    rules
        .iter()
        .map(|rule| {
            let file = if rule.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            Setting::new("devices", file, rule.v1_line())
        })
        .collect()
}

// --- The eBPF program -----------------------------------------------------

/// `BPF_DEVCG_ACC_*`, the high 16 bits of `access_type`.
const BPF_DEVCG_ACC_MKNOD: i32 = 1;
const BPF_DEVCG_ACC_READ: i32 = 2;
const BPF_DEVCG_ACC_WRITE: i32 = 4;
/// `BPF_DEVCG_DEV_*`, the low 16 bits of `access_type`.
const BPF_DEVCG_DEV_BLOCK: i32 = 1;
const BPF_DEVCG_DEV_CHAR: i32 = 2;

/// One eBPF instruction, `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    /// `dst_reg:4, src_reg:4`, as the C bit-fields lay them out.
    regs: u8,
    off: i16,
    imm: i32,
}

// Instruction classes, operations and sources (linux/bpf_common.h, bpf.h).
const BPF_LDX: u8 = 0x01;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const BPF_MUL: u8 = 0x20;
const BPF_OR: u8 = 0x40;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_NEG: u8 = 0x80;
const BPF_XOR: u8 = 0xa0;
const BPF_MOV: u8 = 0xb0;
const BPF_EXIT: u8 = 0x90;

/// The registers the program uses: `r0` the verdict (before it, a rule's
/// tests), `r1` the context (then scratch), `r2` the device type, `r3` the
/// accesses not decided yet, `r4` the major, `r5` the minor, `r6` the
/// accesses refused.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;

impl Insn {
    fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        #[cfg(target_endian = "little")]
        let regs = dst | src << 4;
        #[cfg(target_endian = "big")]
        let regs = dst << 4 | src;
        Insn { code, regs, off, imm }
    }

    /// `dst = *(u32 *)(src + off)`
    fn load_word(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
    }

    /// `dst = (u32) (dst <op> imm)`
    fn alu32(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
    }

    /// `dst = (u32) dst <op> (u32) src`
    fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
        Insn::new(BPF_ALU | op | BPF_X, dst, src, 0, 0)
    }

    /// `dst = dst <op> (s64) imm`
    fn alu64(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm)
    }

    /// `dst = dst <op> src`
    fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
        Insn::new(BPF_ALU64 | op | BPF_X, dst, src, 0, 0)
    }

    fn exit() -> Insn {
        Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }

    /// The instruction as the kernel reads it, `struct bpf_insn`'s bytes.
    pub(super) fn to_bytes(self) -> [u8; 8] {
        let [off0, off1] = self.off.to_ne_bytes();
        let [imm0, imm1, imm2, imm3] = self.imm.to_ne_bytes();
        [self.code, self.regs, off0, off1, imm0, imm1, imm2, imm3]
    }

    #[cfg(test)]
    fn dst(self) -> usize {
        #[cfg(target_endian = "little")]
        return usize::from(self.regs & 0xf);
        #[cfg(target_endian = "big")]
        return usize::from(self.regs >> 4);
    }

    #[cfg(test)]
    fn src(self) -> usize {
        #[cfg(target_endian = "little")]
        return usize::from(self.regs >> 4);
        #[cfg(target_endian = "big")]
        return usize::from(self.regs & 0xf);
    }
}

/// The `BPF_PROG_TYPE_CGROUP_DEVICE` program for `rules` (which must be
/// [`validate`]d).
///
/// The kernel asks once per open or mknod, with the set of accesses it
/// needs (`rw` for an `O_RDWR` open). Each access is decided by the last
/// rule that covers the device and that access, so the program reads the
/// rules from the last to the first, keeping in `r3` the accesses not
/// decided yet: an allow rule that matches the device takes its accesses
/// out of `r3`; a deny rule that matches the device adds to `r6` those of
/// its accesses still in `r3`. Anything in `r6` refuses; else an empty
/// `r3` allows, and what no rule decides is allowed, which leaves it to
/// the cgroups above, as v1 does.
///
/// An `a` rule decides everything, so the rules before the last one are
/// dropped, and the last one becomes the final verdict: a deny-all also
/// refuses what is left in `r3`.
///
/// The program has no branch: the verifier walks a branch once for each
/// way it can go, and it walks a straight line once. The default list's
/// program, 127 instructions, loads in 0.13 ms (the first load in a
/// process, on the launch's path); with a jump per test it was 96 and
/// took 0.28 ms. A rule's tests are differences (`value ^ wanted`, 32
/// bits) or'ed together, 0 only when each holds; the sign bit of their
/// negation is 1 exactly when the device does not match, and that bit
/// times the rule's accesses, xor the accesses, leaves those of a match.
/// No register may be known only as "0 or -1" (what an arithmetic shift
/// of the sign gives): the verifier follows each of the two on its own
/// from there, and walked 12,276 instructions for a program of 138. The
/// program is 12 instructions (13 under a deny-all), plus at most 14 a
/// rule (13 for an allow rule).
pub(crate) fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let last_all = rules.iter().rposition(|rule| rule.kind == DeviceType::All);
    let (rest, default) = match last_all {
        Some(index) => (&rules[index + 1..], rules[index].allow),
        None => (rules, true),
    };
    let mut insns = vec![
        // r2 = type, r3 = accesses, from `access_type`; r4 = major,
        // r5 = minor; r6 = accesses refused, none yet.
        Insn::load_word(R2, R1, 0),
        Insn::alu32(BPF_AND, R2, 0xffff),
        Insn::load_word(R3, R1, 0),
        Insn::alu32(BPF_RSH, R3, 16),
        Insn::load_word(R4, R1, 4),
        Insn::load_word(R5, R1, 8),
        Insn::alu64(BPF_MOV, R6, 0),
    ];
    for rule in rest.iter().rev() {
        // Only an `a` rule leaves the type open, and `rest` has none.
        let kind = match rule.kind {
            DeviceType::Block => BPF_DEVCG_DEV_BLOCK,
            DeviceType::Char | DeviceType::All => BPF_DEVCG_DEV_CHAR,
        };
        // r0 = the tests' differences, or'ed. Bit patterns: the 32-bit
        // operations work on the low 32 bits and clear the rest, so no
        // value is sign-extended.
        let as_imm = |n: u32| i32::from_ne_bytes(n.to_ne_bytes());
        insns.extend([Insn::alu32_reg(BPF_MOV, R0, R2), Insn::alu32(BPF_XOR, R0, kind)]);
        for (register, value) in [(R4, rule.major), (R5, rule.minor)] {
            if let Some(value) = value {
                insns.extend([
                    Insn::alu32_reg(BPF_MOV, R1, register),
                    Insn::alu32(BPF_XOR, R1, as_imm(value)),
                    Insn::alu32_reg(BPF_OR, R0, R1),
                ]);
            }
        }
        // r0 = 1 if the device does not match, else 0: a difference
        // below 2^32 is 0 exactly when its negation's sign bit is clear.
        insns.extend([Insn::alu64(BPF_NEG, R0, 0), Insn::alu64(BPF_RSH, R0, 63)]);
        // r0 * bits ^ bits: the rule's accesses for a match, else 0.
        let bits = rule.access.bits();
        insns.push(Insn::alu64(BPF_MUL, R0, bits));
        if rule.allow {
            // r3 &= !(what the rule allows): the xor inverts too.
            insns.extend([Insn::alu64(BPF_XOR, R0, !bits), Insn::alu64_reg(BPF_AND, R3, R0)]);
        } else {
            insns.extend([
                Insn::alu64(BPF_XOR, R0, bits),
                Insn::alu64_reg(BPF_AND, R0, R3),
                Insn::alu64_reg(BPF_OR, R6, R0),
            ]);
        }
    }
    // r0 = 1 (allow) when nothing is refused (and, under a deny-all,
    // nothing is left undecided), else 0.
    insns.push(Insn::alu64_reg(BPF_MOV, R0, R6));
    if !default {
        insns.push(Insn::alu64_reg(BPF_OR, R0, R3));
    }
    insns.extend([
        Insn::alu64(BPF_NEG, R0, 0),
        Insn::alu64(BPF_RSH, R0, 63),
        Insn::alu64(BPF_XOR, R0, 1),
        Insn::exit(),
    ]);
    insns
}

// --- Loading and attaching ------------------------------------------------

/// Attaches the program made from `rules` to the cgroup2 directory `dir`
/// (open, at `path`, named in errors), beside the programs already there
/// (`BPF_F_ALLOW_MULTI`): an access passes only if every program of the
/// cgroup and of the cgroups above allows it.
///
/// The cgroup holds on to the program, which goes when the cgroup is
/// removed and this process no longer keeps it (see [`LOADED`]).
pub fn attach_device_program(
    dir: BorrowedFd<'_>,
    path: &Path,
    rules: &[DeviceRule],
) -> Result<(), CgroupError> {
    validate(rules)?;
    let program = loaded(program(rules), path)?;
    bpf::attach(dir, &program, path)
}

/// How many programs a process keeps loaded.
const PROGRAMS_KEPT: usize = 8;

/// The programs this process loaded last, with their instructions: a
/// launcher that starts many containers with the same rules has each
/// program verified by the kernel once, not once a container (0.13 ms).
/// One program may be attached to any number of cgroups.
static LOADED: Mutex<Vec<(Vec<Insn>, Arc<OwnedFd>)>> = Mutex::new(Vec::new());

/// The program of `insns`: loaded earlier by this process, else the one
/// another process loaded if it is still there (see `shared_programs`),
/// else loaded now.
fn loaded(insns: Vec<Insn>, path: &Path) -> Result<Arc<OwnedFd>, CgroupError> {
    let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, program)) = loaded.iter().find(|(kept, _)| *kept == insns) {
        return Ok(Arc::clone(program));
    }
    let program = match shared_programs::find(&insns) {
        Some(program) => program,
        None => {
            let program = bpf::load(&insns, path)?;
            shared_programs::remember(&insns, program.as_fd());
            program
        }
    };
    let program = Arc::new(program);
    if loaded.len() == PROGRAMS_KEPT {
        loaded.remove(0);
    }
    loaded.push((insns, Arc::clone(&program)));
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        kind: DeviceType,
        major: Option<u32>,
        minor: Option<u32>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.parse().expect("valid access"),
        }
    }

    #[test]
    fn access_strings_are_subsets_of_rwm() {
        let access: DeviceAccess = "mr".parse().expect("valid");
        assert_eq!(
            access,
            DeviceAccess {
                read: true,
                write: false,
                mknod: true
            }
        );
        assert_eq!(access.to_string(), "rm");
        assert_eq!("rwm".parse::<DeviceAccess>(), Ok(DeviceAccess::ALL));
        assert_eq!(
            "w".parse::<DeviceAccess>().map(|a| a.to_string()),
            Ok("w".to_owned())
        );
        for bad in ["", "rwx", "R", "r w", "a"] {
            let error = bad.parse::<DeviceAccess>().expect_err(bad);
            assert_eq!(error.input, bad);
        }
    }

    #[test]
    fn v1_lines_and_files() {
        let settings = v1_settings(&DeviceRule::container_default());
        let written: Vec<(&str, &str)> = settings
            .iter()
            .map(|s| (s.file.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            written,
            [
                ("devices.deny", "a *:* rwm"),
                ("devices.allow", "c 1:3 rwm"),
                ("devices.allow", "c 1:5 rwm"),
                ("devices.allow", "c 1:7 rwm"),
                ("devices.allow", "c 1:8 rwm"),
                ("devices.allow", "c 1:9 rwm"),
                ("devices.allow", "c 5:0 rwm"),
                ("devices.allow", "c 5:1 rwm"),
                ("devices.allow", "c 5:2 rwm"),
                ("devices.allow", "c 136:* rwm"),
            ]
        );
        let odd = [
            rule(true, DeviceType::Block, None, Some(0), "m"),
            rule(false, DeviceType::Char, Some(10), Some(237), "wr"),
        ];
        let written: Vec<(String, String)> =
            v1_settings(&odd).into_iter().map(|s| (s.file, s.value)).collect();
        assert_eq!(
            written,
            [
                ("devices.allow".to_owned(), "b *:0 m".to_owned()),
                ("devices.deny".to_owned(), "c 10:237 rw".to_owned())
            ]
        );
        assert_eq!(odd[1].to_string(), "deny c 10:237 rw");
    }

    #[test]
    fn rules_the_format_cannot_express_are_named() {
        let cases = [
            (
                rule(true, DeviceType::All, Some(1), None, "rwm"),
                "allow a 1:* rwm",
            ),
            (
                rule(false, DeviceType::All, None, Some(3), "rwm"),
                "deny a *:3 rwm",
            ),
            (rule(false, DeviceType::All, None, None, "r"), "deny a *:* r"),
            (
                DeviceRule {
                    access: DeviceAccess::default(),
                    ..rule(true, DeviceType::Char, Some(1), Some(3), "r")
                },
                "allow c 1:3 ",
            ),
        ];
        for (bad, shown) in cases {
            let mut rules = DeviceRule::container_default();
            rules.insert(2, bad);
            match validate(&rules) {
                Err(CgroupError::InvalidDeviceRule { index, rule, reason }) => {
                    assert_eq!((index, rule.as_str()), (2, shown), "{reason}");
                }
                other => panic!("{shown}: {other:?}"),
            }
        }
        assert!(validate(&DeviceRule::container_default()).is_ok());
    }

    /// Runs the program on one request, as the kernel would: the
    /// instructions the assembler makes, and nothing else.
    fn run(program: &[Insn], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
        const CTX: u64 = 0x1000;
        let ctx = [(access << 16 | kind) as u32, major, minor];
        let mut regs = [0u64; 11];
        regs[1] = CTX;
        for (pc, insn) in program.iter().enumerate() {
            let (dst, src) = (insn.dst(), insn.src());
            if insn.code == BPF_LDX | BPF_MEM | BPF_W {
                let offset = regs[src] - CTX + insn.off as u64;
                assert_eq!(offset % 4, 0, "aligned context load");
                regs[dst] = u64::from(ctx[offset as usize / 4]);
                continue;
            }
            if insn.code == BPF_JMP | BPF_EXIT {
                assert_eq!(pc, program.len() - 1, "an exit before the end");
                return regs[0];
            }
            let class = insn.code & 0x07;
            assert!(
                class == BPF_ALU || class == BPF_ALU64,
                "opcode {:#x} at {pc}",
                insn.code
            );
            let operand = if insn.code & BPF_X != 0 {
                regs[src]
            } else {
                insn.imm as i64 as u64
            };
            let value = regs[dst];
            let result = match insn.code & 0xf0 {
                BPF_MUL => value.wrapping_mul(operand),
                BPF_OR => value | operand,
                BPF_AND => value & operand,
                BPF_RSH if class == BPF_ALU => u64::from(value as u32 >> operand),
                BPF_RSH => value >> operand,
                BPF_NEG => value.wrapping_neg(),
                BPF_XOR => value ^ operand,
                BPF_MOV => operand,
                op => panic!("operation {op:#x} at {pc}"),
            };
            // A 32-bit operation works on the low halves and clears the
            // upper one.
            regs[dst] = if class == BPF_ALU {
                u64::from(result as u32)
            } else {
                result
            };
        }
        panic!("the program did not exit");
    }

    /// What the rules mean, written plainly: each access is decided by the
    /// last rule that covers the device and the access; what none decides
    /// is inherited (allowed here).
    fn expected(rules: &[DeviceRule], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
        let allowed = [BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE]
            .into_iter()
            .filter(|bit| access & bit != 0)
            .all(|bit| {
                rules
                    .iter()
                    .rev()
                    .find(|rule| {
                        let kind_matches = match rule.kind {
                            DeviceType::All => true,
                            DeviceType::Char => kind == BPF_DEVCG_DEV_CHAR,
                            DeviceType::Block => kind == BPF_DEVCG_DEV_BLOCK,
                        };
                        kind_matches
                            && rule.major.is_none_or(|m| m == major)
                            && rule.minor.is_none_or(|m| m == minor)
                            && rule.access.bits() & bit != 0
                    })
                    .is_none_or(|rule| rule.allow)
            });
        u64::from(allowed)
    }

    /// Every request on a grid of devices around the rules' numbers.
    fn check_against_the_meaning(rules: &[DeviceRule]) {
        let program = program(rules);
        let numbers = [0, 1, 2, 3, 5, 7, 136, 237, u32::MAX];
        for kind in [BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR] {
            for access in 1..8 {
                for major in numbers {
                    for minor in numbers {
                        assert_eq!(
                            run(&program, kind, access, major, minor),
                            expected(rules, kind, access, major, minor),
                            "type {kind} access {access} {major}:{minor}, rules {rules:#?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_verifier_walks_each_instruction_once() {
        if !crate::root_gate::require_root("the_verifier_walks_each_instruction_once") {
            return;
        }
        let (c, b) = (DeviceType::Char, DeviceType::Block);
        let mut long = DeviceRule::container_default();
        long.extend((0..20).map(|minor| rule(minor % 3 != 0, c, Some(10), Some(minor), "rw")));
        long.push(rule(false, b, None, None, "m"));
        for rules in [DeviceRule::container_default(), long] {
            let program = program(&rules);
            // A straight line: nothing to walk twice, no state to keep.
            assert_eq!(bpf::verifier_walk(&program), program.len());
        }
    }

    #[test]
    fn a_program_is_loaded_once_and_kept_among_the_last_few() {
        if !crate::root_gate::require_root("a_program_is_loaded_once_and_kept_among_the_last_few") {
            return;
        }
        let path = Path::new("/sys/fs/cgroup/test");
        let list = |minor: u32| vec![rule(true, DeviceType::Char, Some(99), Some(minor), "r")];
        let first = loaded(program(&list(0)), path).expect("load");
        let again = loaded(program(&list(0)), path).expect("load");
        assert!(Arc::ptr_eq(&first, &again), "the same rules were loaded twice");
        let other = loaded(program(&list(1)), path).expect("load");
        assert!(!Arc::ptr_eq(&first, &other), "other rules got the same program");
        // Other tests load too: enough new lists push the first one out.
        for minor in 2..2 + PROGRAMS_KEPT as u32 {
            loaded(program(&list(minor)), path).expect("load");
        }
        let reloaded = loaded(program(&list(0)), path).expect("load");
        assert!(!Arc::ptr_eq(&first, &reloaded), "more than {PROGRAMS_KEPT} kept");
        let kept = LOADED.lock().unwrap_or_else(PoisonError::into_inner).len();
        assert!(kept <= PROGRAMS_KEPT, "{kept} kept");
    }

    #[test]
    fn the_default_list_allows_only_its_devices() {
        let rules = DeviceRule::container_default();
        let program = program(&rules);
        let (char_, block) = (BPF_DEVCG_DEV_CHAR, BPF_DEVCG_DEV_BLOCK);
        let rw = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
        assert_eq!(run(&program, char_, rw, 1, 3), 1, "/dev/null");
        assert_eq!(run(&program, char_, BPF_DEVCG_ACC_MKNOD, 136, 42), 1, "a pts");
        assert_eq!(run(&program, char_, rw, 10, 237), 0, "/dev/loop-control");
        assert_eq!(run(&program, char_, rw, 1, 1), 0, "/dev/mem");
        assert_eq!(run(&program, block, BPF_DEVCG_ACC_MKNOD, 7, 0), 0, "mknod loop0");
        assert_eq!(run(&program, block, BPF_DEVCG_ACC_READ, 1, 3), 0, "a block 1:3");
        // 7 to load, 13 a rule (10 for c 136:*), 6 to end under a deny-all.
        assert_eq!(program.len(), 7 + 8 * 13 + 10 + 6);
        check_against_the_meaning(&rules);
    }

    #[test]
    fn later_rules_override_earlier_ones_access_by_access() {
        let c = DeviceType::Char;
        let lists = [
            vec![],
            vec![rule(false, DeviceType::All, None, None, "rwm")],
            vec![rule(true, DeviceType::All, None, None, "rwm")],
            // Write taken away from /dev/null, given back, taken again.
            vec![
                rule(false, DeviceType::All, None, None, "rwm"),
                rule(true, c, Some(1), Some(3), "rwm"),
                rule(false, c, Some(1), Some(3), "w"),
            ],
            vec![
                rule(false, DeviceType::All, None, None, "rwm"),
                rule(true, c, Some(1), None, "rwm"),
                rule(false, c, Some(1), Some(3), "w"),
                rule(true, c, Some(1), Some(3), "w"),
                rule(false, DeviceType::Block, None, None, "m"),
            ],
            // Without an `a` rule: the rest is inherited.
            vec![
                rule(false, c, None, None, "m"),
                rule(true, c, Some(1), Some(3), "m"),
                rule(false, DeviceType::Block, Some(7), None, "rw"),
            ],
            // Rules before an allow-all are overridden by it.
            vec![
                rule(false, c, Some(1), Some(3), "rwm"),
                rule(true, DeviceType::All, None, None, "rwm"),
                rule(false, c, None, Some(5), "r"),
                rule(true, c, Some(u32::MAX), Some(u32::MAX), "r"),
            ],
        ];
        for rules in lists {
            check_against_the_meaning(&rules);
        }
        // Rules an allow-all overrides are not in the program at all.
        let overridden = [
            rule(false, c, Some(1), Some(3), "rwm"),
            rule(true, DeviceType::All, None, None, "rwm"),
        ];
        assert_eq!(program(&overridden), program(&[]));
    }

    #[test]
    fn pseudo_random_lists_mean_what_they_say() {
        // A small linear congruential generator: reproducible, no crate.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        for _ in 0..200 {
            let len = next(8) as usize;
            let rules: Vec<DeviceRule> = (0..len)
                .map(|_| {
                    let number = |n: u64| [None, Some(1), Some(3), Some(7)][n as usize];
                    let kind = [DeviceType::All, DeviceType::Char, DeviceType::Block][next(3) as usize];
                    if kind == DeviceType::All {
                        return rule(next(2) == 0, kind, None, None, "rwm");
                    }
                    let access = ["r", "w", "m", "rw", "rm", "wm", "rwm"][next(7) as usize];
                    rule(next(2) == 0, kind, number(next(4)), number(next(4)), access)
                })
                .collect();
            check_against_the_meaning(&rules);
        }
    }

    #[test]
    fn instructions_are_laid_out_as_struct_bpf_insn() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        let insn = Insn::load_word(R4, R1, 4);
        assert_eq!((insn.code, insn.dst(), insn.src(), insn.off), (0x61, 4, 1, 4));
        #[cfg(target_endian = "little")]
        assert_eq!(insn.regs, 0x14);
        assert_eq!(Insn::exit().code, 0x95);
        let insn = Insn::alu64_reg(BPF_OR, R6, R1);
        assert_eq!((insn.code, insn.dst(), insn.src()), (0x4f, 6, 1));
        assert_eq!(Insn::alu64(BPF_MUL, R0, 6).code, 0x27);
        assert_eq!(Insn::alu32(BPF_XOR, R0, 2).code, 0xa4);
    }
}
