//! The compiler's check of a program it shortened, before using it: for
//! each ABI, on every syscall number its front leaves to the program
//! after it, with arguments that cross each of the policy's conditions,
//! the program must return what libseccomp's program of the whole policy
//! returns. (Where a front returns, it returns the whole program's own
//! constant.) The check guards against a libseccomp that compiles a rule
//! set per ABI otherwise than the one the tests ran against: a program
//! that fails it is not used, the whole program is.

use cradle_core::confinement::BpfInstruction;

use super::interpreter::{run, SeccompData};
use super::policy::Policy;

/// Whether `ours` and `whole` return the same for each syscall of
/// `numbers` (`AUDIT_ARCH`, number) with each of `vectors`' arguments.
pub(super) fn decides_alike(
    ours: &[BpfInstruction],
    whole: &[BpfInstruction],
    numbers: impl IntoIterator<Item = (u32, u32)>,
    vectors: &[[u64; 6]],
) -> bool {
    numbers.into_iter().all(|(arch, nr)| {
        vectors.iter().all(|args| {
            let data = SeccompData {
                nr,
                arch,
                args: *args,
                ..SeccompData::default()
            };
            let ours = run(ours, &data);
            ours.is_some() && ours == run(whole, &data)
        })
    })
}

/// Argument vectors that cross each of `policy`'s conditions: its values,
/// their neighbours, their upper halves changed, the extremes, each at its
/// argument with the others 0; and the first argument from 1 to 24, the
/// calls of i386's socketcall(2) and ipc(2), which libseccomp checks there
/// for the syscalls they stand for.
pub(super) fn argument_vectors(policy: &Policy) -> Vec<[u64; 6]> {
    let mut vectors = vec![[0; 6], [u64::MAX; 6]];
    vectors.extend((1..=24).map(|call| [call, 0, 0, 0, 0, 0]));
    for condition in policy.syscalls.iter().flat_map(|rule| &rule.args) {
        let Some(index) = usize::try_from(condition.index).ok().filter(|&index| index < 6) else {
            continue;
        };
        for base in [
            condition.value,
            condition.value_two,
            condition.value & condition.value_two,
        ] {
            for value in [
                base,
                base.wrapping_add(1),
                base.wrapping_sub(1),
                base ^ (1 << 32),
                base | 0xffff_ffff_0000_0000,
                !base,
                0,
                u64::MAX,
            ] {
                let mut args = [0; 6];
                args[index] = value;
                vectors.push(args);
            }
        }
    }
    vectors.sort_unstable();
    vectors.dedup();
    vectors
}

#[cfg(test)]
mod tests {
    use super::super::bpf::{self, NR_OFFSET};
    use super::super::policy::{Action, ArgCondition, Rule};
    use super::*;

    const X86_64: u32 = 0xc000_003e;

    #[test]
    fn a_program_that_returns_otherwise_or_cannot_run_fails_the_check() {
        let allow = [bpf::ret(0x7fff_0000)];
        // nr == 1 ? EPERM : allow
        let one_refused = [
            bpf::load(NR_OFFSET),
            bpf::jump_if_equal(1, 0, 1),
            bpf::ret(0x0005_0001),
            bpf::ret(0x7fff_0000),
        ];
        let vectors = [[0; 6]];
        assert!(decides_alike(
            &one_refused,
            &allow,
            [(X86_64, 0), (X86_64, 2)],
            &vectors
        ));
        assert!(!decides_alike(
            &one_refused,
            &allow,
            [(X86_64, 0), (X86_64, 1)],
            &vectors
        ));
        // A load past seccomp_data: the kernel would refuse it.
        let broken = [bpf::load(64), bpf::ret(0x7fff_0000)];
        assert!(!decides_alike(&broken, &allow, [(X86_64, 0)], &vectors));
    }

    #[test]
    fn the_vectors_cross_each_condition_at_its_argument() {
        let policy = Policy {
            default_action: Action::Allow,
            architectures: Vec::new(),
            flags: Vec::new(),
            syscalls: vec![Rule {
                names: vec!["personality".to_owned()],
                action: Action::Errno(1),
                args: vec![ArgCondition::masked_eq(2, 0xff, 8)],
            }],
        };
        let vectors = argument_vectors(&policy);
        for value in [0xff, 0x100, 0xfe, 8, 7, 9] {
            assert!(vectors.contains(&[0, 0, value, 0, 0, 0]), "{value:#x}");
        }
        assert!(vectors.contains(&[1, 0, 0, 0, 0, 0]) && vectors.contains(&[24, 0, 0, 0, 0, 0]));
    }
}
