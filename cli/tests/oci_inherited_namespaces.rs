//! OCI bundles that list no namespace of some type inherit the runtime's
//! (runtime-tools' `linux_ns_itype`), the mount namespace included: the
//! container's mounts are made in the runtime's, below the rootfs, and
//! every one of them is gone after `delete`, a failed `create` or a failed
//! `run`. What needs a mount namespace of its own is refused in one line.
//! Root only.
//!
//! Each test's rootfs is bound onto itself, private, for the test's life
//! ([`PrivateRoot`]): what the container mounts in the test's namespace
//! propagates nowhere and goes with that mount if a test fails half-way;
//! and being a mount the container did not make, it must survive the
//! container's removal, as an engine's overlay would.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::bundle::{args, create, create_refused, wait_for_file, Bundle};
use common::{one_line, require_root, Sandbox};
use cradle_core::NamespaceKind;
use cradle_tests::linux::{namespace_of, Unshared};
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde_json::{json, Value};

/// The rootfs of a bundle bound onto itself, private; everything at it
/// detached on drop.
struct PrivateRoot {
    path: PathBuf,
}

impl PrivateRoot {
    fn new(path: PathBuf) -> PrivateRoot {
        mount(Some(&path), &path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .expect("bind the rootfs onto itself");
        let root = PrivateRoot { path };
        mount(
            None::<&str>,
            &root.path,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("make the rootfs's mount private");
        root
    }
}

impl Drop for PrivateRoot {
    fn drop(&mut self) {
        // Whatever a failed test left stacked on it, then itself.
        for _ in 0..16 {
            if umount2(&self.path, MntFlags::MNT_DETACH) == Err(Errno::EINVAL) {
                break;
            }
        }
    }
}

/// A bundle with no namespace at all (and so no host name), nothing that
/// needs a mount namespace, no terminal; `edit` changes the rest. Its
/// rootfs is bound privately onto itself.
fn bundle_without_namespaces(sandbox: &Sandbox, edit: impl FnOnce(&mut Value)) -> (Bundle, PrivateRoot) {
    let bundle = Bundle::new(sandbox, |config| {
        let linux = config["linux"].as_object_mut().expect("linux");
        for field in ["namespaces", "maskedPaths", "readonlyPaths", "rootfsPropagation"] {
            linux.remove(field);
        }
        config.as_object_mut().expect("config").remove("hostname");
        config["process"]["terminal"] = json!(false);
        // Without CAP_SYS_CHROOT, which leaves the chroot such a rootfs is
        // (cradle warns of that, a line more on stderr than these tests'
        // refusals have).
        for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
            if let Some(caps) = config["process"]["capabilities"][set].as_array_mut() {
                caps.retain(|cap| cap != "CAP_SYS_CHROOT");
            }
        }
        edit(config);
    });
    let root = PrivateRoot::new(bundle.in_rootfs(""));
    (bundle, root)
}

/// The mount points of this process's namespace at or below `path`.
fn mounts_at_or_below(path: &Path) -> Vec<PathBuf> {
    let path = path.components().collect::<PathBuf>();
    fs::read_to_string("/proc/self/mountinfo")
        .expect("/proc/self/mountinfo")
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(PathBuf::from))
        .filter(|point| point.starts_with(&path))
        .collect()
}

/// Fails unless the only mount at or below the rootfs is the test's own.
fn assert_only_the_tests_mount(bundle: &Bundle) {
    let rootfs = bundle.in_rootfs("");
    let left = mounts_at_or_below(&rootfs);
    assert_eq!(
        left,
        [rootfs.components().collect::<PathBuf>()],
        "mounts left: {left:?}"
    );
    assert_eq!(mounts_at_or_below(bundle.path()), [] as [PathBuf; 0]);
}

#[test]
fn a_bundle_without_namespaces_inherits_the_runtimes_and_leaves_no_mount() {
    if !require_root("a_bundle_without_namespaces_inherits_the_runtimes_and_leaves_no_mount") {
        return;
    }
    let sandbox = Sandbox::new("itype");
    let id = sandbox.name("c");
    let (bundle, _root) = bundle_without_namespaces(&sandbox, |config| {
        args(config, "mount > /tmp/mounts; exec sleep 1000");
    });
    create(&sandbox, bundle.path(), &id);
    let pid = sandbox.state(&id)["pid"].as_i64().expect("pid").to_string();
    let own = std::process::id().to_string();
    for kind in NamespaceKind::ALL {
        assert_eq!(
            namespace_of(&pid, kind),
            namespace_of(&own, kind),
            "{} namespace",
            kind.proc_name()
        );
    }
    // Entered with chroot: its root is the rootfs, in the runtime's mounts.
    let root = fs::read_link(format!("/proc/{pid}/root")).expect("the init's root");
    assert_eq!(root, bundle.in_rootfs("").components().collect::<PathBuf>());
    let made = mounts_at_or_below(&bundle.in_rootfs(""));
    assert!(
        made.len() > 2,
        "the table's mounts are below the rootfs: {made:?}"
    );

    sandbox.cradle().args(["start", &id]).assert().success();
    // The container's own view: its table, at its root.
    let seen = wait_for_file(&bundle.in_rootfs("tmp/mounts"));
    assert!(seen.contains(" on /proc type proc"), "{seen}");
    assert!(seen.contains(" on /dev type tmpfs"), "{seen}");

    sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .assert()
        .success();
    assert_only_the_tests_mount(&bundle);
    sandbox.assert_clean();
}

