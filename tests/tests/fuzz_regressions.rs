//! Every input the fuzzers ever crashed on, and every seed, through the same
//! checkers the fuzz targets run.
//!
//! `.ci/fuzz` copies a crashing input to `fuzz/regressions/<target>/`; from
//! then on it runs here, in `cargo test`, until the bug is fixed and for
//! good after. The seed corpora in `fuzz/corpus/<target>/` are regenerated
//! with `cargo test -p cradle-tests --test fuzz_regressions -- --ignored`.

use std::collections::BTreeMap;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use cradle_tests::invariants::input::{decode, Encode};
use cradle_tests::invariants::seeds::{pair_scenarios, record, seed_corpus, shapes, Story};
use cradle_tests::invariants::{ChildInput, DecoderInput, LaunchInput, PairInput, Target, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The input files in `dir/<target>/`, if any.
fn inputs(dir: &Path, target: &Target) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir.join(target.name)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every input file under `dir` through its target's checker; fails
/// naming each one that breaks an invariant. Returns how many ran.
fn check_all(dir: &Path) -> usize {
    let mut failures = Vec::new();
    let mut ran = 0;
    for target in TARGETS {
        for path in inputs(dir, target) {
            let data = fs::read(&path).expect("a readable input file");
            ran += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (target.check)(&data))) {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                failures.push(format!("{}: {message}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "inputs breaking an invariant:\n{}",
        failures.join("\n")
    );
    ran
}

#[test]
fn regressions_keep_the_invariants() {
    check_all(&fuzz_dir().join("regressions"));
}

#[test]
fn committed_seeds_keep_the_invariants() {
    let ran = check_all(&fuzz_dir().join("corpus"));
    assert!(ran > 0, "no seed corpus under fuzz/corpus");
}

#[test]
fn generated_seeds_keep_the_invariants() {
    for seed in seed_corpus() {
        let target = TARGETS
            .iter()
            .find(|t| t.name == seed.target)
            .expect("a seed for a known target");
        (target.check)(&seed.bytes);
    }
}

#[test]
fn every_target_has_seeds() {
    for target in TARGETS {
        let seeds = inputs(&fuzz_dir().join("corpus"), target);
        assert!(!seeds.is_empty(), "no seeds for the {} target", target.name);
    }
}

#[test]
fn seeds_decode_to_the_scripts_they_were_written_from() {
    for (_, shape) in shapes() {
        for story in [Story::Success, Story::ChildFails, Story::CommandFails(2)] {
            let recording = record(shape, story);
            let launch: LaunchInput = decode(&recording.launch.to_bytes());
            assert_eq!(launch, recording.launch);
            let child: ChildInput = decode(&recording.child.to_bytes());
            assert_eq!(child, recording.child);
        }
    }
    for seed in seed_corpus().iter().filter(|s| s.target == "decoder") {
        let input: DecoderInput = decode(&seed.bytes);
        assert_eq!(input.to_bytes(), seed.bytes, "{}", seed.name);
    }
    for (name, scenario) in pair_scenarios() {
        let input: PairInput = decode(&scenario.to_bytes());
        assert_eq!(input, scenario, "{name}");
    }
}

/// The files under `dir`, at any depth, by their path below it, with their
/// bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(at) = pending.pop() {
        for entry in fs::read_dir(&at).unwrap_or_else(|e| panic!("{}: {e}", at.display())) {
            let path = entry.expect("a readable directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let relative = path.strip_prefix(dir).expect("below the tree").to_owned();
                files.insert(relative, bytes);
            }
        }
    }
    files
}

/// A directory of this test's own in cargo's scratch space, removed when
/// dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The committed corpora are what the seed generator writes now, file for
/// file and byte for byte: a change to the wire format, an input layout or
/// the mock's points must come with the corpus regenerated.
#[test]
fn committed_seeds_are_the_generated_ones() {
    let generated = Scratch::new("seed-corpus");
    write_corpus(&generated.0);
    let (committed, generated) = (tree(&fuzz_dir().join("corpus")), tree(&generated.0));
    let mut stale = Vec::new();
    for (path, bytes) in &committed {
        match generated.get(path) {
            None => stale.push(format!("{}: no longer generated", path.display())),
            Some(new) if new != bytes => stale.push(format!("{}: differs", path.display())),
            Some(_) => {}
        }
    }
    for path in generated.keys().filter(|path| !committed.contains_key(*path)) {
        stale.push(format!("{}: not committed", path.display()));
    }
    assert!(
        stale.is_empty(),
        "fuzz/corpus is not what the seed generator writes; regenerate it with\n  \
         cargo test -p cradle-tests --test fuzz_regressions -- --ignored write_seed_corpus\n\
         and commit it:\n{}",
        stale.join("\n")
    );
}

/// Makes `corpus` hold the recorder's seeds, in `<target>/` for every
/// target, and nothing else.
fn write_corpus(corpus: &Path) {
    let seeds = seed_corpus();
    if corpus.exists() {
        fs::remove_dir_all(corpus).expect("a removable corpus");
    }
    for target in TARGETS {
        let dir = corpus.join(target.name);
        fs::create_dir_all(&dir).expect("a writable corpus folder");
        for seed in seeds.iter().filter(|s| s.target == target.name) {
            fs::write(dir.join(&seed.name), &seed.bytes).expect("a writable seed");
        }
    }
}

/// Rewrites `fuzz/corpus/` from the recorder. Run it after a change to the
/// wire format or the input layouts, and commit the result.
#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    write_corpus(&fuzz_dir().join("corpus"));
}
