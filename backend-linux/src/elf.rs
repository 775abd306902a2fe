//! Just enough of an ELF binary's layout for two questions about an init
//! binary: which build it is (its notes, `build_note`), and whether it
//! starts without a program interpreter (a static binary, which can be
//! `exec`d from inside a container: a dynamic one would load the
//! container's `ld.so` with the launcher's privileges).

use std::fs::File;
use std::os::unix::fs::FileExt as _;

/// ELF identification and header fields, for a 64-bit binary of this
/// machine's byte order.
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const ELF_CLASS_64: u8 = 2;
#[cfg(target_endian = "little")]
const ELF_DATA_NATIVE: u8 = 1;
#[cfg(target_endian = "big")]
const ELF_DATA_NATIVE: u8 = 2;
const ELF_HEADER_LEN: usize = 64;
const PROGRAM_HEADER_LEN: usize = 56;
/// Program header types.
const PT_INTERP: u32 = 3;
pub(crate) const PT_NOTE: u32 = 4;
/// Bound on what is read: more program headers than any binary has mean
/// the file is not one to trust.
const MAX_PROGRAM_HEADERS: usize = 64;

/// One program header's fields that the callers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) kind: u32,
    pub(crate) offset: u64,
    pub(crate) file_len: u64,
    pub(crate) align: u64,
}

/// The program headers of `file`, if it is a 64-bit ELF binary of this
/// machine's byte order with a table of sane size.
pub(crate) fn segments(file: &File) -> Option<Vec<Segment>> {
    let mut header = [0u8; ELF_HEADER_LEN];
    file.read_exact_at(&mut header, 0).ok()?;
    if &header[..4] != ELF_MAGIC || header[4] != ELF_CLASS_64 || header[5] != ELF_DATA_NATIVE {
        return None;
    }
    let table = u64_at(&header, 32)?;
    let entry_len = usize::from(u16_at(&header, 54)?);
    let entries = usize::from(u16_at(&header, 56)?);
    if entry_len < PROGRAM_HEADER_LEN || entries > MAX_PROGRAM_HEADERS {
        return None;
    }
    let mut headers = vec![0u8; entry_len * entries];
    file.read_exact_at(&mut headers, table).ok()?;
    headers
        .chunks_exact(entry_len)
        .map(|entry| {
            Some(Segment {
                kind: u32_at(entry, 0)?,
                offset: u64_at(entry, 8)?,
                file_len: u64_at(entry, 32)?,
                align: u64_at(entry, 48)?,
            })
        })
        .collect()
}

/// Whether `file` is an ELF binary (as [`segments`] reads them) that names
/// no program interpreter: the kernel maps it alone, and it opens no
/// file to start (a static binary, a static PIE).
pub(crate) fn is_static(file: &File) -> bool {
    segments(file).is_some_and(|segments| segments.iter().all(|segment| segment.kind != PT_INTERP))
}

pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_binary_names_its_interpreter() {
        // Dynamic on every distribution.
        let sh = File::open("/bin/sh").expect("/bin/sh");
        assert!(segments(&sh).is_some());
        assert!(!is_static(&sh));
    }

    #[test]
    fn a_static_binary_does_not() {
        // busybox-static, which the tests install.
        let busybox = File::open("/bin/busybox").expect("/bin/busybox (busybox-static)");
        assert!(is_static(&busybox));
    }

    #[test]
    fn what_is_not_elf_is_not_static() {
        let dir = std::env::temp_dir().join(format!("cradle-elf-{}", std::process::id()));
        std::fs::write(&dir, "#!/bin/sh\n").expect("write");
        let script = File::open(&dir).expect("open");
        let _ = std::fs::remove_file(&dir);
        assert_eq!(segments(&script), None);
        assert!(!is_static(&script));
    }
}
