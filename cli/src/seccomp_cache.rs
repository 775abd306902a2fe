//! Compiled seccomp filters, kept in the state root so that a policy is
//! compiled once, not by every `cradle run` and `exec` (libseccomp takes
//! about 1.5 ms for the default profile; reading the program back, tens of
//! microseconds).
//!
//! An entry is `.seccomp/<hash>`: the policy's JSON on the first line, the
//! program's on the second. It is used only if its first line is exactly
//! the policy asked for, so a collision or a stale entry is compiled anew,
//! never taken. The state root is the caller's own and writable by nobody
//! else (see `state_fs::open_root`), and entries are reached through its
//! descriptor, following no symlink.

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cradle_core::confinement::{Capability, SeccompProgram};
use cradle_linux::seccomp::{self, Policy, SeccompError};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::fstatat;

use crate::error::CliError;
use crate::state::StateRoot;
use crate::state_fs;

const CACHE_DIR: &str = ".seccomp";

/// Compiles policies, through the cache of a state root.
#[derive(Debug)]
pub(crate) struct Compiler<'a> {
    states: &'a StateRoot,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(states: &'a StateRoot) -> Compiler<'a> {
        Compiler { states }
    }

    /// The program of `policy`: from the cache, or compiled (and cached
    /// when the state root exists already; a first run makes nothing
    /// before its input is checked).
    pub(crate) fn compile(&self, policy: &Policy) -> Result<SeccompProgram, CliError> {
        let key = serde_json::to_vec(policy).map_err(|e| usage(format!("seccomp profile: {e}")))?;
        self.compile_keyed(&key, || policy, compile_apart)
    }

    /// The program of cradle's default policy for a process with
    /// `capabilities`, cached under a key of this build and the
    /// capabilities: the policy is made of this build's tables, so a hit
    /// needs neither the policy (30 us to build) nor its JSON (20 us).
    pub(crate) fn compile_default(
        &self,
        capabilities: &BTreeSet<Capability>,
    ) -> Result<SeccompProgram, CliError> {
        let key = default_key(capabilities)?;
        // cradle's own policy, which libseccomp is known to compile: in
        // this process.
        self.compile_keyed(&key, || seccomp::default_policy(capabilities), seccomp::compile)
    }

    /// The program cached under `key`, else of `policy()`, compiled by
    /// `compile` and cached under `key`.
    fn compile_keyed<P: Borrow<Policy>>(
        &self,
        key: &[u8],
        policy: impl FnOnce() -> P,
        compile: impl FnOnce(&Policy) -> Result<SeccompProgram, SeccompError>,
    ) -> Result<SeccompProgram, CliError> {
        let name = entry_name(key);
        let root = self.states.open_existing()?;
        let cache = root.as_ref().and_then(|root| open_cache(root.as_fd()));
        if let Some(program) = cache.as_ref().and_then(|dir| read_entry(dir.as_fd(), &name, key)) {
            return Ok(program);
        }
        let program = compile(policy().borrow()).map_err(|e| usage(format!("seccomp profile: {e}")))?;
        if let Some(dir) = &cache {
            // A cache that cannot be written costs the next run a compile,
            // nothing more.
            let _ = write_entry(dir.as_fd(), &name, key, &program);
            prune(dir.as_fd(), &name);
        }
        Ok(program)
    }
}

/// How long a policy may take to compile: podman's profile takes about
/// 20 ms, the compiler's start included.
const COMPILE_BOUND: Duration = Duration::from_secs(10);

/// `policy`'s program, compiled in a process of its own and killed at
/// [`COMPILE_BOUND`]: libseccomp never returns from some policies.
fn compile_apart(policy: &Policy) -> Result<SeccompProgram, SeccompError> {
    seccomp::compile_within(policy, COMPILE_BOUND)
}

/// The cache key of the default policy for `capabilities`: a line no
/// policy's JSON can be (it has no `defaultAction`).
fn default_key(capabilities: &BTreeSet<Capability>) -> Result<Vec<u8>, CliError> {
    let capabilities =
        serde_json::to_string(capabilities).map_err(|e| usage(format!("seccomp profile: {e}")))?;
    Ok(format!("{}\"capabilities\":{capabilities}}}", default_key_prefix()).into_bytes())
}

/// How every default policy's key begins.
const DEFAULT_KEY_OPENING: &str = "{\"cradle default policy\":";

/// How this build's default policy keys begin.
fn default_key_prefix() -> String {
    format!("{DEFAULT_KEY_OPENING}\"{}\",", cradle_linux::build_fingerprint())
}

fn usage(message: String) -> CliError {
    CliError::Usage(message)
}

