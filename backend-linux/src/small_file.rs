//! Reading a small file whole in one `read` (and the `read` that finds its
//! end), for the kernel's files under `/proc` and the cgroup hierarchies,
//! which a launch and an exec read by the dozen.
//!
//! Those files report a size of 0, and std's `read_to_end` then probes
//! with 32 bytes and doubles from there: six to nine `read`s for a
//! `mountinfo`, each a system call. A buffer of two pages from the start
//! holds most of them whole.

use std::fs::File;
use std::io;
use std::path::Path;

/// The first buffer (a larger file, such as the `mountinfo` of a host
/// with many mounts, is read whole all the same, in more `read`s).
const FIRST_BUFFER: usize = 8192;

/// The contents of the file at `path`.
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    read_from(&mut File::open(path)?)
}

/// The contents of the file at `path`, which must be UTF-8.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

/// The contents of the file at `path`, any bytes that are not UTF-8
/// replaced: for `/proc` files that hold names (a `comm`, a mount point,
/// a cgroup's path), which need not be UTF-8.
pub fn read_lossy(path: impl AsRef<Path>) -> io::Result<String> {
    Ok(String::from_utf8_lossy(&read(path)?).into_owned())
}

/// The rest of the open `file`.
pub fn read_from(file: &mut impl io::Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(FIRST_BUFFER);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proc_file_is_read_whole() {
        let mountinfo = read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(mountinfo.lines().any(|line| line.split(' ').nth(4) == Some("/")));
        assert_eq!(read("/proc/self/stat").expect("stat").last(), Some(&b'\n'));
    }

    #[test]
    fn a_file_larger_than_the_first_buffer_is_read_whole() {
        let path = std::env::temp_dir().join(format!("cradle-small-file-{}", std::process::id()));
        let contents: Vec<u8> = (0..3 * FIRST_BUFFER + 5).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &contents).expect("write");
        assert_eq!(read(&path).expect("read"), contents);
        std::fs::write(&path, b"\xff").expect("write");
        assert_eq!(read_lossy(&path).expect("read"), "\u{fffd}");
        let refused = read_to_string(&path).expect_err("not UTF-8");
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(refused.kind(), io::ErrorKind::InvalidData);
    }
}
