//! What can go wrong reading a profile or compiling a policy.

/// Why a seccomp profile could not be read, or a policy compiled. Each
/// variant names what failed: the JSON path, the syscall, the libseccomp
/// call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// The profile is not JSON of the expected shape.
    #[error("seccomp profile: not a profile: {0}")]
    Json(#[source] serde_json::Error),
    /// A name this build does not know: an action, a comparison, an
    /// architecture, a flag, a capability.
    #[error("seccomp profile: {path}: unknown {what} {name:?}")]
    UnknownName {
        /// Where in the profile: `syscalls[3].action`.
        path: String,
        /// What kind of name: `action`, `op`, `architecture`...
        what: &'static str,
        /// The name as written.
        name: String,
    },
    /// A name this build knows but cannot carry out.
    #[error("seccomp profile: {path}: {name} is not supported: {why}")]
    Unsupported {
        /// Where in the profile.
        path: String,
        /// The action or flag.
        name: String,
        /// Why not.
        why: &'static str,
    },
    /// Any other fault in the profile: a missing field, a value out of
    /// range, two fields that exclude each other.
    #[error("seccomp profile: {path}: {message}")]
    Invalid {
        /// Where in the profile.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// Every syscall name in the policy is unknown on this architecture:
    /// the policy cannot be what was meant.
    #[error(
        "seccomp policy: none of its {count} syscall names is known on this architecture (first: {first:?})"
    )]
    NoKnownSyscall {
        /// How many names it has.
        count: usize,
        /// The first of them.
        first: String,
    },
    /// A libseccomp call failed.
    #[error("seccomp: libseccomp {call}{} failed: {source}", if context.is_empty() { String::new() } else { format!(" ({context})") })]
    Libseccomp {
        /// The C function: `seccomp_rule_add`.
        call: &'static str,
        /// What it was given: the rule and the syscall, the architecture.
        context: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// Reading the exported program back failed.
    #[error("seccomp: {doing}: {source}")]
    Io {
        /// What was being done: `creating the memfd for the BPF export`.
        doing: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The compile did not end within its bound, and was killed: see
    /// [`compile_within`](super::compile_within).
    #[error(
        "seccomp: the policy was not compiled within {after:?}, and the compiler was killed \
         (libseccomp is known never to return from some policies with several conditional \
         rules for one syscall)"
    )]
    CompileTimedOut {
        /// The bound.
        after: std::time::Duration,
    },
    /// The compile failed in the process started for it: the error's
    /// text, which is all that travels back.
    #[error("{message} (in the compiler's process)")]
    FailedApart {
        /// The error, as it reads.
        message: String,
    },
    /// The process compiling the policy ended without an answer: it
    /// crashed, or was killed.
    #[error(
        "seccomp: the process compiling the policy ended without an answer{}",
        status.map_or(String::new(), |status| format!(", with {status}"))
    )]
    CompilerDied {
        /// How it ended; `None` where it was reaped by someone else (a
        /// caller that ignores `SIGCHLD`).
        status: Option<cradle_core::ExitStatus>,
    },
    /// libseccomp exported something that is not a BPF program the kernel
    /// would take.
    #[error("seccomp: exported BPF program: {0}")]
    BadProgram(String),
}
