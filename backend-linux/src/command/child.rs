//! A started container ([`Child`]) and processes started in it
//! ([`ExecCommand`]): waited for, signalled, killed, and released, its
//! processes and cgroup, when waited for or dropped.

use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use cradle_core::{ExitStatus, Pid, Plan};

use super::confinement::{self, Confined};
use super::{process_setters, ProcessSpec};
use crate::cgroup::Cgroup;
use crate::{Container, Error, Process, Signal};

/// How long a dropped container's processes and cgroup may take to go.
const RELEASE_BOUND: Duration = Duration::from_secs(5);

/// What a process wrote, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// What it wrote to stdout (if piped).
    pub stdout: Vec<u8>,
    /// What it wrote to stderr (if piped).
    pub stderr: Vec<u8>,
}

/// A running container (or a process started in one), from
/// [`Command::spawn`](super::Command::spawn).
///
/// Waiting for it ([`wait`](Child::wait), or
/// [`wait_with_output`](Child::wait_with_output)) reaps it and, for a
/// container, kills what is left in its cgroup and removes the cgroup.
/// Dropping it first kills it (`SIGKILL`): nothing of it outlives the
/// handle unless [`detach`](Child::detach) says so.
#[derive(Debug)]
pub struct Child {
    /// `None` once detached.
    process: Option<Process>,
    /// A pipe to its stdin, if [`Stdio::piped`](super::Stdio::piped).
    pub stdin: Option<File>,
    /// A pipe from its stdout, if piped.
    pub stdout: Option<File>,
    /// A pipe from its stderr, if piped.
    pub stderr: Option<File>,
    /// How a container was confined (for its execs); `None` when
    /// privileged, and for a process started in a container.
    confined: Option<Confined>,
    /// It has ended and its resources have been released.
    released: bool,
    /// The init binary it was started with, which its execs use too.
    init_binary: Option<PathBuf>,
}

impl Child {
    pub(super) fn new(
        process: Process,
        pipes: [Option<File>; 3],
        confined: Option<Confined>,
        init_binary: Option<PathBuf>,
    ) -> Child {
        let [stdin, stdout, stderr] = pipes;
        Child {
            process: Some(process),
            stdin,
            stdout,
            stderr,
            confined,
            released: false,
            init_binary,
        }
    }

    fn process(&self) -> &Process {
        self.process
            .as_ref()
            .expect("only detach takes the process, and it consumes the handle")
    }

    fn process_mut(&mut self) -> &mut Process {
        self.process
            .as_mut()
            .expect("only detach takes the process, and it consumes the handle")
    }

    /// Its pid, in the caller's pid namespace.
    pub fn pid(&self) -> Pid {
        self.process().pid()
    }

    /// Its pid as `std::process::Child::id` gives it.
    pub fn id(&self) -> u32 {
        self.pid().as_raw().unsigned_abs()
    }

    /// Sends it `signal` (through its pidfd: never to a process that took
    /// its pid after it was reaped).
    pub fn signal(&self, signal: Signal) -> Result<(), Error> {
        self.process().signal(signal)
    }

    /// Kills it (`SIGKILL`) and waits for it, a few seconds at most;
    /// releases what it held. Killing a container's init ends every
    /// process of the container.
    pub fn kill(&mut self) -> Result<ExitStatus, Error> {
        let status = self.process_mut().terminate()?;
        self.release()?;
        Ok(status)
    }

