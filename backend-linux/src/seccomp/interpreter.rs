//! A classic BPF interpreter over `struct seccomp_data`: what a program
//! returns for a syscall, without installing it. The compiler checks its
//! programs with it, and the tests compare programs with it. It runs what
//! libseccomp and the compiler's fronts emit (loads, ALU, jumps, returns,
//! scratch memory) and returns nothing for anything else, and for what the
//! kernel's checker would refuse (a jump or load out of bounds).

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
    fn word(&self, offset: u32) -> Option<u32> {
        let low_high = |value: u64, upper: bool| if upper { (value >> 32) as u32 } else { value as u32 };
        Some(match offset {
            0 => self.nr,
            4 => self.arch,
            8 | 12 => low_high(self.instruction_pointer, offset == 12),
            16..=60 if offset % 4 == 0 => {
                let index = usize::try_from((offset - 16) / 8).ok()?;
                low_high(self.args[index], (offset - 16) % 8 == 4)
            }
            _ => return None,
        })
    }
}

/// Runs `program` on `data`; what it returns, or `None` where it does what
/// the kernel would refuse or this does not run.
pub(super) fn run(program: &[BpfInstruction], data: &SeccompData) -> Option<u32> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut memory = [0u32; 16];
    let mut pc = 0usize;
    loop {
        let BpfInstruction { code, jt, jf, k } = *program.get(pc)?;
        pc += 1;
        let source = if code & 0x08 != 0 { x } else { k };
        // Seccomp loads words only (BPF_W); the kernel refuses the others.
        if code & 0x07 <= 0x01 && code & 0x18 != 0 {
            return None;
        }
        match code & 0x07 {
            // BPF_LD
            0x00 => {
                a = match code & 0xe0 {
                    0x20 => data.word(k)?,
                    0x00 => k,
                    0x60 => *memory.get(usize::try_from(k).ok()?)?,
                    0x80 => 64,
                    _ => return None,
                }
            }
            // BPF_LDX
            0x01 => {
                x = match code & 0xe0 {
                    0x00 => k,
                    0x60 => *memory.get(usize::try_from(k).ok()?)?,
                    0x80 => 64,
                    _ => return None,
                }
            }
            // BPF_ST, BPF_STX
            0x02 => *memory.get_mut(usize::try_from(k).ok()?)? = a,
            0x03 => *memory.get_mut(usize::try_from(k).ok()?)? = x,
            // BPF_ALU
            0x04 => {
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(source),
                    0x10 => a.wrapping_sub(source),
                    0x20 => a.wrapping_mul(source),
                    0x30 => a.checked_div(source)?,
                    0x40 => a | source,
                    0x50 => a & source,
                    0x60 => a.checked_shl(source).unwrap_or(0),
                    0x70 => a.checked_shr(source).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(source)?,
                    0xa0 => a ^ source,
                    _ => return None,
                }
            }
            // BPF_JMP
            0x05 => {
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc = pc.checked_add(usize::try_from(k).ok()?)?;
                        continue;
                    }
                    0x10 => a == source,
                    0x20 => a > source,
                    0x30 => a >= source,
                    0x40 => a & source != 0,
                    _ => return None,
                };
                pc += usize::from(if taken { jt } else { jf });
            }
            // BPF_RET
            0x06 => {
                return match code & 0x18 {
                    0x00 => Some(k),
                    0x10 => Some(a),
                    _ => None,
                }
            }
            // BPF_MISC: TAX, TXA
            _ => match code & 0xf8 {
                0x00 => x = a,
                0x80 => a = x,
                _ => return None,
            },
        }
    }
}
