//! Every input the fuzzers ever crashed on, and every seed, through the same
//! checkers the fuzz targets run.
//!
//! `.ci/fuzz` copies a crashing input to `fuzz/regressions/<target>/`; from
//! then on it runs here, in `cargo test`, until the bug is fixed and for
//! good after. The seed corpora in `fuzz/corpus/<target>/` are regenerated
//! with `cargo test -p cradle-tests --test fuzz_regressions -- --ignored`.

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

/// The committed seeds are the ones the recorder makes now: a change to
/// the wire format, an input layout or the mock's points must come with
/// the corpus regenerated (see [`write_seed_corpus`]).
#[test]
fn committed_seeds_are_the_generated_ones() {
    let corpus = fuzz_dir().join("corpus");
    let mut stale = Vec::new();
    for target in TARGETS {
        let generated: Vec<_> = seed_corpus()
            .into_iter()
            .filter(|s| s.target == target.name)
            .collect();
        let committed = inputs(&corpus, target);
        for path in &committed {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            match generated.iter().find(|s| s.name == name) {
                None => stale.push(format!("{}/{name}: no longer generated", target.name)),
                Some(seed) if fs::read(path).ok().as_ref() != Some(&seed.bytes) => {
                    stale.push(format!("{}/{name}: differs", target.name));
                }
                Some(_) => {}
            }
        }
        for seed in &generated {
            if !committed
                .iter()
                .any(|p| p.file_name() == Some(seed.name.as_ref()))
            {
                stale.push(format!("{}/{}: not committed", target.name, seed.name));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "fuzz/corpus is stale; run write_seed_corpus and commit:\n{}",
        stale.join("\n")
    );
}

/// Rewrites `fuzz/corpus/` from the recorder. Run it after a change to the
/// wire format or the input layouts, and commit the result.
#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    let seeds = seed_corpus();
    for target in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target.name);
        for old in inputs(&fuzz_dir().join("corpus"), target) {
            fs::remove_file(old).expect("a removable seed");
        }
        fs::create_dir_all(&dir).expect("a writable corpus folder");
        for seed in seeds.iter().filter(|s| s.target == target.name) {
            fs::write(dir.join(&seed.name), &seed.bytes).expect("a writable seed");
        }
    }
}
