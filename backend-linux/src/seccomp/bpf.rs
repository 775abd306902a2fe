//! Classic BPF as seccomp runs it: the few instructions the compiler's
//! front emits, and what each action returns.

use cradle_core::confinement::BpfInstruction;

use super::policy::Arch;

// Opcode fields (linux/bpf_common.h).
const BPF_LD: u16 = 0x00;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_JMP: u16 = 0x05;
const BPF_JEQ: u16 = 0x10;
const BPF_JGE: u16 = 0x30;
const BPF_K: u16 = 0x00;
const BPF_RET: u16 = 0x06;

/// Where `struct seccomp_data` holds the syscall number.
pub(super) const NR_OFFSET: u32 = 0;
/// Where `struct seccomp_data` holds the `AUDIT_ARCH_*` of the syscall's
/// ABI.
pub(super) const ARCH_OFFSET: u32 = 4;

/// The `AUDIT_ARCH_*` of `arch` (linux/audit.h), for the architectures
/// the compiler's fronts are made for (x32 shares x86-64's).
pub(super) const fn audit_arch(arch: Arch) -> Option<u32> {
    match arch {
        // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
        Arch::X86_64 => Some(0xc000_003e),
        // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
        Arch::Aarch64 => Some(0xc000_00b7),
        // EM_386 | __AUDIT_ARCH_LE
        Arch::X86 => Some(0x4000_0003),
        _ => None,
    }
}

/// The `AUDIT_ARCH_*` of this build's architecture, where a front is
/// made for it.
#[cfg(test)]
pub(super) const NATIVE_AUDIT_ARCH: Option<u32> = match Arch::NATIVE {
    Some(arch) => audit_arch(arch),
    None => None,
};

/// `A = seccomp_data[offset]` (32 bits).
pub(super) fn load(offset: u32) -> BpfInstruction {
    BpfInstruction {
        code: BPF_LD | BPF_W | BPF_ABS,
        jt: 0,
        jf: 0,
        k: offset,
    }
}

/// `if A == k` skip `jt` instructions, else `jf`.
pub(super) fn jump_if_equal(k: u32, jt: u8, jf: u8) -> BpfInstruction {
    BpfInstruction {
        code: BPF_JMP | BPF_JEQ | BPF_K,
        jt,
        jf,
        k,
    }
}

/// `if A >= k` skip `jt` instructions, else `jf`.
pub(super) fn jump_if_at_least(k: u32, jt: u8, jf: u8) -> BpfInstruction {
    BpfInstruction {
        code: BPF_JMP | BPF_JGE | BPF_K,
        jt,
        jf,
        k,
    }
}

/// Return `k`: the action (linux/seccomp.h's `SECCOMP_RET_*`).
pub(super) fn ret(k: u32) -> BpfInstruction {
    BpfInstruction {
        code: BPF_RET | BPF_K,
        jt: 0,
        jf: 0,
        k,
    }
}