    /// Waits for it to end (closing its stdin first, so that a command
    /// reading it sees its end); its exit status.
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        drop(self.stdin.take());
        let status = self.process_mut().wait()?;
        self.release()?;
        Ok(status)
    }

    /// Waits at most `timeout`; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, Error> {
        drop(self.stdin.take());
        let status = self.process_mut().wait_timeout(timeout)?;
        if status.is_some() {
            self.release()?;
        }
        Ok(status)
    }

    /// Whether it has ended, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, Error> {
        let status = self.process_mut().try_wait()?;
        if status.is_some() {
            self.release()?;
        }
        Ok(status)
    }

    /// Waits for it to end, reading its piped stdout and stderr to their
    /// ends meanwhile.
    pub fn wait_with_output(mut self) -> Result<Output, Error> {
        drop(self.stdin.take());
        let (stdout, stderr) = read_both(self.stdout.take(), self.stderr.take())?;
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// [`wait`](Child::wait) without blocking the thread: tokio's reactor
    /// says when its pidfd turns readable.
    #[cfg(feature = "tokio")]
    pub async fn wait_async(&mut self) -> Result<ExitStatus, Error> {
        drop(self.stdin.take());
        let status = crate::with_tokio::wait(self.process_mut()).await?;
        self.release()?;
        Ok(status)
    }

    /// [`kill`](Child::kill) without blocking the thread.
    #[cfg(feature = "tokio")]
    pub async fn kill_async(&mut self) -> Result<ExitStatus, Error> {
        match self.process().signal(Signal::SIGKILL) {
            // Reaped already: the wait gives its status.
            Ok(()) | Err(Error::Reaped { .. }) => {}
            Err(error) => return Err(error),
        }
        self.wait_async().await
    }

    /// [`wait_with_output`](Child::wait_with_output) without blocking the
    /// thread.
    #[cfg(feature = "tokio")]
    pub async fn wait_with_output_async(mut self) -> Result<Output, Error> {
        drop(self.stdin.take());
        let (stdout, stderr) = ::tokio::try_join!(
            crate::with_tokio::read_to_end(self.stdout.take()),
            crate::with_tokio::read_to_end(self.stderr.take()),
        )?;
        let status = self.wait_async().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// A command to start in this container: it joins its namespaces, root
    /// and cgroup, and is confined as the container is.
    pub fn exec(&self, program: impl Into<String>) -> ExecCommand<'_> {
        let mut process = ProcessSpec::new(program.into());
        process.init_binary.clone_from(&self.init_binary);
        ExecCommand {
            process,
            container: self,
        }
    }

    /// The directories of its cgroup, if it has one.
    pub fn cgroup_paths(&self) -> Option<crate::cgroup::CgroupPaths> {
        self.process().cgroup().map(|cgroup| cgroup.paths().clone())
    }

    /// Lets it run on, unwatched: it is not killed on drop, and its
    /// cgroup stays (the caller's to remove: see [`crate::cgroup`]). Its
    /// pid; it stays this process's child, to reap, until this process
    /// exits.
    pub fn detach(mut self) -> Pid {
        self.released = true;
        let process = self.process.take().expect("detach consumes the handle");
        process.detach()
    }

    /// Once it has ended: removes its cgroup (its processes are gone: the
    /// wait emptied it).
    fn release(&mut self) -> Result<(), Error> {
        if self.released {
            return Ok(());
        }
        if let Some(cgroup) = self.process().cgroup() {
            cgroup.destroy_by(Instant::now() + RELEASE_BOUND)?;
        }
        self.released = true;
        Ok(())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.released || self.process.is_none() {
            return;
        }
        // Kill-on-drop: a handle dropped early (an error, a panic, a
        // cancelled task) leaves no process, zombie or cgroup.
        if self.kill().is_err() {
            // The kill's bounded wait gave up (a process stuck in the
            // kernel): what is left of the cgroup still goes if it can.
            if let Some(cgroup) = self.process.as_ref().and_then(Process::cgroup) {
                let _ = cgroup.kill_all_and_wait(Instant::now() + RELEASE_BOUND);
                let _ = cgroup.destroy_by(Instant::now() + RELEASE_BOUND);
            }
        }
    }
}

/// A process to start in a running container, from
/// [`Child::exec`]: the process setters of [`Command`](super::Command),
/// none of the container's.
#[derive(Debug)]
pub struct ExecCommand<'a> {
    process: ProcessSpec,
    container: &'a Child,
}

