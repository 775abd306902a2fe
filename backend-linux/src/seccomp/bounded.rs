//! Compiling a policy from outside in a process of its own, within a
//! bound.
//!
//! libseccomp does not return from some policies: 2.5.4, 2.5.5 and the
//! source of 2.6.1 (all tried) spin in `_db_tree_put` when a second
//! conditional rule for a syscall shares its first comparison with an
//! earlier rule of another action (one such policy ran 45 minutes on a
//! core before it was killed). Nothing stops a
//! call in progress in this process, so a policy from a user, a bundle or
//! an engine is compiled in a process started for it, which is killed at
//! the bound; a crash there, from the same kind of defect, ends that
//! process and not the caller.
//!
//! That process is this program again (`/proc/self/exe`) with
//! [`COMPILER_ENV`] set to the caller's pid: every program linking this
//! crate takes the compiler's role before `main` (`init::before_main`),
//! reads the policy's JSON on its stdin and writes the program on its
//! stdout. A new program, not a fork: a fork of a multi-threaded caller
//! can find an allocator's lock held for good by a thread it does not
//! have. The compiler dies with the thread that started it
//! (`PR_SET_PDEATHSIG`), so a caller killed during the compile leaves none
//! running.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use cradle_core::confinement::{BpfInstruction, SeccompProgram};
use cradle_core::{ExitStatus, Pid, Time};
use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::prctl;
use nix::sys::signal::Signal as NixSignal;
use nix::unistd;

use super::compile::{check_names, compile};
use super::policy::Policy;
use super::SeccompError;
use crate::wait::{self, Collect};
use crate::{clock, sys};

/// Set to the caller's pid in a compiler's environment: the role.
pub(crate) const COMPILER_ENV: &str = "_CRADLE_SECCOMP_COMPILER";

/// The first byte of an answer: what follows is the program.
const COMPILED: u8 = 0;
/// The first byte of an answer: the compile failed; its error's text
/// follows.
const FAILED: u8 = 1;
/// The compiler's exit codes besides 0: it found its caller gone, its
/// input was not a policy, or its answer could not be written.
const ORPHANED: i32 = 2;
const NOT_A_POLICY: i32 = 3;
const UNWRITTEN: i32 = 4;
/// The kernel's most instructions in a filter (`BPF_MAXINSNS`).
const MAX_INSTRUCTIONS: usize = 4096;
/// The longest answer: a tag, the flags, the count and the most
/// instructions, 8 bytes each.
const MAX_ANSWER: usize = 1 + 4 + 4 + MAX_INSTRUCTIONS * 8;
/// The longest policy a compiler reads.
const MAX_POLICY: u64 = 64 << 20;
/// How long an answered compiler is given to exit, and a killed one to
/// be reaped.
const EXIT_BOUND: Duration = Duration::from_secs(5);

/// [`compile`], in a process started for it, which is killed if it has
/// not answered within `bound`: [`SeccompError::CompileTimedOut`]. A
/// compile that fails there is [`SeccompError::FailedApart`], with its
/// error's text, unless the policy's names are at fault, which this
/// process finds first and gives typed; a compiler that ends without an
/// answer is [`SeccompError::CompilerDied`].
///
/// The compiler is the caller's own program, run again from
/// `/proc/self/exe`; it takes its role before `main`, so nothing of the
/// program's own runs in it. It is given the policy as JSON, so a policy
/// built in code that does not read back the same from its JSON is
/// refused ([`SeccompError::Invalid`]).
pub fn compile_within(policy: &Policy, bound: Duration) -> Result<SeccompProgram, SeccompError> {
    let deadline = clock::now() + bound;
    // Before anything starts: what the compiler would refuse at once.
    check_names(policy)?;
    let input = policy_file(policy)?;
    let mut compiler = Command::new("/proc/self/exe")
        .arg0("cradle-seccomp-compiler")
        .env(COMPILER_ENV, std::process::id().to_string())
        .stdin(Stdio::from(input))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| SeccompError::Io {
            doing: "starting the compiler (/proc/self/exe)",
            source,
        })?;
    let pidfd = match compilers_pidfd(compiler.id()) {
        Ok(pidfd) => pidfd,
        Err(errno) => {
            // Not reaped by this process, so the pid is still the
            // compiler's, unless the caller's children are reaped for it.
            let _ = compiler.kill();
            let _ = compiler.wait();
            return Err(io("opening the compiler's pidfd")(errno));
        }
    };
    let answer = match compiler.stdout.take() {
        Some(stdout) => read_answer(&OwnedFd::from(stdout), deadline),
        None => Err(Unanswered::Failed(Errno::EBADF)),
    };
    let status = pidfd.as_ref().and_then(|pidfd| end(pidfd, answer.is_ok()));
    let answer = match answer {
        Ok(answer) => answer,
        Err(Unanswered::TimedOut) => return Err(SeccompError::CompileTimedOut { after: bound }),
        Err(Unanswered::TooLong) => {
            return Err(SeccompError::BadProgram(format!(
                "the compiler's answer is longer than {MAX_ANSWER} bytes"
            )))
        }
        Err(Unanswered::Failed(errno)) => return Err(io("reading the compiler's answer")(errno)),
    };
    match answer.split_first() {
        Some((&COMPILED, program)) => decode(program),
        Some((&FAILED, message)) => Err(SeccompError::FailedApart {
            message: String::from_utf8_lossy(message).into_owned(),
        }),
        Some(_) => Err(SeccompError::BadProgram(
            "the compiler's answer is malformed".to_owned(),
        )),
        None => Err(SeccompError::CompilerDied { status }),
    }
}

