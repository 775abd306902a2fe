//! Escape attempts for the confinement suite, run inside a container: each
//! makes one real call and prints one line, `ok` or the errno's name
//! (`EPERM`). The payloads are harmless when a defence is missing:
//! invalid arguments, an open without a write, a write of `1` to
//! `drop_caches`; never a real disk's data.
//!
//! Usage: `cradle-test-probe ATTEMPT [ARG...]`.

use std::ffi::CString;
use std::io::Write as _;

use nix::errno::Errno;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((attempt, rest)) = args.split_first() else {
        usage();
    };
    let arg = |i: usize| rest.get(i).map(String::as_str).unwrap_or_else(|| usage());
    let result = match attempt.as_str() {
        "mount" => mount_tmpfs(arg(0)),
        "unshare-user" => unshare(libc::CLONE_NEWUSER),
        "unshare-mount" => unshare(libc::CLONE_NEWNS),
        "clone-newns" => clone_with(libc::CLONE_NEWNS),
        "keyctl" => add_key(),
        "init-module" => init_module(),
        "finit-module" => finit_module(),
        "mknod-block" => mknod_block(arg(0), arg(1), arg(2)),
        "open-read" => open(arg(0), libc::O_RDONLY).map(|_| None),
        "open-write" => open(arg(0), libc::O_WRONLY).map(|_| None),
        "write" => write(arg(0), arg(1)),
        "read" => read(arg(0)),
        "ptrace" => ptrace_seize(arg(0)),
        "process-vm-readv" => process_vm_readv(arg(0)),
        "bpf" => bpf(),
        "perf-event-open" => perf_event_open(),
        "setns" => setns_path(arg(0)),
        "setns-fd" => setns_fd(arg(0)),
        "personality" => personality(arg(0)),
        "reopen-exe" => reopen_exe(arg(0)),
        _ => usage(),
    };
    let line = match result {
        Ok(Some(detail)) => format!("ok {detail}"),
        Ok(None) => "ok".to_owned(),
        Err(errno) => format!("{errno:?}"),
    };
    let _ = writeln!(std::io::stdout(), "{line}");
}

type Outcome = Result<Option<String>, Errno>;

fn usage() -> ! {
    let _ = writeln!(std::io::stderr(), "usage: cradle-test-probe ATTEMPT [ARG...]");
    std::process::exit(2)
}

fn c(text: &str) -> CString {
    CString::new(text).unwrap_or_else(|_| usage())
}

fn check(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    Errno::result(ret)
}

fn mount_tmpfs(target: &str) -> Outcome {
    let (source, fstype, target) = (c("probe"), c("tmpfs"), c(target));
    // SAFETY: C strings that outlive the call; no data argument.
    let ret = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    check(ret.into()).map(|_| None)
}

fn unshare(flags: libc::c_int) -> Outcome {
    // SAFETY: unshare takes flags only.
    check(unsafe { libc::unshare(flags) }.into()).map(|_| None)
}

/// A raw `clone` with `flags`: the child exits at once.
fn clone_with(flags: libc::c_int) -> Outcome {
    let flags = libc::c_ulong::try_from(flags | libc::SIGCHLD).unwrap_or(0);
    // SAFETY: without CLONE_VM the child has its own copy of memory; it
    // calls `_exit` only.
    let pid = check(unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) })?;
    if pid == 0 {
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) }
    }
    let mut status = 0;
    // SAFETY: waits for the child just made; `status` outlives the call.
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    Ok(None)
}

fn add_key() -> Outcome {
    let (kind, description, payload) = (c("user"), c("cradle-probe"), b"x");
    // SAFETY: C strings and a payload that outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            description.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            libc::KEY_SPEC_PROCESS_KEYRING,
        )
    };
    check(ret).map(|_| None)
}

/// `init_module` of an empty image: refused by the kernel (EINVAL or
/// EFAULT) if nothing refuses it first.
fn init_module() -> Outcome {
    let params = c("");
    // SAFETY: a null image of length 0 and a C string.
    let ret = unsafe { libc::syscall(libc::SYS_init_module, std::ptr::null::<u8>(), 0, params.as_ptr()) };
    check(ret).map(|_| None)
}

/// `finit_module` of a bad descriptor: EBADF if nothing refuses it first.
fn finit_module() -> Outcome {
    let params = c("");
    // SAFETY: fd -1 and a C string.
    let ret = unsafe { libc::syscall(libc::SYS_finit_module, -1, params.as_ptr(), 0) };
    check(ret).map(|_| None)
}

