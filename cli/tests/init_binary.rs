//! The binary a container's init runs until its command: `cradle-init`
//! from beside `cradle` when it is of the same build (smaller, so sooner
//! started), else `cradle` itself, so that a stale or foreign
//! `cradle-init` is never run. Root only.

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
