//! The compiler's check of a program it shortened, before using it: for
//! each ABI whose `AUDIT_ARCH` it knows, on every syscall number of the
//! fronts' span that its front leaves to the program after it (every one,
//! where the ABI has no front), with arguments that cross each of the
//! policy's conditions and meet each rule's together, the program must
//! return what libseccomp's program of the whole policy returns; where a
//! front returns, it returns the whole program's own constant. Elsewhere
//! (a number past the span, an ABI it does not know) the rest holds every
//! rule the whole program holds there, in the same order.
//!
//! The rest is built to decide as the whole program does (see
//! `compile::with_fronts`); the check guards that construction against a
//! libseccomp that compiles a rule set per ABI otherwise than the one the
//! tests ran against. A program that fails it is not used: the whole
//! program is.

use cradle_core::confinement::BpfInstruction;

use super::interpreter::{run, SeccompData};
use super::policy::{ArgCondition, ArgOp, Policy};

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
/// argument with the others 0; each rule's conditions met all at once,
/// and all at their values (a rule libseccomp adds for one syscall may
/// shape another's checks: two arguments must then match together); and
/// the first argument from 1 to 24, the calls of i386's socketcall(2) and
/// ipc(2), which libseccomp checks there for the syscalls they stand for.
pub(super) fn argument_vectors(policy: &Policy) -> Vec<[u64; 6]> {
    let mut vectors = vec![[0; 6], [u64::MAX; 6]];
    vectors.extend((1..=24).map(|call| [call, 0, 0, 0, 0, 0]));
    for rule in &policy.syscalls {
        let mut met = [0; 6];
        let mut at_values = [0; 6];
        for condition in &rule.args {
            if let Some(index) = index_of(condition) {
                met[index] = meeting(condition);
                at_values[index] = condition.value;
            }
        }
        vectors.extend([met, at_values]);
    }
    for condition in policy.syscalls.iter().flat_map(|rule| &rule.args) {
        let Some(index) = index_of(condition) else {
            continue;
        };
        for value in crossing(condition) {
            let mut args = [0; 6];
            args[index] = value;
            vectors.push(args);
        }
    }
    vectors.sort_unstable();
    vectors.dedup();
    vectors
}

/// The argument `condition` looks at, if a syscall has it.
pub(super) fn index_of(condition: &ArgCondition) -> Option<usize> {
    usize::try_from(condition.index).ok().filter(|&index| index < 6)
}

/// A value of the argument that meets `condition`.
fn meeting(condition: &ArgCondition) -> u64 {
    let value = condition.value;
    match condition.op {
        ArgOp::Equal | ArgOp::LessOrEqual | ArgOp::GreaterOrEqual => value,
        ArgOp::NotEqual => value ^ 1,
        ArgOp::LessThan => value.saturating_sub(1),
        ArgOp::GreaterThan => value.saturating_add(1),
        ArgOp::MaskedEqual => condition.value_two,
    }
}

/// Values of the argument on both sides of `condition`'s edges.
fn crossing(condition: &ArgCondition) -> impl Iterator<Item = u64> {
    [
        condition.value,
        condition.value_two,
        condition.value & condition.value_two,
    ]
    .into_iter()
    .flat_map(|base| {
        [
            base,
            base.wrapping_add(1),
            base.wrapping_sub(1),
            base ^ (1 << 32),
            base | 0xffff_ffff_0000_0000,
            !base,
            0,
            u64::MAX,
        ]
    })
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

    #[test]
    fn a_rules_conditions_are_met_all_at_once() {
        let policy = Policy {
            default_action: Action::Allow,
            architectures: Vec::new(),
            flags: Vec::new(),
            syscalls: vec![Rule {
                names: vec!["socket".to_owned()],
                action: Action::KillProcess,
                args: vec![
                    ArgCondition::new(0, ArgOp::Equal, 2),
                    ArgCondition::new(1, ArgOp::GreaterThan, 3),
                    ArgCondition::masked_eq(2, 0xf0, 0x30),
                ],
            }],
        };
        let vectors = argument_vectors(&policy);
        assert!(vectors.contains(&[2, 4, 0x30, 0, 0, 0]), "met together");
        assert!(vectors.contains(&[2, 3, 0xf0, 0, 0, 0]), "at their values");
    }
}
