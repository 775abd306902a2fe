//! Compiling a policy to classic BPF, once, in the parent: libseccomp,
//! behind a front of this crate's own for each ABI, which decides the
//! syscalls that need no argument checked.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use cradle_core::confinement::{BpfInstruction, SeccompProgram};
use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
use nix::sys::memfd::{memfd_create, MFdFlags};

use super::bpf::audit_arch;
use super::by_number::decided_by_number;
use super::check;
use super::front::{self, Outcome};
use super::policy::{Arch, Policy, Rule};
use super::SeccompError;

/// The most instructions the kernel takes in one filter (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

/// `sizeof(struct sock_filter)`.
const INSTRUCTION_SIZE: usize = 8;

/// The syscall numbers a front searches, from its ABI's first: more than
/// any ABI has.
const FRONT_SPAN: u32 = 1024;

/// The x32 ABI's syscall numbers: x86-64's, with this bit set
/// (`__X32_SYSCALL_BIT`), under x86-64's `AUDIT_ARCH`.
const X32_FIRST: u32 = 0x4000_0000;

/// How [`compile`] shapes its programs: a cache of compiled programs
/// keys on it, so that one of an earlier shape is compiled anew.
pub const PROGRAM_SHAPE: &str = "a search over runs of syscalls for each ABI, decided by libseccomp's \
     program of the policy, then its program of the rest (SCMP_FLTATR_CTL_OPTIMIZE 2)";

/// A rule's syscall, by number: what libseccomp is given.
#[derive(Clone, Copy)]
struct Resolved<'a> {
    index: usize,
    rule: &'a Rule,
    name: &'a str,
    syscall: ScmpSyscall,
}

/// Compiles `policy` to a BPF program.
///
/// The filter takes the native architecture and the policy's
/// `architectures`; a syscall of any other ABI (on x86-64: i386 through
/// `int 0x80`, x32, unless the policy lists them) kills the process.
/// Syscall names unknown on this architecture are skipped, as runc does,
/// but a policy whose names are all unknown is an error. Rules whose
/// action is the default action are skipped (libseccomp refuses them).
/// `flags` become the program's `SECCOMP_FILTER_FLAG_*` bits. The program
/// does not set `no_new_privs`: the child does that itself before
/// installing it.
///
/// libseccomp compiles the whole policy first. For each ABI the program
/// takes whose `AUDIT_ARCH` this crate knows (x86-64, i386, x32, arm64),
/// the syscall numbers that program decides without reading an argument
/// get a front of their own: a search over runs of numbers
/// ([`front`](super::front)), which returns what the whole program
/// returns. libseccomp then compiles what the fronts leave, a filter per
/// ABI: the rules but those whose syscall number there its front returns
/// for. A rule libseccomp rewrites on an ABI (on i386 `socket` becomes a
/// `socketcall` with its first argument checked) has no number of its
/// own there, so it is always left, and so is every rule that names the
/// number it is rewritten to: each number the rest decides is made of the
/// rules the whole program made it of, in the same order. The result is
/// used where libseccomp compiles it without a refusal, it is shorter
/// than the whole program, and it decides as that does
/// ([`check`](super::check)): a quarter of the whole program for the
/// default profile and for podman's (x86-64, i386 and x32).
///
/// libseccomp never returns from some policies: compile a policy from
/// outside with [`compile_within`](super::compile_within).
pub fn compile(policy: &Policy) -> Result<SeccompProgram, SeccompError> {
    let flags = policy.flags.iter().fold(0, |bits, flag| bits | flag.bit());
    let resolved = resolve(policy)?;
    let arches = arches(policy);
    let whole = whole_program(policy, &arches, &resolved)?;
    let instructions = with_fronts(policy, &arches, &resolved, &whole).unwrap_or(whole);
    Ok(SeccompProgram { instructions, flags })
}

/// The ABIs the filter takes: the native one (libseccomp always adds
/// it), then the policy's, each once.
fn arches(policy: &Policy) -> Vec<Arch> {
    let mut arches: Vec<Arch> = Arch::NATIVE.into_iter().collect();
    for &arch in &policy.architectures {
        if !arches.contains(&arch) {
            arches.push(arch);
        }
    }
    arches
}

