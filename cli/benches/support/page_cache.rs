//! Every timed binary read back into the page cache the same way.
//!
//! A binary written moments ago (as `bench/run` installs `cradle` and
//! `cradle-init`, and the rootfs gets its busybox) starts faster than the
//! same bytes read back from the disk: here a fresh copy of `cradle` ran
//! `--version` in 0.325 ms, one evicted and read back in 0.365, one copied
//! 25 minutes before in 0.377, with the same page faults. The system's
//! `unshare`, `nsenter`, `crun` and `runc` were read from the disk long
//! ago. So before the warm-up each timed binary is dropped from the page
//! cache (`POSIX_FADV_DONTNEED`, which leaves pages a process maps), and
//! the warm-up reads them all back alike.

use std::env;
use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};

/// Drops `programs` (a path, or a name looked up on `PATH`) from the page
/// cache; returns what was dropped, and what could not be, for the report.
pub(crate) fn evict<'a>(programs: impl IntoIterator<Item = &'a Path>) -> String {
    let mut report = Vec::new();
    for program in programs {
        let Some(path) = resolve(program) else {
            continue;
        };
        // Dirty pages (a copy written moments ago) stay in the cache:
        // written back first, they go too.
        let outcome = File::open(&path)
            .and_then(|file| file.sync_all().map(|()| file))
            .map_err(|error| error.to_string())
            .and_then(|file| {
                posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)
                    .map_err(|errno| errno.to_string())
            });
        match outcome {
            Ok(()) => report.push(path.display().to_string()),
            Err(error) => report.push(format!("{} (not: {error})", path.display())),
        }
    }
    report.join(", ")
}

/// `program` itself when it names a path, else the first file of that
/// name on `PATH`.
fn resolve(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}