/// A pidfd of the compiler `pid`, taken before this process reaps it:
/// from here it is signalled and reaped through the pidfd alone, never by
/// a pid that may be another process's by then. `None` where it has ended
/// and been reaped already, by someone else (a caller that ignores
/// `SIGCHLD`, a thread that reaps every child), and the pid is free or
/// another process's.
fn compilers_pidfd(pid: u32) -> Result<Option<OwnedFd>, Errno> {
    let pid = i32::try_from(pid).ok().and_then(Pid::new).ok_or(Errno::ESRCH)?;
    let pidfd = match sys::pidfd_open(pid) {
        Ok(pidfd) => pidfd,
        Err(Errno::ESRCH) => return Ok(None),
        Err(errno) => return Err(errno),
    };
    // A process that is not this one's child (the pid reused) cannot be
    // waited for: `ECHILD`.
    match wait::exit_status(pidfd.as_fd(), Collect::Peek) {
        Err(Errno::ECHILD) => Ok(None),
        _ => Ok(Some(pidfd)),
    }
}

/// The policy's JSON in a memfd, at its start: the compiler's stdin,
/// which it reads whenever it likes without the caller writing. The JSON
/// must read back as the same policy.
fn policy_file(policy: &Policy) -> Result<File, SeccompError> {
    let json = serde_json::to_vec(policy).map_err(SeccompError::Json)?;
    if serde_json::from_slice::<Policy>(&json).ok().as_ref() != Some(policy) {
        return Err(SeccompError::Invalid {
            path: String::new(),
            message: "the policy does not read back the same from its JSON, which the compiler is given"
                .to_owned(),
        });
    }
    let fd = memfd_create(c"cradle-seccomp-policy", MFdFlags::MFD_CLOEXEC)
        .map_err(io("creating the memfd for the compiler's policy"))?;
    let mut file = File::from(fd);
    file.write_all(&json)
        .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
        .map_err(|source| SeccompError::Io {
            doing: "writing the compiler's policy",
            source,
        })?;
    Ok(file)
}