impl ExecCommand<'_> {
    process_setters!();

    /// How it is confined: as the container is (the default), or not at
    /// all ([`Confinement::Privileged`](super::Confinement::Privileged)).
    pub fn confinement(&mut self, confinement: super::Confinement) -> &mut Self {
        self.process.confinement = confinement;
        self
    }

    /// Starts it; returns once it has `exec`'d.
    pub fn spawn(&mut self) -> Result<Child, Error> {
        let (plan, options, pipes) = self.prepare()?;
        let process = Process::start(plan, options)?;
        Ok(Child::new(process, pipes, None, self.process.init_binary.clone()))
    }

    /// [`spawn`](ExecCommand::spawn) without blocking the thread.
    #[cfg(feature = "tokio")]
    pub async fn spawn_async(&mut self) -> Result<Child, Error> {
        let (plan, options, pipes) = self.prepare()?;
        let process = crate::with_tokio::start(plan, options).await?;
        Ok(Child::new(process, pipes, None, self.process.init_binary.clone()))
    }

    /// [`output`](ExecCommand::output), without blocking the thread.
    #[cfg(feature = "tokio")]
    pub async fn output_async(&mut self) -> Result<Output, Error> {
        self.process.capture_output();
        self.spawn_async().await?.wait_with_output_async().await
    }

    /// The plan, the options and the caller's pipe ends.
    #[allow(clippy::type_complexity)]
    fn prepare(&mut self) -> Result<(Plan, crate::Options, [Option<File>; 3]), Error> {
        let init = self.container.process();
        let container = Container::of(init)?;
        let mut config = self.process.config();
        confinement::apply_exec(
            self.container.confined.as_ref(),
            &self.process.confinement,
            &self.process.cap_add,
            &mut config,
        )?;
        let mut plan = Plan::setns(config);
        plan.timeout = self.process.timeout;
        plan.setns_entry = container.setns_entry(init.cgroup().map(Cgroup::paths));
        let mut options = self.process.options().container(container);
        if let Some(cgroup) = init.cgroup() {
            plan.cgroup = true;
            options = options.container_cgroups(cgroup.paths().clone());
        }
        let (options, pipes) = self.process.take_stdio(options)?;
        Ok((plan, options, pipes))
    }
}

/// Reads `stdout` and `stderr` (either may be absent) to their ends, at
/// once, so that neither fills while the other is read.
fn read_both(stdout: Option<File>, stderr: Option<File>) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut streams = [stdout, stderr];
    let mut read = [Vec::new(), Vec::new()];
    let mut buf = [0u8; 8192];
    loop {
        let open: Vec<usize> = (0..2).filter(|&i| streams[i].is_some()).collect();
        if open.is_empty() {
            let [stdout, stderr] = read;
            return Ok((stdout, stderr));
        }
        let ready = {
            let mut fds: Vec<PollFd<'_>> = open
                .iter()
                .map(|&i| {
                    let fd: BorrowedFd<'_> = streams[i].as_ref().map(|file| file.as_fd()).expect("open");
                    PollFd::new(fd, PollFlags::POLLIN)
                })
                .collect();
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(Error::syscall("poll of the output pipes")(errno)),
            }
            fds.iter()
                .map(|fd| fd.revents().is_some_and(|events| !events.is_empty()))
                .collect::<Vec<bool>>()
        };
        for (&i, ready) in open.iter().zip(ready) {
            if !ready {
                continue;
            }
            let file = streams[i].as_mut().expect("open");
            match file.read(&mut buf) {
                Ok(0) => streams[i] = None,
                Ok(n) => read[i].extend_from_slice(&buf[..n]),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    let path = if i == 0 {
                        "the stdout pipe"
                    } else {
                        "the stderr pipe"
                    };
                    return Err(Error::file(PathBuf::from(path))(error));
                }
            }
        }
    }
}