/// The cache directory in the state root, made if missing.
fn open_cache(root: BorrowedFd<'_>) -> Option<std::os::fd::OwnedFd> {
    state_fs::open_or_make_dir_at(root, CACHE_DIR)
}

/// The entry's name: a 64-bit FNV-1a (stable across builds, unlike std's
/// hasher) of this build's version, the shape of program the compiler
/// makes, and the policy.
fn entry_name(key: &[u8]) -> String {
    let hash = env!("CARGO_PKG_VERSION")
        .as_bytes()
        .iter()
        .chain(seccomp::PROGRAM_SHAPE.as_bytes())
        .chain(key)
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{hash:016x}")
}

/// The program of entry `name`, if its policy line is `key` exactly.
fn read_entry(dir: BorrowedFd<'_>, name: &str, key: &[u8]) -> Option<SeccompProgram> {
    let bytes = state_fs::read_at(dir, name).ok()?;
    let (policy, program) = bytes.split_at(bytes.iter().position(|&b| b == b'\n')?);
    if policy != key {
        return None;
    }
    serde_json::from_slice(program.get(1..)?).ok()
}

/// How long an entry that no run of this build reads is kept after it
/// was written: two builds run side by side (an upgrade under way, a
/// benchmark of two builds) each keep theirs, instead of each miss
/// removing the other's and every other run compiling.
const OTHER_BUILDS_KEPT: Duration = Duration::from_secs(24 * 60 * 60);

