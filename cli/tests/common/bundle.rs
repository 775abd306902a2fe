//! OCI bundles for the suites that drive cradle as engines do: a busybox
//! rootfs and the `config.json` that `cradle spec` writes, edited; and
//! `create` as an engine runs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{BusyboxRootfs, Sandbox, DEADLINE};

/// A bundle directory with a busybox rootfs (`rootfs/`) and the
/// `config.json` that `cradle spec` writes, edited by `edit`.
pub struct Bundle {
    dir: tempfile::TempDir,
    /// Kept alive: the rootfs lives in it.
    _rootfs: BusyboxRootfs,
}

impl Bundle {
    pub fn new(sandbox: &Sandbox, edit: impl FnOnce(&mut Value)) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("cradle-bundle-")
            .tempdir()
            .expect("bundle directory");
        let rootfs = BusyboxRootfs::new();
        sandbox
            .cradle()
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .assert()
            .success();
        let path = dir.path().join("config.json");
        let mut config: Value = serde_json::from_slice(&fs::read(&path).expect("config.json")).expect("JSON");
        config["root"]["path"] = json!(rootfs.path());
        edit(&mut config);
        fs::write(&path, serde_json::to_vec_pretty(&config).expect("JSON")).expect("write config.json");
        Bundle { dir, _rootfs: rootfs }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the rootfs, as the host sees it.
    pub fn in_rootfs(&self, relative: &str) -> PathBuf {
        self._rootfs.path().join(relative)
    }
}

/// `cradle create`, checked to succeed. Its stdio is not a pipe: the
/// container inherits it (as runc's does), and a pipe would stay open
/// until the container exits.
pub fn create(sandbox: &Sandbox, bundle: &Path, id: &str) {
    create_with(sandbox.std_cradle(), bundle, id);
}

/// [`create`] by `cradle`, a `cradle` command with its `--root` given.
pub fn create_with(mut cradle: std::process::Command, bundle: &Path, id: &str) {
    let errors = tempfile::NamedTempFile::new().expect("stderr file");
    let status = cradle
        .args(["create", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(errors.reopen().expect("stderr file"))
        .status()
        .expect("create");
    let text = fs::read_to_string(errors.path()).unwrap_or_default();
    assert!(status.success(), "create {id}: {text}");
}

/// `cradle create FLAGS --bundle BUNDLE ID`, checked to be refused as
/// runc refuses: exit 1 and one line on stderr, which is returned.
pub fn create_refused<S: AsRef<std::ffi::OsStr>>(
    sandbox: &Sandbox,
    flags: impl IntoIterator<Item = S>,
    bundle: &Path,
    id: &str,
) -> String {
    let output = sandbox
        .cradle()
        .arg("create")
        .args(flags)
        .arg("--bundle")
        .arg(bundle)
        .arg(id)
        .write_stdin("")
        .output()
        .expect("create");
    let line = super::one_line(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "create {id}: {line}");
    line
}

pub fn args(config: &mut Value, script: &str) {
    config["process"]["args"] = json!(["sh", "-c", script]);
}

pub fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok(text) = fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Receives the master end of a terminal and its name from a connection
/// on `listener`, as an engine's console socket does.
pub fn receive_console(listener: &std::os::unix::net::UnixListener) -> (fs::File, String) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::io::IoSliceMut;
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

    let (stream, _) = listener.accept().expect("the runtime connects");
    let mut name = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    // CLOEXEC: not inherited by what other tests spawn meanwhile.
    let flags = MsgFlags::MSG_CMSG_CLOEXEC;
    let message =
        recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), flags).expect("recvmsg of the console");
    let mut master = None;
    for control in message.cmsgs().expect("control messages") {
        if let ControlMessageOwned::ScmRights(fds) = control {
            // SAFETY: SCM_RIGHTS made these descriptors in this process.
            master = fds.first().map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    let length = message.bytes;
    let master = master.expect("a descriptor came with the message");
    (
        fs::File::from(master),
        String::from_utf8_lossy(&name[..length]).into_owned(),
    )
}