fn mknod_block(path: &str, major: &str, minor: &str) -> Outcome {
    let number = |text: &str| text.parse::<u32>().unwrap_or_else(|_| usage());
    let path = c(path);
    let device = libc::makedev(number(major), number(minor));
    // SAFETY: a C string that outlives the call.
    let ret = unsafe { libc::mknod(path.as_ptr(), libc::S_IFBLK | 0o600, device) };
    check(ret.into()).map(|_| None)
}

fn open(path: &str, flags: libc::c_int) -> Result<libc::c_int, Errno> {
    let path = c(path);
    // SAFETY: a C string that outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    Errno::result(fd)
}

fn write(path: &str, data: &str) -> Outcome {
    let fd = open(path, libc::O_WRONLY)?;
    // SAFETY: `data` outlives the call; `fd` is ours.
    let ret = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    check(ret as libc::c_long).map(|n| Some(format!("wrote {n}")))
}

fn read(path: &str) -> Outcome {
    let fd = open(path, libc::O_RDONLY)?;
    let mut buf = [0u8; 16];
    // SAFETY: `buf` outlives the call and has the length given.
    let ret = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    check(ret as libc::c_long).map(|n| Some(format!("read {n}")))
}

fn pid(text: &str) -> libc::pid_t {
    text.parse().unwrap_or_else(|_| usage())
}

/// `PTRACE_SEIZE` of process `target` (it is not stopped), detached again
/// if it was let through.
fn ptrace_seize(target: &str) -> Outcome {
    let target = pid(target);
    // SAFETY: PTRACE_SEIZE takes a pid and no memory.
    let ret = unsafe { libc::ptrace(libc::PTRACE_SEIZE, target, 0, 0) };
    check(ret).map(|_| {
        // SAFETY: PTRACE_DETACH of the process just seized.
        unsafe { libc::ptrace(libc::PTRACE_DETACH, target, 0, 0) };
        None
    })
}

/// Reads 8 bytes of process `target`'s memory at a null address: EFAULT
/// if nothing refuses it first.
fn process_vm_readv(target: &str) -> Outcome {
    let mut buf = [0u8; 8];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: buf.len(),
    };
    // SAFETY: one local iovec over `buf`, which outlives the call.
    let ret = unsafe { libc::process_vm_readv(pid(target), &local, 1, &remote, 1, 0) };
    check(ret as libc::c_long).map(|_| None)
}

/// `bpf(BPF_MAP_CREATE)` with an empty attribute: EINVAL if nothing
/// refuses it first.
fn bpf() -> Outcome {
    let attr = [0u8; 64];
    // SAFETY: a zeroed attribute of the size given, only read.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, 0, attr.as_ptr(), attr.len()) };
    check(ret).map(|_| None)
}

/// `perf_event_open` with an empty attribute: EINVAL if nothing refuses it
/// first.
fn perf_event_open() -> Outcome {
    let attr = [0u8; 128];
    // SAFETY: a zeroed attribute, only read.
    let ret = unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 0) };
    check(ret).map(|fd| {
        // SAFETY: closes the descriptor just opened.
        unsafe { libc::close(fd as libc::c_int) };
        None
    })
}

/// Joins the namespace at `path` (`/proc/1/ns/mnt`).
fn setns_path(path: &str) -> Outcome {
    let fd = open(path, libc::O_RDONLY)?;
    // SAFETY: setns takes a descriptor and flags.
    check(unsafe { libc::setns(fd, 0) }.into()).map(|_| None)
}

/// Joins the namespace whose descriptor `fd` the probe was given.
fn setns_fd(fd: &str) -> Outcome {
    let fd: libc::c_int = fd.parse().unwrap_or_else(|_| usage());
    // SAFETY: setns takes a descriptor and flags.
    check(unsafe { libc::setns(fd, 0) }.into()).map(|_| None)
}

/// The CVE-2019-5736 move: holds `/proc/<pid>/exe` (an `O_PATH`
/// descriptor), says `held`, waits for a line on stdin (the test stops the
/// process meanwhile, so its binary is no longer busy), then reopens the
/// descriptor for writing. Nothing is ever written.
fn reopen_exe(target: &str) -> Outcome {
    let held = open(&format!("/proc/{}/exe", pid(target)), libc::O_PATH)?;
    let _ = writeln!(std::io::stdout(), "held");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    open(&format!("/proc/self/fd/{held}"), libc::O_WRONLY).map(|_| None)
}

/// `personality(value)`; prints the previous persona.
fn personality(value: &str) -> Outcome {
    let value = u64::from_str_radix(value.trim_start_matches("0x"), 16).unwrap_or_else(|_| usage());
    // SAFETY: personality takes a number.
    let ret = unsafe { libc::syscall(libc::SYS_personality, value) };
    check(ret).map(|previous| Some(format!("{previous:#x}")))
}
