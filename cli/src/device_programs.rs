//! The state root's `.devices/`: the ids of the cgroup2 device programs
//! that `run` and `create` load, so that the next container with the same
//! device rules attaches the very program a running container holds
//! instead of having the kernel verify and compile another (0.1 ms; see
//! `cradle_linux::cgroup::share_device_programs`, which checks what it
//! finds there before it uses it).

use std::os::fd::{AsFd, BorrowedFd};

use crate::state_fs;

const DIR: &str = ".devices";

/// Shares this process's device programs through the `.devices/` of the
/// state root `root`, opened (and made) only if a device program is
/// attached.
pub(crate) fn share(root: BorrowedFd<'_>) {
    let Ok(root) = root.try_clone_to_owned() else {
        return;
    };
    cradle_linux::cgroup::share_device_programs(move || state_fs::open_or_make_dir_at(root.as_fd(), DIR));
}
