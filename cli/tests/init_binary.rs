//! The binary a container's init runs until its command: `cradle-init`
//! from beside `cradle` when it is of the same build (smaller, so sooner
//! started), else `cradle` itself, so that a stale or foreign
//! `cradle-init` is never run (root only); and how both are linked.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::bundle::{args, create_with, Bundle};
use common::{cradle_bin, require_root, Sandbox};

#[test]
fn a_held_init_runs_cradle_init_only_when_it_is_of_the_same_build() {
    if !require_root("a_held_init_runs_cradle_init_only_when_it_is_of_the_same_build") {
        return;
    }
    let sandbox = Sandbox::new("init-binary");
    let bundle = Bundle::new(&sandbox, |config| args(config, "exec sleep 1000"));
    let install = tempfile::tempdir().expect("install directory");
    let cradle = install.path().join("cradle");
    let init = install.path().join("cradle-init");
    fs::copy(cradle_bin(), &cradle).expect("copy cradle");

    // Of the same build: the held init runs it.
    fs::copy(env!("CARGO_BIN_EXE_cradle-init"), &init).expect("copy cradle-init");
    assert_eq!(
        held_init_binary(&sandbox, &cradle, bundle.path(), "same"),
        file_id(&init)
    );

    // Of another build: cradle itself.
    let mut other = fs::read(&init).expect("read cradle-init");
    change_fingerprint(&mut other);
    fs::write(&init, &other).expect("write the other build");
    assert_eq!(
        held_init_binary(&sandbox, &cradle, bundle.path(), "other"),
        file_id(&cradle)
    );

    // None: cradle itself.
    fs::remove_file(&init).expect("remove cradle-init");
    assert_eq!(
        held_init_binary(&sandbox, &cradle, bundle.path(), "none"),
        file_id(&cradle)
    );
}

/// `cli/build.rs` links `cradle` and `cradle-init` statically wherever
/// the toolchain can: then each has no program interpreter and needs no
/// shared library (one would be loaded by nothing). Either way both
/// start.
#[test]
fn the_binaries_are_linked_as_the_build_says_and_start() {
    // The reader below knows little-endian 64-bit ELF only.
    if !cfg!(all(target_endian = "little", target_pointer_width = "64")) {
        return;
    }
    let statics: Vec<&str> = env!("CRADLE_STATIC_BINARIES").split_whitespace().collect();
    let init = PathBuf::from(env!("CARGO_BIN_EXE_cradle-init"));
    for (name, path) in [("cradle", cradle_bin()), ("cradle-init", init.clone())] {
        let links = Links::of(&fs::read(&path).expect("read the binary"));
        if statics.contains(&name) {
            let none = Links {
                interpreter: false,
                needed: 0,
            };
            assert_eq!(links, none, "{name}, linked statically");
        } else {
            assert!(links.interpreter, "{name}, linked dynamically: {links:?}");
        }
    }
    // The reading itself, checked on a dynamic binary: this test's own,
    // which needs the C library.
    if !cfg!(target_feature = "crt-static") {
        let own = std::env::current_exe().expect("the test's own path");
        let links = Links::of(&fs::read(own).expect("read the test binary"));
        assert!(
            links.interpreter && links.needed >= 1,
            "the test binary: {links:?}"
        );
    }
    // Run by hand, cradle-init says it is not, and exits 2.
    let output = Command::new(&init).output().expect("run cradle-init");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "cradle-init by hand: {stderr}");
    assert!(
        stderr.contains("run by cradle as a container's init only"),
        "{stderr}"
    );
    let output = Command::new(cradle_bin())
        .arg("--version")
        .output()
        .expect("run cradle");
    assert!(output.status.success(), "cradle --version: {output:?}");
}

/// What an ELF executable asks of the dynamic loader.
#[derive(Debug, PartialEq)]
struct Links {
    /// It names a program interpreter (`PT_INTERP`).
    interpreter: bool,
    /// The shared libraries it names (`DT_NEEDED`).
    needed: usize,
}

impl Links {
    /// Reads them from a little-endian 64-bit ELF file's program headers.
    fn of(elf: &[u8]) -> Links {
        assert!(
            elf.starts_with(b"\x7fELF\x02\x01"),
            "not a little-endian 64-bit ELF file"
        );
        let word = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().expect("8 bytes"));
        let half = |at: usize| usize::from(u16::from_le_bytes([elf[at], elf[at + 1]]));
        let (table, size, count) = (word(0x20) as usize, half(0x36), half(0x38));
        let mut links = Links {
            interpreter: false,
            needed: 0,
        };
        for header in (0..count).map(|index| table + index * size) {
            let kind = u32::from_le_bytes(elf[header..header + 4].try_into().expect("4 bytes"));
            let (offset, length) = (word(header + 8) as usize, word(header + 32) as usize);
            match kind {
                // PT_INTERP
                3 => links.interpreter = true,
                // PT_DYNAMIC: (tag, value) pairs up to DT_NULL.
                2 => {
                    links.needed = (offset..offset + length)
                        .step_by(16)
                        .map(word)
                        .take_while(|&tag| tag != 0)
                        .filter(|&tag| tag == 1)
                        .count();
                }
                _ => {}
            }
        }
        links
    }
}

/// `cradle create`s a container with the `cradle` at `cradle`, and gives
/// the file its held init runs (before `start`, the init binary), then
/// deletes it.
fn held_init_binary(sandbox: &Sandbox, cradle: &Path, bundle: &Path, suffix: &str) -> (u64, u64) {
    let id = sandbox.name(suffix);
    let mut command = Command::new(cradle);
    command.arg("--root").arg(sandbox.root());
    create_with(command, bundle, &id);
    let pid = sandbox.state(&id)["pid"].as_i64().expect("a pid");
    // The init binary runs from a read-only bind mount of the file: the
    // same inode on the same filesystem.
    let running = file_id(&PathBuf::from(format!("/proc/{pid}/exe")));
    sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .assert()
        .success();
    running
}

/// The device and inode of the file at `path` (links followed).
fn file_id(path: &Path) -> (u64, u64) {
    let metadata = fs::metadata(path).unwrap_or_else(|error| panic!("stat {}: {error}", path.display()));
    (metadata.dev(), metadata.ino())
}

/// Changes one digit of the build fingerprint in a binary's cradle note
/// (header: name size 7, fingerprint size 32, type 1; owner "cradle").
fn change_fingerprint(binary: &mut [u8]) {
    let mut note = Vec::new();
    for word in [7u32, 32, 1] {
        note.extend_from_slice(&word.to_ne_bytes());
    }
    note.extend_from_slice(b"cradle\0\0");
    let at = binary
        .windows(note.len())
        .position(|window| window == note)
        .expect("cradle-init has a cradle build note")
        + note.len();
    binary[at] = if binary[at] == b'0' { b'1' } else { b'0' };
}
