//! The `bpf` system calls of device programs: load one, attach it to a
//! cgroup2 directory, and, to take a program another process loaded
//! (see `shared_programs`), reach it by its id, read its instructions
//! back, and list a directory's. Each `unsafe` block is one `bpf` call, or
//! takes the descriptor one returned.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::devices::Insn;
use super::error::CgroupError;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
/// The most programs `BPF_F_ALLOW_MULTI` lets one cgroup hold for one
/// attach type (`BPF_CGROUP_MAX_PROGS`).
const MAX_PROGRAMS: usize = 64;
/// The program's license; a device program calls no GPL-only helper.
const LICENSE: &str = "Apache-2.0";
/// Room for the verifier's account of a refused program.
const VERIFIER_LOG_SIZE: usize = 64 * 1024;

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, up to
/// `expected_attach_type` (the kernel takes a shorter attr than its own).
#[repr(C)]
#[derive(Debug, Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// The `BPF_PROG_GET_FD_BY_ID` part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// The `BPF_OBJ_GET_INFO_BY_FD` part of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
struct InfoByFdAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `struct bpf_prog_info`, up to `xlated_prog_insns` (the kernel fills
/// as much as it is given room for).
#[repr(C)]
#[derive(Debug, Default)]
struct ProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
}

/// The `BPF_PROG_QUERY` part of `union bpf_attr`, up to `prog_cnt`.
#[repr(C)]
#[derive(Debug, Default)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _padding: u32,
}

/// `bpf(BPF_PROG_LOAD)`; when the kernel refuses the program, loads it
/// again with a verifier log to report.
pub(super) fn load(insns: &[Insn], path: &Path) -> Result<OwnedFd, CgroupError> {
    let license = CString::new(LICENSE).expect("no NUL in the license");
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"cradle_devcg");
    let insn_cnt = u32::try_from(insns.len()).map_err(|_| CgroupError::Bpf {
        command: "BPF_PROG_LOAD",
        path: path.to_owned(),
        source: io::Error::from_raw_os_error(libc::E2BIG),
        log: String::new(),
    })?;
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..ProgLoadAttr::default()
    };
    // The instructions and the license `attr` points to outlive the
    // call, and the kernel only reads them.
    let ret = bpf(BPF_PROG_LOAD, &mut attr);
    if ret >= 0 {
        return Ok(owned_fd(ret));
    }
    let source = io::Error::last_os_error();
    let mut log = vec![0u8; VERIFIER_LOG_SIZE];
    attr.log_level = 1;
    attr.log_size = VERIFIER_LOG_SIZE as u32;
    attr.log_buf = log.as_mut_ptr() as u64;
    // The kernel writes at most `log_size` bytes of the verifier's log
    // into `log`, which outlives the call.
    let ret = bpf(BPF_PROG_LOAD, &mut attr);
    if ret >= 0 {
        // Accepted the second time: whatever refused it first has passed.
        return Ok(owned_fd(ret));
    }
    let end = log.iter().position(|byte| *byte == 0).unwrap_or(log.len());
    Err(CgroupError::Bpf {
        command: "BPF_PROG_LOAD",
        path: path.to_owned(),
        source,
        log: String::from_utf8_lossy(&log[..end]).trim_end().to_owned(),
    })
}

/// `bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)`.
pub(super) fn attach(dir: BorrowedFd<'_>, program: &OwnedFd, path: &Path) -> Result<(), CgroupError> {
    let fd = |fd: RawFd| u32::try_from(fd).expect("an open fd is not negative");
    let mut attr = ProgAttachAttr {
        target_fd: fd(dir.as_raw_fd()),
        attach_bpf_fd: fd(program.as_raw_fd()),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..ProgAttachAttr::default()
    };
    // `attr` holds two fds that stay open for the call.
    let ret = bpf(BPF_PROG_ATTACH, &mut attr);
    if ret < 0 {
        return Err(CgroupError::Bpf {
            command: "BPF_PROG_ATTACH",
            path: path.to_owned(),
            source: io::Error::last_os_error(),
            log: String::new(),
        });
    }
    Ok(())
}

/// The loaded program whose id is `id`, if the kernel still has one: it
/// frees a program once no cgroup and no descriptor holds it.
pub(super) fn program_by_id(id: u32) -> Option<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..GetFdByIdAttr::default()
    };
    let ret = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr);
    (ret >= 0).then(|| owned_fd(ret))
}

/// What the kernel says of `program`, with as much of its instructions as
/// `xlated` has room for, as the verifier left them.
fn info(program: BorrowedFd<'_>, xlated: &mut [u8]) -> Option<ProgInfo> {
    let mut info = ProgInfo {
        xlated_prog_len: u32::try_from(xlated.len()).ok()?,
        xlated_prog_insns: xlated.as_mut_ptr() as u64,
        ..ProgInfo::default()
    };
    let mut attr = InfoByFdAttr {
        bpf_fd: u32::try_from(program.as_raw_fd()).ok()?,
        info_len: u32::try_from(std::mem::size_of::<ProgInfo>()).ok()?,
        info: std::ptr::from_mut(&mut info) as u64,
    };
    // `info` and `xlated`, which the kernel writes, outlive the call.
    (bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) == 0).then_some(info)
}