/// Removes, on a miss (a new build's first run, a new policy), what no
/// run of this build will read, once it is [`OTHER_BUILDS_KEPT`] old:
/// entries of other versions or program shapes (their name is not the
/// hash this build gives their policy line) and the default policy of
/// other builds; and the temporaries of writers that died before their
/// rename. Another build's run that still wanted its entry compiles it
/// again.
fn prune(dir: BorrowedFd<'_>, keep: &str) {
    let own_default = default_key_prefix();
    for name in state_fs::names(dir).unwrap_or_default() {
        let stale = if let Some(temporary) = name.strip_prefix('.') {
            temporary
                .rsplit_once('.')
                .and_then(|(_, pid)| pid.parse::<i32>().ok())
                .is_some_and(|pid| !is_alive(pid))
        } else if name == keep {
            false
        } else {
            match state_fs::read_at(dir, &name) {
                Ok(bytes) => {
                    let key = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
                    let others = entry_name(key) != name
                        || (key.starts_with(DEFAULT_KEY_OPENING.as_bytes())
                            && !key.starts_with(own_default.as_bytes()));
                    others && written_before(dir, &name, OTHER_BUILDS_KEPT)
                }
                Err(_) => false,
            }
        };
        if stale {
            let _ = nix::unistd::unlinkat(dir, name.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// Whether entry `name` was last written more than `age` ago.
fn written_before(dir: BorrowedFd<'_>, name: &str, age: Duration) -> bool {
    let Ok(stat) = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
        return false;
    };
    let written =
        u64::try_from(stat.st_mtime).map_or(UNIX_EPOCH, |secs| UNIX_EPOCH + Duration::from_secs(secs));
    SystemTime::now()
        .duration_since(written)
        .is_ok_and(|since| since > age)
}

/// Whether process `pid` exists (a temporary's writer).
fn is_alive(pid: i32) -> bool {
    pid == std::process::id() as i32
        || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) != Err(Errno::ESRCH)
}

fn write_entry(dir: BorrowedFd<'_>, name: &str, key: &[u8], program: &SeccompProgram) -> std::io::Result<()> {
    let mut bytes = key.to_vec();
    bytes.push(b'\n');
    serde_json::to_writer(&mut bytes, program)?;
    let temporary = format!(".{name}.{}", std::process::id());
    state_fs::replace_at(dir, name, &temporary, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Overwrites the entry at `path` with an empty program under another
    /// policy line.
    fn forge(path: &std::path::Path) {
        let program = serde_json::to_string(&SeccompProgram::default()).expect("json");
        std::fs::write(path, format!("{{}}\n{program}")).expect("forge the entry");
    }

    #[test]
    fn a_policy_is_compiled_once_and_read_back_the_same() {
        let root = tempfile::tempdir().expect("a state root");
        let states = StateRoot::new(root.path());
        let compiler = Compiler::new(&states);
        let caps: BTreeSet<Capability> = Capability::DEFAULT.into_iter().collect();
        let policy = seccomp::default_policy(&caps);
        let compiled = compiler.compile(&policy).expect("compiles");
        let entries = std::fs::read_dir(root.path().join(CACHE_DIR))
            .expect("the cache")
            .count();
        assert_eq!(entries, 1, "one entry, no temporary left");
        assert_eq!(compiler.compile(&policy).expect("from the cache"), compiled);

        // An entry whose policy line differs is not taken.
        let name = entry_name(&serde_json::to_vec(&policy).expect("json"));
        let path = root.path().join(CACHE_DIR).join(&name);
        forge(&path);
        assert_eq!(compiler.compile(&policy).expect("compiled again"), compiled);
    }

    #[test]
    fn the_default_policy_is_cached_by_build_and_capabilities() {
        let root = tempfile::tempdir().expect("a state root");
        let states = StateRoot::new(root.path());
        let compiler = Compiler::new(&states);
        let caps: BTreeSet<Capability> = Capability::DEFAULT.into_iter().collect();
        let expected = seccomp::compile(&seccomp::default_policy(&caps)).expect("compiles");
        assert_eq!(compiler.compile_default(&caps).expect("compiled"), expected);
        let key = default_key(&caps).expect("key");
        let path = root.path().join(CACHE_DIR).join(entry_name(&key));
        let entry = std::fs::read(&path).expect("the entry");
        assert!(entry.starts_with(&key), "keyed by build and capabilities");
        assert!(String::from_utf8_lossy(&key).contains(cradle_linux::build_fingerprint()));
        assert_eq!(compiler.compile_default(&caps).expect("from the cache"), expected);

        // Other capabilities (ptrace allows its syscalls): another entry,
        // another program.
        let mut more = caps.clone();
        more.insert(Capability::SysPtrace);
        assert_ne!(default_key(&more).expect("key"), key);
        let with_ptrace = compiler.compile_default(&more).expect("compiled");
        assert_eq!(
            with_ptrace,
            seccomp::compile(&seccomp::default_policy(&more)).expect("compiles")
        );
        assert_ne!(with_ptrace, expected);

        // A forged entry under the key is not taken.
        forge(&path);
        assert_eq!(compiler.compile_default(&caps).expect("compiled again"), expected);
    }

    #[test]
    fn a_miss_prunes_what_no_run_of_this_build_reads() {
        let root = tempfile::tempdir().expect("a state root");
        let states = StateRoot::new(root.path());
        let compiler = Compiler::new(&states);
        let caps: BTreeSet<Capability> = Capability::DEFAULT.into_iter().collect();
        compiler.compile_default(&caps).expect("compiled");
        let cache = root.path().join(CACHE_DIR);
        let entry = |key: &str| (entry_name(key.as_bytes()), format!("{key}\n{{}}"));
        let put =
            |(name, contents): &(String, String)| std::fs::write(cache.join(name), contents).expect("write");

        // Kept: this build's entries, another policy's, a live writer's
        // temporary.
        let policy = entry(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
        let mut more = caps.clone();
        more.insert(Capability::SysPtrace);
        let other_caps = String::from_utf8(default_key(&more).expect("key")).expect("utf-8");
        let own_default = entry(&other_caps);
        let live = (format!(".{}.{}", policy.0, std::process::id()), String::new());
        // Kept too: another build's default policy written an hour ago
        // (a build run beside this one).
        let recent_build = entry(r#"{"cradle default policy":"4567","capabilities":[]}"#);
        // Stale: another build's default policy and an entry under a name
        // this build does not give its line (another version), both
        // written two days ago; a dead writer's temporary.
        let old_build = entry(r#"{"cradle default policy":"0123","capabilities":[]}"#);
        let other_version = ("00000000deadbeef".to_owned(), policy.1.clone());
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        child.wait().expect("wait");
        let dead = (format!(".{}.{}", policy.0, child.id()), String::new());
        for file in [
            &policy,
            &own_default,
            &live,
            &recent_build,
            &old_build,
            &other_version,
            &dead,
        ] {
            put(file);
        }
        let written_ago = |(name, _): &(String, String), hours: u64| {
            let file = std::fs::File::options()
                .write(true)
                .open(cache.join(name))
                .expect("open");
            file.set_modified(SystemTime::now() - Duration::from_secs(hours * 3600))
                .expect("set the time written");
        };
        written_ago(&recent_build, 1);
        for file in [&old_build, &other_version] {
            written_ago(file, 48);
        }

        // A miss: a policy not cached yet.
        let new_policy = seccomp::default_policy(&BTreeSet::new());
        compiler.compile(&new_policy).expect("compiled");

        let mut left: Vec<String> = std::fs::read_dir(&cache)
            .expect("the cache")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        left.sort();
        let mut expected = vec![
            entry_name(&default_key(&caps).expect("key")),
            entry_name(&serde_json::to_vec(&new_policy).expect("json")),
            policy.0.clone(),
            own_default.0.clone(),
            live.0.clone(),
            recent_build.0.clone(),
        ];
        expected.sort();
        assert_eq!(left, expected);
    }
}
