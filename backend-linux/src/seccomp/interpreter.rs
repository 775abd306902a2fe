//! A classic BPF interpreter over `struct seccomp_data`, for tests: what a
//! program returns for a syscall, without installing it. It runs what
//! libseccomp and the compiler's front emit (loads, ALU, jumps, returns,
//! scratch memory) and panics on anything else, and on what the kernel's
//! checker would refuse (a jump or load out of bounds).

use cradle_core::confinement::BpfInstruction;

/// The syscall a filter decides on: `struct seccomp_data`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SeccompData {
    pub(super) nr: u32,
    pub(super) arch: u32,
    pub(super) instruction_pointer: u64,
    pub(super) args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at `offset`, as the kernel lays the struct out
    /// (native endian; the 64-bit fields little-endian on the machines
    /// this runs on).
    fn word(&self, offset: u32) -> u32 {
        let low_high = |value: u64, upper: bool| if upper { (value >> 32) as u32 } else { value as u32 };
        match offset {
            0 => self.nr,
            4 => self.arch,
            8 | 12 => low_high(self.instruction_pointer, offset == 12),
            16..=60 if offset % 4 == 0 => {
                let index = usize::try_from((offset - 16) / 8).expect("small");
                low_high(self.args[index], (offset - 16) % 8 == 4)
            }
            _ => panic!("a load from offset {offset} of seccomp_data"),
        }
    }
}

/// Runs `program` on `data`; what it returns.
pub(super) fn run(program: &[BpfInstruction], data: &SeccompData) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut memory = [0u32; 16];
    let mut pc = 0usize;
    loop {
        let BpfInstruction { code, jt, jf, k } = *program
            .get(pc)
            .unwrap_or_else(|| panic!("ran off the end at {pc}"));
        pc += 1;
        let source = if code & 0x08 != 0 { x } else { k };
        // Seccomp loads words only (BPF_W); the kernel refuses the others.
        if code & 0x07 <= 0x01 && code & 0x18 != 0 {
            panic!("a load of another size than a word: {code:#x}");
        }
        match code & 0x07 {
            // BPF_LD
            0x00 => {
                a = match code & 0xe0 {
                    0x20 => data.word(k),
                    0x00 => k,
                    0x60 => memory[k as usize],
                    0x80 => 64,
                    mode => panic!("ld mode {mode:#x}"),
                }
            }
            // BPF_LDX
            0x01 => {
                x = match code & 0xe0 {
                    0x00 => k,
                    0x60 => memory[k as usize],
                    0x80 => 64,
                    mode => panic!("ldx mode {mode:#x}"),
                }
            }
            // BPF_ST, BPF_STX
            0x02 => memory[k as usize] = a,
            0x03 => memory[k as usize] = x,
            // BPF_ALU
            0x04 => {
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(source),
                    0x10 => a.wrapping_sub(source),
                    0x20 => a.wrapping_mul(source),
                    0x30 => a.checked_div(source).expect("division by zero"),
                    0x40 => a | source,
                    0x50 => a & source,
                    0x60 => a.checked_shl(source).unwrap_or(0),
                    0x70 => a.checked_shr(source).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(source).expect("modulo by zero"),
                    0xa0 => a ^ source,
                    op => panic!("alu op {op:#x}"),
                }
            }
            // BPF_JMP
            0x05 => {
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc += k as usize;
                        continue;
                    }
                    0x10 => a == source,
                    0x20 => a > source,
                    0x30 => a >= source,
                    0x40 => a & source != 0,
                    op => panic!("jmp op {op:#x}"),
                };
                pc += usize::from(if taken { jt } else { jf });
            }
            // BPF_RET
            0x06 => {
                return match code & 0x18 {
                    0x00 => k,
                    0x10 => a,
                    source => panic!("ret source {source:#x}"),
                }
            }
            // BPF_MISC: TAX, TXA
            _ => match code & 0xf8 {
                0x00 => x = a,
                0x80 => a = x,
                op => panic!("misc op {op:#x}"),
            },
        }
    }
}
