//! Compiling a policy to classic BPF with libseccomp, once, in the parent.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use cradle_core::confinement::{BpfInstruction, SeccompProgram};
use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
use nix::sys::memfd::{memfd_create, MFdFlags};

use super::policy::{Policy, Rule};
use super::SeccompError;

/// The most instructions the kernel takes in one filter (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;

/// `sizeof(struct sock_filter)`.
const INSTRUCTION_SIZE: usize = 8;

/// How [`compile`] shapes its programs: a cache of compiled programs
/// keys on it, so that one of an earlier shape is compiled anew.
pub const PROGRAM_SHAPE: &str = "libseccomp binary tree (SCMP_FLTATR_CTL_OPTIMIZE 2)";

/// Compiles `policy` to a BPF program with libseccomp.
///
/// The filter takes the native architecture and the policy's
/// `architectures`; a syscall of any other ABI (on x86-64: i386 through
/// `int 0x80`, x32) kills the process. Syscall names unknown on this
/// architecture are skipped, as runc does, but a policy whose names are
/// all unknown is an error. Rules whose action is the default action are
/// skipped (libseccomp refuses them). `flags` become the program's
/// `SECCOMP_FILTER_FLAG_*` bits. The program does not set
/// `no_new_privs`: the child does that itself before installing it.
pub fn compile(policy: &Policy) -> Result<SeccompProgram, SeccompError> {
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
    // The same decisions as a binary search over the syscall numbers
    // instead of a linear scan: the kernel runs the filter for every
    // syscall number when it is installed (to fill its cache of syscalls
    // always allowed), so the default profile installs in 0.1 ms instead
    // of 0.3, and an uncached syscall is checked in ~9 jumps, not ~200.
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

    let mut known = 0;
    let mut unknown = Vec::new();
    for (i, rule) in policy.syscalls.iter().enumerate() {
        for name in &rule.names {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                unknown.push(name.as_str());
                continue;
            };
            known += 1;
            if rule.action != policy.default_action {
                add_rule(&mut filter, i, rule, name, syscall)?;
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

    let instructions = export(&filter)?;
    Ok(SeccompProgram {
        instructions,
        flags: policy.flags.iter().fold(0, |bits, flag| bits | flag.bit()),
    })
}

/// Adds one rule for one syscall. Conditions on distinct arguments must
/// all hold (one libseccomp rule); several conditions on the same argument
/// are alternatives (one libseccomp rule each), as runc does it, since
/// libseccomp cannot AND two comparisons of one argument.
fn add_rule(
    filter: &mut ScmpFilterContext,
    index: usize,
    rule: &Rule,
    name: &str,
    syscall: ScmpSyscall,
) -> Result<(), SeccompError> {
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
