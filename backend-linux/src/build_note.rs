//! Which build of this crate a binary is: every program that links it
//! carries the build's fingerprint (build.rs) in an ELF note, and
//! [`init_beside`] reads another binary's note to tell whether it is an
//! init of the very same build, safe to run instead of the program itself.
//!
//! A launch costs one `exec` of the init binary. A small one (`cradle`'s
//! `cradle-init`, 3 MB) starts in about half the time of a large program
//! (the `cradle` command, 10 MB, whose dynamic relocations each start
//! copies page by page), but only one built from the same sources speaks
//! the same config and takes the same steps: a stale one left by an
//! earlier build would run old code.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use crate::elf;

/// The note's owner name, NUL-terminated and padded to 4 bytes.
const OWNER: [u8; 8] = *b"cradle\0\0";
/// The owner's note type that holds the build fingerprint.
const FINGERPRINT_TYPE: u32 = 1;
/// The fingerprint: 32 hex digits.
const FINGERPRINT_LEN: usize = 32;

/// An ELF note: the header, the owner and the fingerprint, laid out as
/// the format says (4-byte words, each field padded to 4).
#[repr(C, align(4))]
struct Note {
    name_size: u32,
    desc_size: u32,
    kind: u32,
    name: [u8; 8],
    desc: [u8; FINGERPRINT_LEN],
}

/// This build's note. A section named `.note.*` is an `SHT_NOTE` section,
/// which the linker keeps (and maps in a `PT_NOTE` segment) even though
/// no code reads it.
#[used]
#[link_section = ".note.cradle.build"]
static BUILD_NOTE: Note = Note {
    name_size: 7,
    desc_size: FINGERPRINT_LEN as u32,
    kind: FINGERPRINT_TYPE,
    name: OWNER,
    desc: *include_bytes!(concat!(env!("OUT_DIR"), "/build_fingerprint")),
};

/// This build's fingerprint.
pub(crate) fn fingerprint() -> &'static [u8; FINGERPRINT_LEN] {
    &BUILD_NOTE.desc
}

/// This build of cradle-linux, as 32 hex digits: a hash of its sources,
/// cradle-core's and the lock file, and of the profile and architecture
/// (not the C library: an init built for musl is of the same build). Two
/// binaries with the same one take the same steps; a cache of what this
/// crate computes (a compiled default seccomp policy, say) can key on it.
pub fn build_fingerprint() -> &'static str {
    // build.rs writes hex digits only.
    std::str::from_utf8(fingerprint()).unwrap_or_default()
}

/// The program `name` in the running program's directory, if it is there
/// and is a binary of this very build of cradle-linux (its build note says
/// so): an init binary to give [`Options::init_binary`](crate::Options::init_binary),
/// smaller than the running program and so faster to start. `None` when
/// there is none, or it is of another build (then the running program is
/// the init, as by default).
///
/// The directory is trusted as the running program is: whoever can write
/// there can replace the program too.
///
/// ```no_run
/// let options = match cradle_linux::init_beside("cradle-init") {
///     Some(init) => cradle_linux::Options::new().init_binary(init),
///     None => cradle_linux::Options::new(),
/// };
/// ```
pub fn init_beside(name: impl AsRef<OsStr>) -> Option<PathBuf> {
    let program = std::env::current_exe().ok()?;
    init_in(program.parent()?, name.as_ref())
}

/// [`init_beside`], in `dir`.
fn init_in(dir: &Path, name: &OsStr) -> Option<PathBuf> {
    let path = dir.join(name);
    is_of_this_build(&path).then_some(path)
}

/// Whether the file at `path` is a binary of this very build of
/// cradle-linux, by its build note: an init binary that takes the same
/// steps as the running program would.
pub fn is_of_this_build(path: &Path) -> bool {
    File::open(path)
        .ok()
        .and_then(|file| read_fingerprint(&file))
        .is_some_and(|found| found == *fingerprint())
}

/// Bound on a note segment that is read.
const MAX_NOTES_LEN: u64 = 64 * 1024;

/// The fingerprint in `file`'s cradle build note, if it is a 64-bit ELF
/// binary of this machine's byte order that has one.
fn read_fingerprint(file: &File) -> Option<[u8; FINGERPRINT_LEN]> {
    elf::segments(file)?.into_iter().find_map(|segment| {
        if segment.kind != elf::PT_NOTE || segment.file_len > MAX_NOTES_LEN {
            return None;
        }
        let mut notes = vec![0u8; usize::try_from(segment.file_len).ok()?];
        file.read_exact_at(&mut notes, segment.offset).ok()?;
        find_fingerprint(&notes, if segment.align == 8 { 8 } else { 4 })
    })
}