#[test]
fn a_failed_create_or_run_leaves_no_mount() {
    if !require_root("a_failed_create_or_run_leaves_no_mount") {
        return;
    }
    let sandbox = Sandbox::new("itype-fail");
    // At the exec step, once every mount is made and the root entered.
    let (missing, _missing_root) = bundle_without_namespaces(&sandbox, |config| {
        config["process"]["args"] = json!(["/no/such/program"]);
    });
    let line = create_refused(&sandbox, [] as [&str; 0], missing.path(), &sandbox.name("create"));
    assert!(line.contains("/no/such/program"), "{line}");
    assert_only_the_tests_mount(&missing);
    let output = sandbox
        .cradle()
        .args(["run", "--bundle"])
        .arg(missing.path())
        .arg(sandbox.name("run"))
        .write_stdin("")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(one_line(&output.stderr).contains("/no/such/program"));
    assert_only_the_tests_mount(&missing);

    // Between the mount table and the root: a createContainer hook fails.
    let (hooked, _hooked_root) = bundle_without_namespaces(&sandbox, |config| {
        args(config, "true");
        config["hooks"] = json!({ "createContainer": [{ "path": "/bin/false" }] });
    });
    let line = create_refused(&sandbox, [] as [&str; 0], hooked.path(), &sandbox.name("hook"));
    assert!(line.contains("create_container_hooks"), "{line}");
    assert_only_the_tests_mount(&hooked);
    sandbox.assert_clean();
}

#[test]
fn what_needs_a_mount_namespace_is_refused_in_one_line() {
    if !require_root("what_needs_a_mount_namespace_is_refused_in_one_line") {
        return;
    }
    let sandbox = Sandbox::new("itype-refused");
    let cases = [
        ("maskedPaths", json!(["/proc/kcore"])),
        ("readonlyPaths", json!(["/proc/sys"])),
        ("rootfsPropagation", json!("rshared")),
    ];
    for (field, value) in cases {
        let (bundle, _root) = bundle_without_namespaces(&sandbox, |config| {
            config["linux"][field] = value;
        });
        let line = create_refused(&sandbox, [] as [&str; 0], bundle.path(), &sandbox.name("c"));
        assert!(
            line.starts_with(&format!("cradle: linux.{field}: needs a mount namespace")),
            "{line}"
        );
        assert_only_the_tests_mount(&bundle);
    }
    sandbox.assert_clean();
}

#[test]
fn delete_reaches_the_mounts_only_from_their_namespace() {
    if !require_root("delete_reaches_the_mounts_only_from_their_namespace") {
        return;
    }
    let sandbox = Sandbox::new("itype-ns");
    let id = sandbox.name("c");
    let (bundle, _root) = bundle_without_namespaces(&sandbox, |config| args(config, "exec sleep 1000"));
    // The runtime's mount namespace is another one, a private copy of this.
    let other = Unshared::new(&["--mount", "--propagation", "private"], "true");
    let in_other = |command: &[&str]| {
        let mut nsenter = std::process::Command::new("nsenter");
        nsenter
            .arg(format!("--mount={}", other.path(NamespaceKind::Mount)))
            .arg("--")
            .arg(common::cradle_bin())
            .arg("--root")
            .arg(sandbox.root())
            .args(command)
            .stdin(std::process::Stdio::null());
        nsenter.output().expect("nsenter cradle")
    };
    let created = in_other(&["run", "-d", "--bundle", &bundle.path().display().to_string(), &id]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    // Nothing of it here: its mounts are in the other namespace.
    assert_only_the_tests_mount(&bundle);

    let refused = sandbox
        .cradle()
        .args(["delete", "--force", &id])
        .output()
        .expect("delete");
    assert_eq!(refused.status.code(), Some(1));
    let line = one_line(&refused.stderr);
    assert!(line.contains("nsenter --mount=/proc/"), "{line}");
    // Refused with no effect: the container still runs.
    assert_eq!(sandbox.state(&id)["status"], "running");

    let deleted = in_other(&["delete", "--force", &id]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let text =
        fs::read_to_string(format!("/proc/{}/mountinfo", other.sleeper())).expect("the other mountinfo");
    let rootfs = bundle.in_rootfs("").components().collect::<PathBuf>();
    let below: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.split(' ')
                .nth(4)
                .is_some_and(|point| Path::new(point).starts_with(&rootfs))
        })
        .collect();
    // The copy of the test's own mount, and nothing of the container's.
    assert_eq!(below.len(), 1, "left in the other namespace: {below:?}");
    sandbox.assert_clean();
}
