//! The build's fingerprint: a hash of everything a container's init runs
//! (this crate's and cradle-core's sources and manifests, the lock file)
//! and of the profile and the architecture. Every binary that links this
//! crate carries it in an ELF note (src/build_note.rs), so that a program
//! can tell whether an init binary installed beside it is of its own
//! build. The C library is not in it: a `cradle-init` built for musl
//! (which starts in half the time of a glibc one) speaks the same config
//! and takes the same steps as the `cradle` built for glibc beside it.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let inputs = [
        manifest.join("src"),
        manifest.join("Cargo.toml"),
        manifest.join("../core/src"),
        manifest.join("../core/Cargo.toml"),
        manifest.join("../Cargo.lock"),
    ];
    // Two hashes of the same input, told apart by a first byte: 128 bits.
    let mut hashers = [DefaultHasher::new(), DefaultHasher::new()];
    for (index, hasher) in hashers.iter_mut().enumerate() {
        index.hash(hasher);
    }
    for input in &inputs {
        println!("cargo:rerun-if-changed={}", input.display());
        for hasher in &mut hashers {
            hash_tree(input, &manifest, hasher);
        }
    }
    for var in ["PROFILE", "OPT_LEVEL", "DEBUG", "CARGO_CFG_TARGET_ARCH"] {
        let value = env::var(var).unwrap_or_default();
        for hasher in &mut hashers {
            (var, &value).hash(hasher);
        }
    }
    let fingerprint = format!("{:016x}{:016x}", hashers[0].finish(), hashers[1].finish());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    fs::write(out.join("build_fingerprint"), fingerprint).expect("OUT_DIR is writable");
}

/// Hashes the file or directory tree at `path` (names relative to `base`,
/// entries in order, contents); a missing path hashes as missing.
fn hash_tree(path: &Path, base: &Path, hasher: &mut DefaultHasher) {
    path.strip_prefix(base).unwrap_or(path).hash(hasher);
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .expect("a source directory is readable")
            .map(|entry| entry.expect("a source directory is readable").path())
            .collect();
        entries.sort();
        for entry in entries {
            hash_tree(&entry, base, hasher);
        }
    } else {
        fs::read(path).ok().hash(hasher);
    }
}