/// An ABI a front can search: its `AUDIT_ARCH` and first syscall number.
fn abi(arch: Arch) -> Option<(u32, u32)> {
    match arch {
        Arch::X32 => audit_arch(Arch::X86_64).map(|audit| (audit, X32_FIRST)),
        other => audit_arch(other).map(|audit| (audit, 0)),
    }
}

/// The fronts, then libseccomp's program of what they leave; `None` on
/// an architecture this crate does not name, or where no front can be
/// made, libseccomp cannot compile the rest, the result is no shorter
/// than `whole`, or it fails the [`check`](super::check).
fn with_fronts(
    policy: &Policy,
    arches: &[Arch],
    resolved: &[Resolved<'_>],
    whole: &[BpfInstruction],
) -> Option<Vec<BpfInstruction>> {
    // On an architecture this crate does not name, a per-ABI filter keeps
    // the real native ABI beside its own (seccomp_init added it), where
    // no front or check sees it.
    Arch::NATIVE?;
    let mut program = Vec::new();
    let mut fronted: Vec<(Arch, BTreeMap<u32, Outcome>)> = Vec::new();
    for &arch in arches {
        let Some((audit, first)) = abi(arch) else {
            continue;
        };
        let decided: BTreeMap<u32, Outcome> = (first..first + FRONT_SPAN)
            .map(|nr| {
                let outcome = decided_by_number(whole, audit, nr).map_or(Outcome::Delegate, Outcome::Return);
                (nr, outcome)
            })
            .collect();
        if let Some(front) = front::front(&decided, Outcome::Delegate, audit) {
            program.extend(front);
            fronted.push((arch, decided));
        }
    }
    if fronted.is_empty() {
        return None;
    }
    let front_of = |arch: Arch| {
        fronted
            .iter()
            .find(|(fronted, _)| *fronted == arch)
            .map(|(_, decided)| decided)
    };
    let rewritten = rewrite_targets(arches, resolved);
    // A rule is left to the rest on an ABI unless its syscall's number
    // there is one the ABI's front returns for, and no rule is rewritten
    // to: the rest then makes every number it decides of the same rules,
    // in the same order, as the whole program does.
    let left = |arch: Arch, entry: &Resolved<'_>| {
        let Some(decided) = front_of(arch) else {
            return true;
        };
        let number = ScmpSyscall::from_name_by_arch(entry.name, arch.to_scmp())
            .ok()
            .and_then(|syscall| u32::try_from(syscall.as_raw_syscall()).ok());
        !number.is_some_and(|nr| {
            matches!(decided.get(&nr), Some(Outcome::Return(_))) && !rewritten.contains(&(arch, nr))
        })
    };
    program.extend(rest_program(policy, arches, left, resolved).ok()?);
    if program.len() >= whole.len() || program.len() > MAX_INSTRUCTIONS {
        return None;
    }
    // Every number a front leaves, and every number of an ABI that has
    // none.
    let left_to_the_rest = arches.iter().filter_map(|&arch| {
        let (audit, first) = abi(arch)?;
        let decided = front_of(arch);
        let numbers = (first..first + FRONT_SPAN)
            .filter(move |nr| decided.is_none_or(|decided| decided.get(nr) == Some(&Outcome::Delegate)));
        Some(numbers.map(move |nr| (audit, nr)))
    });
    let vectors = check::argument_vectors(policy);
    check::decides_alike(&program, whole, left_to_the_rest.flatten(), &vectors).then_some(program)
}

