//! The container's root filesystem: a static busybox.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::BenchError;

/// `/bin/busybox` (a copy of Debian's busybox-static), a link in `/bin` for
/// each of its applets, and empty `/proc`, `/sys`, `/dev`, `/tmp`, `/etc`.
pub(crate) fn busybox(root: &Path) -> Result<PathBuf, BenchError> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|path| path.is_file())
        .ok_or(BenchError::NoBusybox)?;
    let bin = root.join("bin");
    fs::create_dir_all(&bin).map_err(BenchError::io(&bin))?;
    fs::copy(busybox, bin.join("busybox")).map_err(BenchError::io(bin.join("busybox")))?;
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|source| BenchError::Spawn {
            command: format!("{} --list", busybox.display()),
            source,
        })?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.contains('/') {
            let link = bin.join(applet);
            std::os::unix::fs::symlink("busybox", &link).map_err(BenchError::io(&link))?;
        }
    }
    for sub in ["proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(root.join(sub)).map_err(BenchError::io(root.join(sub)))?;
    }
    Ok(root.to_path_buf())
}