/// The id the kernel gave `program`.
pub(super) fn program_id(program: BorrowedFd<'_>) -> Option<u32> {
    info(program, &mut []).map(|info| info.id)
}

/// Whether `program` is a device program that runs exactly `insns`. The
/// verifier leaves a device program's instructions as they came (it has
/// no context field to rewrite, no helper, no map); where a kernel
/// rewrites them, or shows them to nobody, this is false, and the caller
/// loads its own.
pub(super) fn runs_exactly(program: BorrowedFd<'_>, insns: &[Insn]) -> bool {
    let wanted: Vec<u8> = insns.iter().flat_map(|insn| insn.to_bytes()).collect();
    let mut xlated = vec![0u8; wanted.len()];
    info(program, &mut xlated).is_some_and(|info| {
        info.prog_type == BPF_PROG_TYPE_CGROUP_DEVICE
            && usize::try_from(info.xlated_prog_len).ok() == Some(wanted.len())
            && xlated == wanted
    })
}

/// The ids of the device programs attached to the cgroup2 directory `dir`
/// (open, at `path`, named in errors), in the order they run.
pub(super) fn attached(dir: BorrowedFd<'_>, path: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut ids = vec![0u32; MAX_PROGRAMS];
    let mut attr = ProgQueryAttr {
        target_fd: u32::try_from(dir.as_raw_fd()).expect("an open fd is not negative"),
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: MAX_PROGRAMS as u32,
        ..ProgQueryAttr::default()
    };
    // `ids`, which the kernel fills, outlives the call.
    if bpf(BPF_PROG_QUERY, &mut attr) < 0 {
        return Err(CgroupError::Bpf {
            command: "BPF_PROG_QUERY",
            path: path.to_owned(),
            source: io::Error::last_os_error(),
            log: String::new(),
        });
    }
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// The verifier's count of instructions it walked to accept `insns`
/// (its `BPF_LOG_STATS` line: "processed N insns").
#[cfg(test)]
pub(super) fn verifier_walk(insns: &[Insn]) -> usize {
    const BPF_LOG_STATS: u32 = 4;
    let license = CString::new(LICENSE).expect("no NUL");
    let mut log = vec![0u8; VERIFIER_LOG_SIZE];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).expect("a short program"),
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: BPF_LOG_STATS,
        log_size: VERIFIER_LOG_SIZE as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..ProgLoadAttr::default()
    };
    let ret = bpf(BPF_PROG_LOAD, &mut attr);
    let end = log.iter().position(|byte| *byte == 0).unwrap_or(0);
    let log = String::from_utf8_lossy(&log[..end]).into_owned();
    assert!(ret >= 0, "refused: {} {log}", io::Error::last_os_error());
    drop(owned_fd(ret));
    log.split_once("processed ")
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count in the verifier's log: {log}"))
}

// The layouts the kernel reads and writes (`union bpf_attr`'s parts,
// `struct bpf_prog_info`'s start, `struct bpf_insn`).
const _: () = assert!(std::mem::size_of::<GetFdByIdAttr>() == 12);
const _: () = assert!(std::mem::size_of::<InfoByFdAttr>() == 16);
const _: () = assert!(std::mem::size_of::<ProgInfo>() == 40);
const _: () = assert!(std::mem::size_of::<ProgQueryAttr>() == 32);
const _: () = assert!(std::mem::size_of::<Insn>() == 8);

/// The `bpf_attr` prefixes this module passes to the kernel.
trait BpfAttr {}
impl BpfAttr for ProgLoadAttr {}
impl BpfAttr for ProgAttachAttr {}
impl BpfAttr for GetFdByIdAttr {}
impl BpfAttr for InfoByFdAttr {}
impl BpfAttr for ProgQueryAttr {}

/// `bpf(command, attr, sizeof attr)`; the raw return value (-1 with
/// `errno` set on failure).
fn bpf<Attr: BpfAttr>(command: libc::c_long, attr: &mut Attr) -> libc::c_long {
    // SAFETY: `attr` is a `bpf_attr` prefix (one of the `repr(C)` types
    // that implement `BpfAttr`) of the size passed; every pointer it holds
    // is the caller's and outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            std::ptr::from_mut(attr),
            std::mem::size_of::<Attr>(),
        )
    }
}

/// The descriptor a command that makes one returned (`ret >= 0`).
fn owned_fd(ret: libc::c_long) -> OwnedFd {
    let fd = RawFd::try_from(ret).expect("the kernel returns an int fd");
    // SAFETY: BPF_PROG_LOAD or BPF_PROG_GET_FD_BY_ID returned a new fd that
    // nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
