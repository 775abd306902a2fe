//! Programs that are their own init binary, as embedders write them (the
//! `cradle-test-embedder-*` binaries), as root: the role is taken before
//! `main` by cradle-linux's constructor, so a `#[tokio::main]` program
//! that calls `init()` late launches into containers every time, and one
//! that never calls it launches too; a program that takes its role in
//! `main` itself (`init_in_main!`) and gets that wrong fails at once with
//! an error naming the fix. A test binary, which links cradle-linux too,
//! is an init binary as well.

use std::fs::File;
use std::io::{Read as _, Seek as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cradle_tests::linux::embedder::start_and_exec;
use cradle_tests::linux::{require_root, unique};

const TOKIO: &str = env!("CARGO_BIN_EXE_cradle-test-embedder-tokio");
const NO_INIT: &str = env!("CARGO_BIN_EXE_cradle-test-embedder-no-init");
const LATE: &str = env!("CARGO_BIN_EXE_cradle-test-embedder-late");
const FORGOTTEN: &str = env!("CARGO_BIN_EXE_cradle-test-embedder-forgotten");

/// How long one run of an embedder may take: a launch that hangs until
/// its own 10 s timeout fails it.
const RUN_DEADLINE: Duration = Duration::from_secs(30);

/// How a run of an embedder ended.
#[derive(Debug)]
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `binary` to its end, killed (and the test failed) past
/// [`RUN_DEADLINE`]. Its output goes to files, which no process it leaves
/// behind can keep from being read.
fn run(binary: &str) -> Run {
    let mut stdout = tempfile::tempfile().expect("a file for stdout");
    let mut stderr = tempfile::tempfile().expect("a file for stderr");
    let started = Instant::now();
    let mut child = Command::new(binary)
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().expect("dup"))
        .stderr(stderr.try_clone().expect("dup"))
        .spawn()
        .unwrap_or_else(|e| panic!("{binary}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            break status;
        }
        if started.elapsed() > RUN_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{binary} still ran after {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        success: status.success(),
        stdout: read_all(&mut stdout),
        stderr: read_all(&mut stderr),
        took: started.elapsed(),
    }
}

fn read_all(file: &mut File) -> String {
    file.rewind().expect("rewind");
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read the output");
    text
}

/// The old failure: `init()` after tokio started its workers made the
/// setns helper's fork deadlock in most runs (a 10 s timeout).
#[test]
fn a_tokio_main_that_calls_init_late_launches_every_time() {
    if !require_root("a_tokio_main_that_calls_init_late_launches_every_time") {
        return;
    }
    for attempt in 1..=20 {
        let run = run(TOKIO);
        assert!(run.success, "run {attempt}: {run:?}");
        assert!(run.stdout.starts_with("ok tokio-"), "run {attempt}: {run:?}");
    }
}

/// The old failure: the program relaunched itself 33 levels deep.
#[test]
fn a_program_that_never_calls_init_launches() {
    if !require_root("a_program_that_never_calls_init_launches") {
        return;
    }
    let run = run(NO_INIT);
    assert!(run.success, "{run:?}");
    assert!(run.stdout.starts_with("ok no-init-"), "{run:?}");
    assert_eq!(run.stderr, "");
}

#[test]
fn a_test_binary_is_its_own_init_binary() {
    if !require_root("a_test_binary_is_its_own_init_binary") {
        return;
    }
    let hostname = unique("harness");
    assert_eq!(start_and_exec(&hostname), Ok(hostname));
}

#[test]
fn a_role_taken_in_a_threaded_main_is_refused_at_once() {
    if !require_root("a_role_taken_in_a_threaded_main_is_refused_at_once") {
        return;
    }
    let run = run(LATE);
    assert!(!run.success, "{run:?}");
    assert!(run.took < Duration::from_secs(5), "not at once: {run:?}");
    for fix in [
        "took its role in main with",
        "call cradle_linux::init_with_hook first thing in main",
        "remove cradle_linux::init_in_main!()",
    ] {
        assert!(run.stderr.contains(fix), "{fix:?} not in {run:?}");
    }
}

#[test]
fn a_forgotten_role_in_main_fails_one_level_deep() {
    if !require_root("a_forgotten_role_in_main_fails_one_level_deep") {
        return;
    }
    let run = run(FORGOTTEN);
    assert!(!run.success, "{run:?}");
    let refusal = "must call cradle_linux::init_with_hook first thing in main";
    // The child's own launch was refused, once; the parent's failed on
    // that child's exit.
    assert_eq!(run.stderr.matches(refusal).count(), 1, "{run:?}");
    assert!(run.stderr.contains("child ended with exit code 1"), "{run:?}");
}