/// The compiler's role, taken before `main` in a process started by
/// [`compile_within`], whose pid `caller` is: reads the policy on stdin,
/// answers on stdout, exits.
pub(crate) fn serve(caller: &OsStr) -> ! {
    // Armed before the check, so a caller that dies after it is seen by
    // one or the other.
    let armed = prctl::set_pdeathsig(NixSignal::SIGKILL).is_ok();
    if !armed || caller.to_str() != Some(unistd::getppid().as_raw().to_string().as_str()) {
        let _ = writeln!(
            std::io::stderr(),
            "cradle seccomp compiler: not started by {caller:?}, its caller"
        );
        sys::exit_now(ORPHANED);
    }
    // SAFETY: before `main`, nothing of this process owns a descriptor
    // past stdin, stdout and stderr, and the role ends in `_exit`: what is
    // closed is only what the caller left open across its `exec`.
    let _ = unsafe { sys::close_from(3) };
    let mut json = Vec::new();
    let read = std::io::stdin().take(MAX_POLICY).read_to_end(&mut json);
    let Ok(policy) = read
        .map_err(drop)
        .and_then(|_| serde_json::from_slice::<Policy>(&json).map_err(drop))
    else {
        let _ = writeln!(
            std::io::stderr(),
            "cradle seccomp compiler: stdin is not a policy"
        );
        sys::exit_now(NOT_A_POLICY);
    };
    let answer = match compile(&policy) {
        Ok(program) => encode(&program),
        Err(error) => [&[FAILED][..], error.to_string().as_bytes()].concat(),
    };
    let mut stdout = std::io::stdout();
    match stdout.write_all(&answer).and_then(|()| stdout.flush()) {
        Ok(()) => sys::exit_now(0),
        Err(_) => sys::exit_now(UNWRITTEN),
    }
}

/// Why there is no answer.
enum Unanswered {
    TimedOut,
    TooLong,
    Failed(Errno),
}

/// Everything the compiler writes, until it closes its end (by exiting).
fn read_answer(read: &OwnedFd, deadline: Time) -> Result<Vec<u8>, Unanswered> {
    let mut answer = Vec::new();
    let mut buf = [0_u8; 8192];
    loop {
        match wait::until_ready(read.as_fd(), PollFlags::POLLIN, Some(deadline)) {
            Ok(true) => {}
            Ok(false) => return Err(Unanswered::TimedOut),
            Err(errno) => return Err(Unanswered::Failed(errno)),
        }
        match unistd::read(read, &mut buf) {
            Ok(0) => return Ok(answer),
            Ok(n) if answer.len() + n > MAX_ANSWER => return Err(Unanswered::TooLong),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(Unanswered::Failed(errno)),
        }
    }
}

/// Reaps the compiler behind `pidfd`, killing it first unless it
/// `answered` and exits within [`EXIT_BOUND`] (having closed its stdout,
/// it is exiting); a killed one is waited for as long again, and left to
/// its parent-death signal past that. Its exit status, `None` where it
/// was not reaped here (by someone else, or not within the bound).
fn end(pidfd: &OwnedFd, answered: bool) -> Option<ExitStatus> {
    if answered {
        if let Ok(status) = wait::reap_within(pidfd.as_fd(), EXIT_BOUND) {
            return status;
        }
    }
    wait::kill_and_reap(pidfd.as_fd(), EXIT_BOUND)
}

/// `COMPILED`, the flags, the number of instructions, then each
/// instruction: `code`, `jt`, `jf`, `k`; all little-endian. The count
/// tells a whole answer from one cut short.
fn encode(program: &SeccompProgram) -> Vec<u8> {
    let count = u32::try_from(program.instructions.len()).unwrap_or(u32::MAX);
    let mut bytes = Vec::with_capacity(9 + program.instructions.len() * 8);
    bytes.push(COMPILED);
    bytes.extend_from_slice(&program.flags.to_le_bytes());
    bytes.extend_from_slice(&count.to_le_bytes());
    for instruction in &program.instructions {
        bytes.extend_from_slice(&instruction.code.to_le_bytes());
        bytes.push(instruction.jt);
        bytes.push(instruction.jf);
        bytes.extend_from_slice(&instruction.k.to_le_bytes());
    }
    bytes
}

/// The program of an answer, after its tag: whole, of 1 to
/// `BPF_MAXINSNS` instructions.
fn decode(bytes: &[u8]) -> Result<SeccompProgram, SeccompError> {
    let malformed = || SeccompError::BadProgram("the compiler's answer is malformed".to_owned());
    let (flags, rest) = bytes.split_first_chunk::<4>().ok_or_else(malformed)?;
    let (count, instructions) = rest.split_first_chunk::<4>().ok_or_else(malformed)?;
    let count = usize::try_from(u32::from_le_bytes(*count)).map_err(|_| malformed())?;
    if !(1..=MAX_INSTRUCTIONS).contains(&count) || instructions.len() != count * 8 {
        return Err(malformed());
    }
    let instructions = instructions
        .chunks_exact(8)
        .map(|i| BpfInstruction {
            code: u16::from_le_bytes([i[0], i[1]]),
            jt: i[2],
            jf: i[3],
            k: u32::from_le_bytes([i[4], i[5], i[6], i[7]]),
        })
        .collect();
    Ok(SeccompProgram {
        instructions,
        flags: u32::from_le_bytes(*flags),
    })
}

