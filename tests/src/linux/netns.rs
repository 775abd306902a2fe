//! [`NetnsThread`]: working inside a network namespace from a test, without
//! moving the test's own thread.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use cradle_linux::net::inspect;
use nix::sched::{setns, unshare, CloneFlags};

type Job = Box<dyn FnOnce() + Send>;

/// A thread in a network namespace, running the jobs sent to it there. The
/// namespace lives as long as the thread (and any fd of it). Entering the
/// namespace and each job must end within the bound it was made with.
#[derive(Debug)]
pub struct NetnsThread {
    bound: Duration,
    fd: OwnedFd,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl NetnsThread {
    /// A thread in a new network namespace of its own.
    pub fn new(bound: Duration) -> NetnsThread {
        NetnsThread::entering(bound, || unshare(CloneFlags::CLONE_NEWNET))
    }

    /// A thread in the network namespace `netns` (to look inside a
    /// container's).
    pub fn inside(netns: OwnedFd, bound: Duration) -> NetnsThread {
        NetnsThread::entering(bound, move || setns(netns.as_fd(), CloneFlags::CLONE_NEWNET))
    }

    fn entering(bound: Duration, enter: impl FnOnce() -> nix::Result<()> + Send + 'static) -> NetnsThread {
        let (entered_sender, entered) = mpsc::channel();
        let (jobs, job_receiver) = mpsc::channel::<Job>();
        let thread = thread::spawn(move || {
            let result = enter()
                .map_err(std::io::Error::from)
                .and_then(|()| File::open("/proc/thread-self/ns/net"));
            let ok = result.is_ok();
            let _ = entered_sender.send(result.map(OwnedFd::from));
            if ok {
                for job in job_receiver {
                    job();
                }
            }
        });
        let fd = entered
            .recv_timeout(bound)
            .expect("namespace thread answers")
            .expect("enter the network namespace");
        NetnsThread {
            bound,
            fd,
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    /// Runs `job` inside the namespace and returns its result.
    pub fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = mpsc::channel();
        let jobs = self.jobs.as_ref().expect("namespace thread running");
        jobs.send(Box::new(move || {
            let _ = sender.send(job());
        }))
        .expect("namespace thread running");
        receiver
            .recv_timeout(self.bound)
            .expect("job in the namespace finished (or panicked)")
    }

    /// An fd of the namespace, as a parent would open `/proc/<pid>/ns/net`.
    pub fn fd(&self) -> OwnedFd {
        self.fd.try_clone().expect("dup namespace fd")
    }

    /// The links in the namespace.
    pub fn links(&self) -> Vec<inspect::Link> {
        self.run(inspect::links).expect("list links")
    }

    /// The link called `name`, if there is one.
    pub fn link(&self, name: &str) -> Option<inspect::Link> {
        self.links().into_iter().find(|link| link.name == name)
    }

    /// The names of the links in the namespace.
    pub fn link_names(&self) -> Vec<String> {
        self.links().into_iter().map(|link| link.name).collect()
    }
}

impl Drop for NetnsThread {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
