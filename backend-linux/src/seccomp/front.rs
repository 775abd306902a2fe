//! A front of a compiled filter: for one ABI, a binary search over runs
//! of syscall numbers that share an outcome, for the syscalls whose
//! outcome does not depend on their arguments.
//!
//! libseccomp compiles a policy to comparisons per syscall and ABI (506
//! instructions for the default profile, 1408 for podman's, which takes
//! x86-64, i386 and x32), and the kernel converts and JIT-compiles every
//! instruction when the filter is installed, then runs it for every
//! syscall number to fill its cache. But most rules name syscalls with one
//! action and no argument condition, and their numbers fall into runs that
//! share an action: a comparison per run decides them. The compiler makes
//! a front per ABI and chains them; whatever a front does not decide
//! (another ABI, a syscall whose arguments are checked, a number past the
//! last one it knows) goes on to the next front, and after the last to
//! libseccomp's program of what the fronts leave, which begins with its
//! own architecture check. A front returns only what libseccomp's program
//! of the whole policy returns (`by_number`); the compiler builds the rest
//! to decide the other syscalls as that program does, and checks it
//! (`check`); the tests run both programs on every syscall number to 1100
//! and the x32 range, under x86-64, i386, arm64 and an unknown ABI.

use std::collections::BTreeMap;

use cradle_core::confinement::BpfInstruction;

use super::bpf::{self, ARCH_OFFSET, NR_OFFSET};

/// What the front does with a syscall number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Returns this (a `SECCOMP_RET_*` value).
    Return(u32),
    /// Leaves it to the program after the front.
    Delegate,
}

/// The front for syscalls of `audit_arch`: `decided` maps numbers to what
/// they get; a number below the last one in it that it does not hold gets
/// `gap`, and every number past the last is delegated. The program
/// after the front starts right after its last instruction.
///
/// `None` when the front would decide nothing, or when its jumps would not
/// fit classic BPF's 8-bit offsets (some 250 runs): then that ABI is left
/// to libseccomp.
pub(super) fn front(
    decided: &BTreeMap<u32, Outcome>,
    gap: Outcome,
    audit_arch: u32,
) -> Option<Vec<BpfInstruction>> {
    if !decided
        .values()
        .any(|outcome| matches!(outcome, Outcome::Return(_)))
    {
        return None;
    }
    let runs = runs(decided, gap);
    // At least two runs, one that returns and the delegated one at the
    // end, unless the numbers reach u32::MAX (no syscall's do).
    if runs.len() < 2 {
        return None;
    }
    let nodes = runs.len() - 1;
    let mut returns: Vec<u32> = Vec::new();
    for &(_, outcome) in &runs {
        if let Outcome::Return(value) = outcome {
            if !returns.contains(&value) {
                returns.push(value);
            }
        }
    }
    // The architecture check, the number's load, the search, the returns.
    let search_at = 3;
    let returns_at = search_at + nodes;
    let delegated_at = returns_at + returns.len();
    let target = |outcome: Outcome| match outcome {
        Outcome::Delegate => Some(delegated_at),
        Outcome::Return(value) => returns.iter().position(|&r| r == value).map(|i| returns_at + i),
    };

    // Every slot is written below; were one not, it would kill the thread
    // (`SECCOMP_RET_KILL_THREAD` is 0), never allow.
    let mut program = vec![bpf::ret(0); delegated_at];
    program[0] = bpf::load(ARCH_OFFSET);
    program[1] = bpf::jump_if_equal(audit_arch, 0, offset(1, delegated_at)?);
    program[2] = bpf::load(NR_OFFSET);
    search(&runs, 0, runs.len(), search_at, &target, &mut program)?;
    for (i, &value) in returns.iter().enumerate() {
        program[returns_at + i] = bpf::ret(value);
    }
    Some(program)
}

/// The runs of numbers that share an outcome, each as its first number and
/// outcome: the first from 0, each up to the next one's first (a number
/// `decided` does not hold, below its last, gets `gap`), the last
/// delegated.
fn runs(decided: &BTreeMap<u32, Outcome>, gap: Outcome) -> Vec<(u32, Outcome)> {
    let mut runs: Vec<(u32, Outcome)> = Vec::new();
    let mut push = |first: u32, outcome: Outcome| {
        if runs.last().map(|&(_, last)| last) != Some(outcome) {
            runs.push((first, outcome));
        }
    };
    let mut next = Some(0u32);
    for (&number, &outcome) in decided {
        if let Some(first) = next.filter(|&next| number > next) {
            push(first, gap);
        }
        push(number, outcome);
        next = number.checked_add(1);
    }
    if let Some(next) = next {
        push(next, Outcome::Delegate);
    }
    runs
}

/// Lays out the search over `runs[low..high]` (two runs or more) from
/// instruction `at`: one `jge` per run but the first, in pre-order, so
/// that every jump goes forward, to a later comparison or to a run's
/// outcome.
fn search(
    runs: &[(u32, Outcome)],
    low: usize,
    high: usize,
    at: usize,
    target: &impl Fn(Outcome) -> Option<usize>,
    program: &mut [BpfInstruction],
) -> Option<()> {
    let middle = (low + high) / 2;
    // The lower half's comparisons follow this one; the upper half's
    // follow theirs.
    let lower_at = at + 1;
    let upper_at = at + (middle - low);
    let lower = if middle - low == 1 {
        target(runs[low].1)?
    } else {
        lower_at
    };
    let upper = if high - middle == 1 {
        target(runs[middle].1)?
    } else {
        upper_at
    };
    program[at] = bpf::jump_if_at_least(runs[middle].0, offset(at, upper)?, offset(at, lower)?);
    if middle - low > 1 {
        search(runs, low, middle, lower_at, target, program)?;
    }
    if high - middle > 1 {
        search(runs, middle, high, upper_at, target, program)?;
    }
    Some(())
}