/// The cradle fingerprint among the notes of one `PT_NOTE` segment, each
/// field padded to `align`.
fn find_fingerprint(mut notes: &[u8], align: usize) -> Option<[u8; FINGERPRINT_LEN]> {
    let padded = |len: usize| len.checked_add(align - 1).map(|len| len / align * align);
    while notes.len() >= 12 {
        let name_len = usize::try_from(elf::u32_at(notes, 0)?).ok()?;
        let desc_len = usize::try_from(elf::u32_at(notes, 4)?).ok()?;
        let kind = elf::u32_at(notes, 8)?;
        let name_end = 12usize.checked_add(padded(name_len)?)?;
        let desc_end = name_end.checked_add(padded(desc_len)?)?;
        let name = notes.get(12..12 + name_len)?;
        let desc = notes.get(name_end..name_end.checked_add(desc_len)?)?;
        if name == &OWNER[..7] && kind == FINGERPRINT_TYPE {
            return desc.try_into().ok();
        }
        notes = notes.get(desc_end..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of the test's own, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("cradle-note-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).expect("temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// This test binary links the crate, so it is a binary of this build.
    fn this_binary() -> Vec<u8> {
        std::fs::read("/proc/self/exe").expect("read own binary")
    }

    #[test]
    fn the_running_binary_carries_this_builds_fingerprint() {
        let file = File::open("/proc/self/exe").expect("open own binary");
        assert_eq!(read_fingerprint(&file), Some(*fingerprint()));
        assert!(fingerprint().iter().all(u8::is_ascii_hexdigit));
    }

    #[test]
    fn a_binary_of_this_build_beside_is_chosen() {
        let dir = TempDir::new("same");
        std::fs::write(dir.0.join("init"), this_binary()).expect("copy");
        assert_eq!(init_in(&dir.0, OsStr::new("init")), Some(dir.0.join("init")));
    }

    #[test]
    fn a_binary_of_another_build_is_not() {
        let dir = TempDir::new("other");
        let mut binary = this_binary();
        let mut marker = OWNER.to_vec();
        marker.extend_from_slice(fingerprint());
        let at = binary
            .windows(marker.len())
            .position(|window| window == marker)
            .expect("the note is in the file");
        // Another fingerprint, still hex digits.
        let digit = &mut binary[at + OWNER.len()];
        *digit = if *digit == b'0' { b'1' } else { b'0' };
        std::fs::write(dir.0.join("init"), &binary).expect("write");
        assert_eq!(init_in(&dir.0, OsStr::new("init")), None);
    }

    #[test]
    fn a_missing_file_or_one_without_the_note_is_not() {
        let dir = TempDir::new("none");
        assert_eq!(init_in(&dir.0, OsStr::new("init")), None);
        std::fs::copy("/bin/sh", dir.0.join("sh")).expect("copy /bin/sh");
        assert_eq!(init_in(&dir.0, OsStr::new("sh")), None);
        std::fs::write(dir.0.join("text"), "#!/bin/sh\n").expect("write");
        assert_eq!(init_in(&dir.0, OsStr::new("text")), None);
    }

    #[test]
    fn malformed_notes_are_rejected_not_read_past() {
        // A note whose sizes run past the segment.
        let mut notes = Vec::new();
        notes.extend_from_slice(&7u32.to_ne_bytes());
        notes.extend_from_slice(&u32::MAX.to_ne_bytes());
        notes.extend_from_slice(&FINGERPRINT_TYPE.to_ne_bytes());
        notes.extend_from_slice(&OWNER);
        assert_eq!(find_fingerprint(&notes, 4), None);
        assert_eq!(find_fingerprint(&notes[..5], 4), None);
        // A well-formed one after another owner's note is found.
        let mut good = Vec::new();
        good.extend_from_slice(&4u32.to_ne_bytes());
        good.extend_from_slice(&4u32.to_ne_bytes());
        good.extend_from_slice(&3u32.to_ne_bytes());
        good.extend_from_slice(b"GNU\0abcd");
        good.extend_from_slice(&7u32.to_ne_bytes());
        good.extend_from_slice(&(FINGERPRINT_LEN as u32).to_ne_bytes());
        good.extend_from_slice(&FINGERPRINT_TYPE.to_ne_bytes());
        good.extend_from_slice(&OWNER);
        good.extend_from_slice(&[b'a'; FINGERPRINT_LEN]);
        assert_eq!(find_fingerprint(&good, 4), Some([b'a'; FINGERPRINT_LEN]));
    }
}