/// The syscall numbers that rules with no number of their own on an ABI
/// are rewritten to there (on i386, `socket` and its kin to
/// `socketcall`, `semop` and its kin to `ipc`), by ABI.
fn rewrite_targets(arches: &[Arch], resolved: &[Resolved<'_>]) -> Vec<(Arch, u32)> {
    let mut targets = Vec::new();
    for &arch in arches {
        for entry in resolved {
            let scmp = arch.to_scmp();
            let own = ScmpSyscall::from_name_by_arch(entry.name, scmp).map(|s| s.as_raw_syscall());
            if !own.is_ok_and(|number| number < 0) {
                continue;
            }
            let target = ScmpSyscall::from_name_by_arch_rewrite(entry.name, scmp)
                .ok()
                .and_then(|syscall| u32::try_from(syscall.as_raw_syscall()).ok());
            if let Some(target) = target.filter(|&target| !targets.contains(&(arch, target))) {
                targets.push((arch, target));
            }
        }
    }
    targets
}

/// libseccomp's program of the whole policy: one filter of every ABI
/// with every rule.
fn whole_program(
    policy: &Policy,
    arches: &[Arch],
    entries: &[Resolved<'_>],
) -> Result<Vec<BpfInstruction>, SeccompError> {
    let mut filter = filter(policy, arches)?;
    for entry in entries {
        add_rule(&mut filter, entry)?;
    }
    export(&filter)
}

/// libseccomp's program of the rules of `entries` that `keep` keeps for
/// each ABI of `arches`: a filter per ABI, merged (libseccomp keeps a
/// rule set per ABI; a rule added to a filter goes to each of its ABIs).
fn rest_program(
    policy: &Policy,
    arches: &[Arch],
    keep: impl Fn(Arch, &Resolved<'_>) -> bool,
    entries: &[Resolved<'_>],
) -> Result<Vec<BpfInstruction>, SeccompError> {
    let mut merged: Option<ScmpFilterContext> = None;
    for &arch in arches {
        let mut filter = filter(policy, &[arch])?;
        // A refusal here (the whole program took every rule) means this
        // ABI's rules met otherwise than in the whole program: the caller
        // uses that one.
        for entry in entries.iter().filter(|entry| keep(arch, entry)) {
            add_rule(&mut filter, entry)?;
        }
        match &mut merged {
            None => merged = Some(filter),
            Some(merged) => {
                merged.merge(filter).map_err(|source| SeccompError::Libseccomp {
                    call: "seccomp_merge",
                    context: arch.to_string(),
                    source,
                })?;
            }
        }
    }
    let merged =
        merged.ok_or_else(|| SeccompError::BadProgram("no architecture to compile for".to_owned()))?;
    export(&merged)
}

/// Compiles `policy` with libseccomp alone: what [`compile`]'s programs
/// must decide alike.
#[cfg(test)]
pub(super) fn compile_whole(policy: &Policy) -> Result<Vec<BpfInstruction>, SeccompError> {
    whole_program(policy, &arches(policy), &resolve(policy)?)
}

/// The policy's rules by syscall, except those whose action is the
/// default; an error if no name is known here.
/// What [`compile`] refuses of a policy's syscall names before libseccomp
/// compiles anything: [`SeccompError::NoKnownSyscall`].
pub(super) fn check_names(policy: &Policy) -> Result<(), SeccompError> {
    resolve(policy).map(drop)
}

fn resolve(policy: &Policy) -> Result<Vec<Resolved<'_>>, SeccompError> {
    let mut resolved = Vec::new();
    let mut known = 0;
    let mut unknown = Vec::new();
    for (index, rule) in policy.syscalls.iter().enumerate() {
        for name in &rule.names {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                unknown.push(name.as_str());
                continue;
            };
            known += 1;
            if rule.action != policy.default_action {
                resolved.push(Resolved {
                    index,
                    rule,
                    name,
                    syscall,
                });
            }
        }
    }
    if known == 0 {
        if let Some(first) = unknown.first() {
            return Err(SeccompError::NoKnownSyscall {
                count: unknown.len(),
                first: (*first).to_owned(),
            });
        }
    }
    Ok(resolved)
}

/// libseccomp's filter of `policy` with no rule yet, on `arches`: its
/// default action, a bad architecture's kill.
fn filter(policy: &Policy, arches: &[Arch]) -> Result<ScmpFilterContext, SeccompError> {
    let lib = |call: &'static str, context: String| {
        move |source| SeccompError::Libseccomp {
            call,
            context,
            source,
        }
    };
    let mut filter = ScmpFilterContext::new(policy.default_action.to_scmp()).map_err(lib(
        "seccomp_init",
        format!("default action {}", policy.default_action),
    ))?;
    filter
        .set_ctl_nnp(false)
        .map_err(lib("seccomp_attr_set", "SCMP_FLTATR_CTL_NNP".to_owned()))?;
    filter
        .set_act_badarch(ScmpAction::KillProcess)
        .map_err(lib("seccomp_attr_set", "SCMP_FLTATR_ACT_BADARCH".to_owned()))?;
    // A binary search over the syscall numbers instead of a linear scan:
    // the kernel runs the filter for every syscall number when it is
    // installed (to fill its cache of syscalls always allowed), and an
    // uncached syscall is checked in ~9 jumps, not ~200.
    filter
        .set_ctl_optimize(2)
        .map_err(lib("seccomp_attr_set", "SCMP_FLTATR_CTL_OPTIMIZE 2".to_owned()))?;
    for arch in arches {
        filter
            .add_arch(arch.to_scmp())
            .map_err(lib("seccomp_arch_add", arch.to_string()))?;
    }
    // seccomp_init added the native one. (On an architecture this crate
    // does not name, it stays: `with_fronts` makes no per-ABI filter
    // there.)
    if let Some(native) = Arch::NATIVE.filter(|native| !arches.contains(native)) {
        filter
            .remove_arch(native.to_scmp())
            .map_err(lib("seccomp_arch_remove", native.to_string()))?;
    }
    Ok(filter)
}

/// Adds one rule for one syscall. Conditions on distinct arguments must
/// all hold (one libseccomp rule); several conditions on the same argument
/// are alternatives (one libseccomp rule each), as runc does it, since
/// libseccomp cannot AND two comparisons of one argument.
fn add_rule(filter: &mut ScmpFilterContext, entry: &Resolved<'_>) -> Result<(), SeccompError> {
    let Resolved {
        index,
        rule,
        name,
        syscall,
    } = *entry;
    let error = |source| SeccompError::Libseccomp {
        call: "seccomp_rule_add",
        context: format!("syscalls[{index}], {name}, {}", rule.action),
        source,
    };
    let action = rule.action.to_scmp();
    if rule.args.is_empty() {
        filter.add_rule(action, syscall).map_err(error)?;
        return Ok(());
    }
    let mut indexes: Vec<u32> = rule.args.iter().map(|arg| arg.index).collect();
    indexes.sort_unstable();
    let repeated = indexes.windows(2).any(|pair| pair[0] == pair[1]);
    if repeated {
        for arg in &rule.args {
            filter
                .add_rule_conditional(action, syscall, &[arg.to_scmp()])
                .map_err(error)?;
        }
    } else {
        let comparisons: Vec<_> = rule.args.iter().map(|arg| arg.to_scmp()).collect();
        filter
            .add_rule_conditional(action, syscall, &comparisons)
            .map_err(error)?;
    }
    Ok(())
}

/// Exports the filter into a memfd and decodes its `struct sock_filter`
/// records (native endian).
fn export(filter: &ScmpFilterContext) -> Result<Vec<BpfInstruction>, SeccompError> {
    let io = |doing: &'static str| move |source| SeccompError::Io { doing, source };
    let memfd = memfd_create("cradle-seccomp-bpf", MFdFlags::MFD_CLOEXEC)
        .map_err(|errno| io("creating the memfd for the BPF export")(errno.into()))?;
    let mut file = File::from(memfd);
    filter
        .export_bpf(&file)
        .map_err(|source| SeccompError::Libseccomp {
            call: "seccomp_export_bpf",
            context: "into a memfd".to_owned(),
            source,
        })?;
    file.seek(SeekFrom::Start(0))
        .map_err(io("rewinding the memfd of the BPF export"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(io("reading the BPF export back from its memfd"))?;
    decode(&bytes)
}

/// `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }` records.
fn decode(bytes: &[u8]) -> Result<Vec<BpfInstruction>, SeccompError> {
    if bytes.len() % INSTRUCTION_SIZE != 0 {
        return Err(SeccompError::BadProgram(format!(
            "{} bytes, not a whole number of {INSTRUCTION_SIZE}-byte instructions",
            bytes.len()
        )));
    }
    let count = bytes.len() / INSTRUCTION_SIZE;
    if count == 0 || count > MAX_INSTRUCTIONS {
        return Err(SeccompError::BadProgram(format!(
            "{count} instructions; the kernel takes 1 to {MAX_INSTRUCTIONS}"
        )));
    }
    Ok(bytes
        .chunks_exact(INSTRUCTION_SIZE)
        .map(|record| BpfInstruction {
            code: u16::from_ne_bytes([record[0], record[1]]),
            jt: record[2],
            jf: record[3],
            k: u32::from_ne_bytes([record[4], record[5], record[6], record[7]]),
        })
        .collect())
}
