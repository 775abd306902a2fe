//! What a program decides from a syscall's number alone: the value it
//! returns for every call of that number and ABI, whatever the arguments,
//! where its path for them reads nothing else. The kernel makes the same
//! test when a filter is installed, to fill its cache of syscalls always
//! allowed (`seccomp_is_const_allow`).

use cradle_core::confinement::BpfInstruction;

use super::bpf::{ARCH_OFFSET, NR_OFFSET};

/// What `program` returns for syscall `nr` of the ABI `arch` (an
/// `AUDIT_ARCH_*`), if its path for them loads only those two and takes
/// only constant jumps; `None` where it loads an argument or the
/// instruction pointer, or does anything this does not follow (which is
/// never wrong: the number is then left to the whole program).
pub(super) fn decided_by_number(program: &[BpfInstruction], arch: u32, nr: u32) -> Option<u32> {
    let mut a = 0u32;
    let mut pc = 0usize;
    loop {
        let BpfInstruction { code, jt, jf, k } = *program.get(pc)?;
        pc += 1;
        match code {
            // BPF_LD | BPF_W | BPF_ABS
            0x20 => {
                a = match k {
                    NR_OFFSET => nr,
                    ARCH_OFFSET => arch,
                    _ => return None,
                }
            }
            // BPF_LD | BPF_IMM
            0x00 => a = k,
            // BPF_ALU | BPF_AND | BPF_K
            0x54 => a &= k,
            // BPF_JMP | BPF_JA
            0x05 => pc = pc.checked_add(usize::try_from(k).ok()?)?,
            // BPF_JMP | BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, each | BPF_K
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match code {
                    0x15 => a == k,
                    0x25 => a > k,
                    0x35 => a >= k,
                    _ => a & k != 0,
                };
                pc += usize::from(if taken { jt } else { jf });
            }
            // BPF_RET | BPF_K
            0x06 => return Some(k),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bpf;
    use super::*;

    const X86_64: u32 = 0xc000_003e;

    #[test]
    fn a_path_on_the_number_alone_is_decided_and_one_through_an_argument_is_not() {
        // arch == x86_64 ? (nr >= 10 ? (nr == 12 ? args[0] : allow) : EPERM) : kill
        let program = [
            bpf::load(ARCH_OFFSET),
            bpf::jump_if_equal(X86_64, 0, 6),
            bpf::load(NR_OFFSET),
            bpf::jump_if_at_least(10, 0, 3),
            bpf::jump_if_equal(12, 0, 1),
            bpf::load(16),
            bpf::ret(0x7fff_0000),
            bpf::ret(0x0005_0001),
            bpf::ret(0),
        ];
        assert_eq!(decided_by_number(&program, X86_64, 3), Some(0x0005_0001));
        assert_eq!(decided_by_number(&program, X86_64, 11), Some(0x7fff_0000));
        assert_eq!(decided_by_number(&program, X86_64, 12), None);
        assert_eq!(decided_by_number(&program, 0x4000_0003, 12), Some(0));
    }

    #[test]
    fn running_off_the_end_or_an_unknown_instruction_decides_nothing() {
        let off = [bpf::load(NR_OFFSET), bpf::jump_if_equal(1, 5, 0)];
        assert_eq!(decided_by_number(&off, X86_64, 1), None);
        assert_eq!(decided_by_number(&off, X86_64, 2), None);
        let unknown = [BpfInstruction {
            code: 0x87, // BPF_MISC | BPF_TXA
            jt: 0,
            jf: 0,
            k: 0,
        }];
        assert_eq!(decided_by_number(&unknown, X86_64, 0), None);
        let far = [BpfInstruction {
            code: 0x05,
            jt: 0,
            jf: 0,
            k: u32::MAX,
        }];
        assert_eq!(decided_by_number(&far, X86_64, 0), None);
    }
}
