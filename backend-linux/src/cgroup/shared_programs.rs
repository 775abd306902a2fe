//! Device programs shared between launcher processes.
//!
//! Loading a device program (the kernel verifies and compiles it, 0.1 ms)
//! is the costliest part of a cgroup2 container's cgroup after its
//! `mkdir`. The program lives as long as a cgroup holds it, and one
//! program may guard any number of cgroups: while a container with the
//! same rules runs, the next launcher can attach the very program that
//! container has instead of loading its own. A directory the caller names
//! ([`share_device_programs`]; cradle's state root keeps `.devices/`)
//! holds a file for each list of instructions, named by their hash, with
//! the id of the program loaded for them last (ten digits and a newline).
//!
//! The file is a hint and nothing more. A program reached by its id is
//! taken only if the kernel shows a device program that runs exactly
//! these instructions; anything else (a program since freed, an id the
//! kernel has given another program, a file someone else wrote, a kernel
//! that does not show instructions, no `CAP_SYS_ADMIN`) and the launcher
//! loads its own and names it in the file. Nothing here fails a launch.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use nix::dir::Dir;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{self, UnlinkatFlags};

use super::bpf;
use super::devices::Insn;

/// Opens the directory of shared programs, when one is first needed.
type OpenDir = Box<dyn Fn() -> Option<OwnedFd> + Send + Sync>;

static OPEN_DIR: OnceLock<OpenDir> = OnceLock::new();
static DIR: OnceLock<Option<OwnedFd>> = OnceLock::new();

/// Shares the device programs this process loads with other processes
/// that name the same directory, and takes theirs: `open_dir` opens it
/// (once, when this process first attaches a device program; `None` if
/// it cannot). The directory should be writable by the caller alone:
/// what it holds is checked before use, but a program found through it
/// is attached to the caller's cgroups.
///
/// Returns false, and changes nothing, if this process shares a
/// directory already.
pub fn share_device_programs(open_dir: impl Fn() -> Option<OwnedFd> + Send + Sync + 'static) -> bool {
    OPEN_DIR.set(Box::new(open_dir)).is_ok()
}

/// The shared directory, opened at the first call.
fn dir() -> Option<BorrowedFd<'static>> {
    let open_dir = OPEN_DIR.get()?;
    DIR.get_or_init(open_dir).as_ref().map(AsFd::as_fd)
}

/// The program another process loaded for `insns`, if it is still there.
pub(super) fn find(insns: &[Insn]) -> Option<OwnedFd> {
    let dir = dir()?;
    let id = read_id(dir, &entry_name(insns))?;
    let program = bpf::program_by_id(id)?;
    bpf::runs_exactly(program.as_fd(), insns).then_some(program)
}

/// Names `program`, just loaded for `insns`, for the next process. A new
/// entry also removes those whose program the kernel has freed, so that
/// the directory holds about one entry for each program alive.
pub(super) fn remember(insns: &[Insn], program: BorrowedFd<'_>) {
    let (Some(dir), Some(id)) = (dir(), bpf::program_id(program)) else {
        return;
    };
    let name = entry_name(insns);
    // Not blocking: a FIFO put in the entry's place does not hang this.
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let mode = Mode::from_bits_truncate(0o600);
    let (file, new) = match openat(dir, name.as_str(), flags | OFlag::O_EXCL, mode) {
        Ok(file) => (file, true),
        Err(_) => match openat(dir, name.as_str(), flags, mode) {
            Ok(file) => (file, false),
            Err(_) => return,
        },
    };
    // Written over the last id, same width, not truncated: a truncation
    // frees the file's block, which a filesystem mounted with `discard`
    // waits for the device to drop (0.4 ms here). A reader that finds
    // the file half written reads no id, or a mix of two, which names
    // no program or one checked as any other.
    let _ = unistd::write(&file, format!("{id:010}\n").as_bytes());
    if new {
        forget_freed(dir, &name);
    }
}

/// Removes the entries, but `keep`, whose program is gone.
fn forget_freed(dir: BorrowedFd<'_>, keep: &str) {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(mut listing) = Dir::openat(dir, ".", flags, Mode::empty()) else {
        return;
    };
    let names: Vec<String> = listing
        .iter()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().ok().map(str::to_owned))
        .filter(|name| is_entry_name(name) && name != keep)
        .collect();
    for name in names {
        let alive = read_id(dir, &name).and_then(bpf::program_by_id).is_some();
        if !alive {
            let _ = unistd::unlinkat(dir, name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// The id in entry `name`, if it holds one.
fn read_id(dir: BorrowedFd<'_>, name: &str) -> Option<u32> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let file = openat(dir, name, flags, Mode::empty()).ok()?;
    let mut buf = [0u8; 16];
    let n = unistd::read(&file, &mut buf).ok()?;
    let line = buf.get(..n)?.split(|&byte| byte == b'\n').next()?;
    std::str::from_utf8(line).ok()?.parse().ok()
}

/// An entry's name: a 64-bit FNV-1a of the instructions' bytes, in hex.
fn entry_name(insns: &[Insn]) -> String {
    let hash = insns
        .iter()
        .flat_map(|insn| insn.to_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{hash:016x}")
}

fn is_entry_name(name: &str) -> bool {
    name.len() == 16 && name.bytes().all(|byte| byte.is_ascii_hexdigit())
}
