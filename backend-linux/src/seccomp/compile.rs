//! Compiling a policy to classic BPF, once, in the parent: libseccomp,
//! behind a front of this crate's own for the syscalls that need no
//! argument checked.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use cradle_core::confinement::{BpfInstruction, SeccompProgram};
use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
use nix::sys::memfd::{memfd_create, MFdFlags};

use super::bpf::NATIVE_AUDIT_ARCH;
use super::front::{self, Outcome};
use super::policy::{Action, Arch, Policy, Rule};
use super::SeccompError;

/// The most instructions the kernel takes in one filter (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

/// `sizeof(struct sock_filter)`.
const INSTRUCTION_SIZE: usize = 8;

/// How [`compile`] shapes its programs: a cache of compiled programs
/// keys on it, so that one of an earlier shape is compiled anew.
pub const PROGRAM_SHAPE: &str =
    "a search over runs of syscalls, then libseccomp's binary tree (SCMP_FLTATR_CTL_OPTIMIZE 2)";

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
/// `int 0x80`, x32) kills the process. Syscall names unknown on this
/// architecture are skipped, as runc does, but a policy whose names are
/// all unknown is an error. Rules whose action is the default action are
/// skipped (libseccomp refuses them). `flags` become the program's
/// `SECCOMP_FILTER_FLAG_*` bits. The program does not set
/// `no_new_privs`: the child does that itself before installing it.
///
/// Where the policy takes the native architecture only, the syscalls whose
/// action does not depend on their arguments are decided by a search over
/// runs of numbers ([`front`](super::front)); libseccomp compiles the rest,
/// and the program returns what libseccomp's program of the whole policy
/// would. For the default profile that is a quarter of the instructions.
pub fn compile(policy: &Policy) -> Result<SeccompProgram, SeccompError> {
    let flags = policy.flags.iter().fold(0, |bits, flag| bits | flag.bit());
    let resolved = resolve(policy)?;
    let native_only = policy
        .architectures
        .iter()
        .all(|&arch| Some(arch) == Arch::NATIVE);
    let decided = if native_only {
        decided(&resolved)
    } else {
        BTreeMap::new()
    };
    let front =
        NATIVE_AUDIT_ARCH.and_then(|arch| front::front(&decided, policy.default_action.ret_value(), arch));
    let in_front = |syscall: ScmpSyscall| {
        front.is_some()
            && u32::try_from(syscall.as_raw_syscall())
                .is_ok_and(|number| matches!(decided.get(&number), Some(Outcome::Return(_))))
    };
    let rest = libseccomp_program(policy, resolved.iter().filter(|entry| !in_front(entry.syscall)))?;
    let instructions = match front {
        Some(mut front) if front.len() + rest.len() <= MAX_INSTRUCTIONS => {
            front.extend(rest);
            front
        }
        // Too long with the front (never for the default profile):
        // libseccomp's program of the whole policy, checked as ever.
        Some(_) => libseccomp_program(policy, &resolved)?,
        None => rest,
    };
    Ok(SeccompProgram { instructions, flags })
}

/// libseccomp's program of `policy` with the rules `entries`.
fn libseccomp_program<'a, 'p: 'a>(
    policy: &Policy,
    entries: impl IntoIterator<Item = &'a Resolved<'p>>,
) -> Result<Vec<BpfInstruction>, SeccompError> {
    let mut filter = filter(policy)?;
    for entry in entries {
        add_rule(&mut filter, entry)?;
    }
    export(&filter)
}

/// Compiles `policy` with libseccomp alone: what [`compile`]'s programs
/// must decide alike.
#[cfg(test)]
pub(super) fn compile_whole(policy: &Policy) -> Result<Vec<BpfInstruction>, SeccompError> {
    libseccomp_program(policy, &resolve(policy)?)
}

/// The policy's rules by syscall, except those whose action is the
/// default; an error if no name is known here.
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

/// What the front can decide of each native syscall number the rules
/// name: its action, where every rule naming it has no argument condition
/// and all have one action that libseccomp takes as it is; else
/// libseccomp's program decides it. (A pseudo-syscall, negative, names no
/// native number: libseccomp's.)
fn decided(resolved: &[Resolved<'_>]) -> BTreeMap<u32, Outcome> {
    let mut decided = BTreeMap::new();
    for entry in resolved {
        let Ok(number) = u32::try_from(entry.syscall.as_raw_syscall()) else {
            continue;
        };
        let outcome = if entry.rule.args.is_empty() && unchecked_by_libseccomp(entry.rule.action) {
            Outcome::Return(entry.rule.action.ret_value())
        } else {
            Outcome::Delegate
        };
        decided
            .entry(number)
            .and_modify(|known| {
                if *known != outcome {
                    *known = Outcome::Delegate;
                }
            })
            .or_insert(outcome);
    }
    decided
}

/// Whether libseccomp takes a rule of `action` without a check that could
/// refuse it. It refuses an errno of 4095 or more (`MAX_ERRNO`), and asks
/// the kernel whether it has `SECCOMP_RET_LOG` and `SECCOMP_RET_KILL_PROCESS`
/// (Linux 4.14): such a rule stays libseccomp's, so that a policy it
/// refuses is refused as before.
fn unchecked_by_libseccomp(action: Action) -> bool {
    match action {
        Action::Errno(errno) => errno < 4095,
        Action::Log | Action::KillProcess => false,
        Action::Allow | Action::KillThread | Action::Trap | Action::Trace(_) => true,
    }
}

/// libseccomp's filter of `policy` with no rule yet: its default action,
/// its architectures, a bad architecture's kill.
fn filter(policy: &Policy) -> Result<ScmpFilterContext, SeccompError> {
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
    for arch in &policy.architectures {
        let scmp = arch.to_scmp();
        let present = filter
            .is_arch_present(scmp)
            .map_err(lib("seccomp_arch_exist", arch.to_string()))?;
        if !present {
            filter
                .add_arch(scmp)
                .map_err(lib("seccomp_arch_add", arch.to_string()))?;
        }
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