fn io(doing: &'static str) -> impl Fn(Errno) -> SeccompError {
    move |errno| SeccompError::Io {
        doing,
        source: errno.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Instant;

    use cradle_core::confinement::Capability;

    use super::*;
    use crate::seccomp::default_policy;

    fn policy(json: &str) -> Policy {
        Policy::from_json(json.as_bytes(), &BTreeSet::new()).expect("a policy")
    }

    /// Two rules for `accept4` of different actions that both compare
    /// argument 0 first: libseccomp (2.5.4, 2.5.5, 2.6.1) never returns
    /// from the second `seccomp_rule_add`.
    const NEVER_COMPILED: &str = r#"{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [
        {"names": ["accept4"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
         "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_NE"}, {"index": 1, "value": 5, "op": "SCMP_CMP_NE"}]},
        {"names": ["accept4"], "action": "SCMP_ACT_TRACE", "errnoRet": 2,
         "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_NE"}, {"index": 2, "value": 8, "op": "SCMP_CMP_NE"}]}
    ]}"#;

    /// The children of the calling thread: libtest runs each test on a
    /// thread of its own, so these are the test's.
    fn own_children() -> String {
        std::fs::read_to_string("/proc/thread-self/children").expect("/proc/thread-self/children")
    }

    #[test]
    fn a_compile_that_never_ends_is_killed_at_its_bound_and_reaped() {
        let started = Instant::now();
        let error = compile_within(&policy(NEVER_COMPILED), Duration::from_millis(300)).expect_err("killed");
        let took = started.elapsed();
        assert!(
            matches!(error, SeccompError::CompileTimedOut { after } if after == Duration::from_millis(300)),
            "{error:?}"
        );
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert!(error.to_string().contains("not compiled within 300ms"), "{error}");
        assert_eq!(own_children(), "", "no compiler left, running or a zombie");
    }

    #[test]
    fn a_compiler_killed_from_outside_is_reported_dead() {
        let (tell, told) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            tell.send(unistd::gettid()).expect("told");
            compile_within(&policy(NEVER_COMPILED), Duration::from_secs(20))
        });
        let children = format!("/proc/self/task/{}/children", told.recv().expect("a tid"));
        let started = Instant::now();
        let compiler = loop {
            let text = std::fs::read_to_string(&children).unwrap_or_default();
            if let Some(pid) = text.split_whitespace().next() {
                break unistd::Pid::from_raw(pid.parse().expect("a pid"));
            }
            assert!(started.elapsed() < Duration::from_secs(5), "no compiler started");
            std::thread::sleep(Duration::from_millis(5));
        };
        // The worker's child, not reaped until the worker sees it end.
        nix::sys::signal::kill(compiler, NixSignal::SIGKILL).expect("killed");
        let error = worker.join().expect("the worker").expect_err("no program");
        assert!(
            matches!(
                error,
                SeccompError::CompilerDied {
                    status: Some(ExitStatus::Signaled(9))
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .ends_with("ended without an answer, with killed by signal 9"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_pid_that_is_not_a_child_gets_no_pidfd_and_a_child_is_ended_at_its_bound() {
        // Pid 1 is never this process's child: what a reused pid would be.
        assert!(compilers_pidfd(1).expect("pid 1").is_none());
        let mut sleeper = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pidfd = compilers_pidfd(sleeper.id())
            .expect("a child")
            .expect("its pidfd");
        let early = wait::reap_within(pidfd.as_fd(), Duration::from_millis(50));
        assert!(
            matches!(early, Err(crate::error::Error::TimedOut { .. })),
            "{early:?}"
        );
        let started = Instant::now();
        // Not answered: killed, then reaped through the pidfd.
        assert_eq!(end(&pidfd, false), Some(ExitStatus::Signaled(libc::SIGKILL)));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(sleeper.try_wait().is_err(), "reaped already, through the pidfd");
        assert_eq!(own_children(), "");
    }

    #[test]
    fn a_policy_compiled_apart_is_the_program_compiled_here() {
        let caps: BTreeSet<Capability> = Capability::DEFAULT.into_iter().collect();
        let conditional = policy(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG"], "syscalls": [
                {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        for policy in [default_policy(&caps), conditional] {
            let apart = compile_within(&policy, Duration::from_secs(30)).expect("compiled apart");
            assert_eq!(apart, compile(&policy).expect("compiled here"));
            assert!(apart.instructions.len() > 4);
        }
        assert_eq!(own_children(), "");
    }

    #[test]
    fn unknown_names_are_refused_typed_before_any_compiler_starts() {
        let unknown = policy(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["no_such_call"], "action": "SCMP_ACT_ALLOW"}]}"#,
        );
        let error = compile_within(&unknown, Duration::from_secs(30)).expect_err("refused");
        assert!(
            matches!(&error, SeccompError::NoKnownSyscall { count: 1, first } if first == "no_such_call"),
            "{error:?}"
        );
    }

    #[test]
    fn a_compile_that_fails_apart_says_what_failed_there() {
        // The same condition for two actions: libseccomp's EEXIST.
        let conflicting = policy(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
                {"names": ["read"], "action": "SCMP_ACT_TRAP", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        let here = compile(&conflicting).expect_err("refused here");
        assert!(matches!(here, SeccompError::Libseccomp { .. }), "{here:?}");
        let apart = compile_within(&conflicting, Duration::from_secs(30)).expect_err("refused apart");
        assert!(
            matches!(&apart, SeccompError::FailedApart { message } if *message == here.to_string()),
            "{apart:?}"
        );
        assert!(apart
            .to_string()
            .contains("seccomp_rule_add (syscalls[1], read, SCMP_ACT_TRAP)"));
        assert_eq!(own_children(), "");
    }

    #[test]
    fn a_policy_that_its_json_does_not_carry_is_refused() {
        let mut nameless = policy(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["write"], "action": "SCMP_ACT_ALLOW"}]}"#,
        );
        nameless.syscalls[1].names.clear();
        assert!(compile(&nameless).is_ok());
        let error = compile_within(&nameless, Duration::from_secs(30)).expect_err("refused");
        assert!(matches!(error, SeccompError::Invalid { .. }), "{error:?}");
    }

    #[test]
    fn a_compiler_not_started_by_its_caller_answers_nothing() {
        let output = std::process::Command::new("/proc/self/exe")
            .env(COMPILER_ENV, "1")
            .stdin(Stdio::null())
            .output()
            .expect("the program again");
        assert_eq!(output.status.code(), Some(ORPHANED));
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("not started by \"1\", its caller"), "{stderr}");
    }

    #[test]
    fn an_answer_decodes_to_the_program_encoded_and_a_cut_one_is_refused() {
        let program = SeccompProgram {
            instructions: vec![
                BpfInstruction {
                    code: 0x20,
                    jt: 0,
                    jf: 0,
                    k: 4,
                },
                BpfInstruction {
                    code: 0x15,
                    jt: 1,
                    jf: 255,
                    k: 0xc000_003e,
                },
                BpfInstruction {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0x7fff_0000,
                },
            ],
            flags: 2,
        };
        let bytes = encode(&program);
        assert_eq!(bytes.len(), 1 + 4 + 4 + 3 * 8);
        assert_eq!(bytes[0], COMPILED);
        assert_eq!(decode(&bytes[1..]).expect("decodes"), program);
        // Cut anywhere, even between two instructions, or lengthened.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&bytes[9..17]);
        for answer in (1..bytes.len()).map(|end| &bytes[..end]).chain([&longer[..]]) {
            assert!(
                matches!(decode(&answer[1..]), Err(SeccompError::BadProgram(_))),
                "{} bytes",
                answer.len()
            );
        }
        // No instruction, or more than the kernel takes.
        for count in [0_u32, 4097] {
            let mut header = vec![0_u8; 4];
            header.extend_from_slice(&count.to_le_bytes());
            header.resize(8 + 8 * count as usize, 0);
            assert!(
                matches!(decode(&header), Err(SeccompError::BadProgram(_))),
                "{count}"
            );
        }
    }
}