/// The jump offset from instruction `from` to `to`, if it fits.
fn offset(from: usize, to: usize) -> Option<u8> {
    u8::try_from(to.checked_sub(from + 1)?).ok()
}

#[cfg(test)]
mod tests {
    use super::super::interpreter::{run, SeccompData};
    use super::*;

    const ARCH: u32 = 0xc000_003e;
    const DEFAULT: u32 = 0x0005_0026;
    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0001;
    /// What the program after the front returns, in these tests.
    const AFTER: u32 = 0xdead;

    fn decide(program: &[BpfInstruction], arch: u32, nr: u32) -> u32 {
        let mut whole = program.to_vec();
        whole.push(bpf::ret(AFTER));
        run(
            &whole,
            &SeccompData {
                nr,
                arch,
                ..SeccompData::default()
            },
        )
        .expect("runs")
    }

    #[test]
    fn runs_merge_neighbours_and_fill_gaps_with_the_default() {
        let decided = BTreeMap::from([
            (0, Outcome::Return(ALLOW)),
            (1, Outcome::Return(ALLOW)),
            (3, Outcome::Return(DEFAULT)),
            (4, Outcome::Delegate),
            (5, Outcome::Return(EPERM)),
        ]);
        assert_eq!(
            runs(&decided, Outcome::Return(DEFAULT)),
            [
                (0, Outcome::Return(ALLOW)),
                (2, Outcome::Return(DEFAULT)),
                (4, Outcome::Delegate),
                (5, Outcome::Return(EPERM)),
                (6, Outcome::Delegate),
            ]
        );
    }

    #[test]
    fn every_number_gets_its_outcome() {
        // Numbers with an outcome of their own, every few, so that runs
        // are many and of every length.
        let mut decided = BTreeMap::new();
        for number in 0..100u32 {
            let outcome = match number % 7 {
                0 | 1 => Outcome::Return(ALLOW),
                2 => Outcome::Return(EPERM),
                3 => Outcome::Delegate,
                4 => continue,
                _ => Outcome::Return(0x7ff0_0000 | (number % 3)),
            };
            decided.insert(number * 2, outcome);
        }
        let program = front(&decided, Outcome::Return(DEFAULT), ARCH).expect("fits");
        let last = *decided.keys().last().expect("some");
        for nr in (0..=last + 5).chain([0x4000_0000, u32::MAX]) {
            let expected = match decided.get(&nr) {
                Some(Outcome::Return(value)) => *value,
                Some(Outcome::Delegate) => AFTER,
                None if nr < last => DEFAULT,
                None => AFTER,
            };
            assert_eq!(decide(&program, ARCH, nr), expected, "nr {nr}");
        }
        // Another ABI is the program after's.
        assert_eq!(decide(&program, 0x4000_0003, 0), AFTER);
    }

    #[test]
    fn numbers_below_a_high_first_one_are_delegated() {
        // x32's numbers, under x86-64's AUDIT_ARCH: the native ones below
        // them are another front's, or the program after's.
        let decided = BTreeMap::from([
            (0x4000_0000, Outcome::Return(ALLOW)),
            (0x4000_0001, Outcome::Delegate),
            (0x4000_0002, Outcome::Return(EPERM)),
        ]);
        let program = front(&decided, Outcome::Delegate, ARCH).expect("fits");
        for (nr, expected) in [
            (0, AFTER),
            (0x3fff_ffff, AFTER),
            (0x4000_0000, ALLOW),
            (0x4000_0001, AFTER),
            (0x4000_0002, EPERM),
            (0x4000_0003, AFTER),
        ] {
            assert_eq!(decide(&program, ARCH, nr), expected, "nr {nr:#x}");
        }
    }

    #[test]
    fn too_many_runs_for_short_jumps_are_left_to_libseccomp() {
        let decided: BTreeMap<u32, Outcome> = (0..600u32)
            .map(|number| {
                (
                    number,
                    Outcome::Return(if number % 2 == 0 { ALLOW } else { EPERM }),
                )
            })
            .collect();
        assert_eq!(front(&decided, Outcome::Return(DEFAULT), ARCH), None);
    }

    #[test]
    fn a_front_that_decides_nothing_is_not_made() {
        let decided = BTreeMap::from([(0, Outcome::Delegate)]);
        assert_eq!(front(&decided, Outcome::Return(DEFAULT), ARCH), None);
        assert_eq!(front(&BTreeMap::new(), Outcome::Return(DEFAULT), ARCH), None);
        // One run from 0 to the last number: nothing to search.
        let everything = BTreeMap::from([(0, Outcome::Return(ALLOW)), (u32::MAX, Outcome::Return(ALLOW))]);
        assert_eq!(
            runs(&everything, Outcome::Return(ALLOW)),
            [(0, Outcome::Return(ALLOW))]
        );
        assert_eq!(front(&everything, Outcome::Return(ALLOW), ARCH), None);
    }
}
