//! A launcher that the setns suite kills in the middle of an exec
//! (`linux_setns.rs`). Run with a rootfs's path, `cradle-test-init`'s, and
//! that of a link to it named `pause@setns`, it starts a container of
//! `sleep` in that rootfs (no cgroup; its stdio on /dev/null), prints its
//! init's pid, then clones into it a process of
//! `echo ran` (its stdout this launcher's) through that init binary, which
//! announces its setns step and stops itself there, before anything of
//! its role. The test then kills this launcher, and lets the process go
//! on.

use std::fs::File;
use std::os::fd::OwnedFd;

use cradle_core::{Config, NamespaceKind, Plan, SetnsEntry};
use cradle_linux::{Container, Options, Process};
use cradle_tests::linux::{new_namespaces, DEADLINE};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(rootfs), Some(init_binary), Some(paused_init)) = (args.next(), args.next(), args.next()) else {
        panic!(
            "usage: cradle-test-orphaned-exec <rootfs> <cradle-test-init> <a link to it named pause@setns>"
        );
    };
    let null = || {
        OwnedFd::from(
            File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .expect("/dev/null"),
        )
    };
    let mut config = Config::new(["/bin/sleep", "1000"]);
    config.namespaces = new_namespaces(&[
        NamespaceKind::Mount,
        NamespaceKind::Pid,
        NamespaceKind::Uts,
        NamespaceKind::Ipc,
    ]);
    config.rootfs = Some(rootfs.into());
    let options = Options::new()
        .init_binary(init_binary)
        .stdin(null())
        .stdout(null())
        .stderr(null());
    let init = Process::start(Plan::init(config), options).expect("start the container");
    println!("{}", init.pid());

    let mut exec = Plan::setns(Config::new(["/bin/echo", "ran"]));
    exec.setns_entry = SetnsEntry::Clone;
    let options = Options::new()
        .init_binary(paused_init)
        .container(Container::of(&init).expect("the running container"));
    // The test kills this process before the exec can end.
    let result = Process::start(exec, options).and_then(|mut process| process.wait_timeout(DEADLINE));
    panic!("cradle-test-orphaned-exec: the exec ended, {result:?}, before its launcher was killed");
}
