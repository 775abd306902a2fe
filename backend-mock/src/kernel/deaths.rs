//! Deaths take time, as on Linux: a `SIGKILL` makes a process dying, and
//! it exits (becomes a zombie) only once the virtual clock reaches its
//! time. Only the clock ends a dying process, so whatever waits for one
//! (the parent's wait, a reap, a cgroup's removal) moves the clock to its
//! death, or to the end of its own bound.

use std::time::Duration;

use cradle_core::{ExitStatus, Pid, Time};

use super::{Errno, Kernel, SIGKILL};
use crate::child::Program;
use crate::process::{Process, ProcessState};

/// How long a killed process takes to exit, unless a
/// [`Fault::SlowToDie`](crate::Fault::SlowToDie) says otherwise: small but
/// not zero, so that every path that kills meets a death that takes time.
pub const DYING_TIME: Duration = Duration::from_millis(1);

impl Kernel {
    /// `kill(pid, SIGKILL)`, then a wait until it has exited (as a test on
    /// Linux waits, with `waitid(WNOWAIT)`, for a process it killed to be a
    /// zombie): the clock moves on to its death, however long that takes.
    /// For the signal alone, [`send_sigkill`](Kernel::send_sigkill).
    pub fn kill(&mut self, pid: Pid) -> Result<(), Errno> {
        self.send_sigkill(pid)?;
        if let Some(exits_at) = self.process(pid).and_then(Process::exits_at) {
            self.advance_to(exits_at);
        }
        Ok(())
    }

    /// `kill(pid, SIGKILL)`, and no more. A running process runs its
    /// program no more and exits after [`DYING_TIME`] (or the time its
    /// launch's [`Fault::SlowToDie`](crate::Fault::SlowToDie) gives it);
    /// until then it is [dying](ProcessState::Dying). A process dying
    /// already, or a zombie, takes the signal to no effect.
    pub fn send_sigkill(&mut self, pid: Pid) -> Result<(), Errno> {
        let process = self.processes.get(pid).ok_or(Errno(libc::ESRCH))?;
        if !process.is_running() {
            return Ok(());
        }
        let scripted = match (process.launch, process.program.as_ref().map(Program::who)) {
            (Some(launch), Some(who)) => self.script_mut(launch).dying_time(who),
            _ => None,
        };
        let exits_at = self.now() + scripted.unwrap_or(DYING_TIME);
        if let Some(process) = self.processes.get_mut(pid) {
            process.state = ProcessState::Dying {
                status: ExitStatus::Signaled(SIGKILL),
                exits_at,
            };
            process.program = None;
        }
        // A death that takes no time is over at once.
        self.advance_to(self.now());
        Ok(())
    }

    /// The dying process due to exit first, and when.
    pub(crate) fn next_death(&self) -> Option<(Pid, Time)> {
        self.processes
            .iter()
            .filter_map(|p| Some((p.exits_at()?, p.serial, p.pid)))
            .min()
            .map(|(exits_at, _, pid)| (pid, exits_at))
    }

    /// The dying process `pid` exits, with the status its killer gave it.
    pub(super) fn finish_dying(&mut self, pid: Pid) {
        if let Some(ProcessState::Dying { status, .. }) = self.processes.get(pid).map(|p| p.state) {
            self.exit(pid, status);
        }
    }

    /// Lets something happen before `until` (`None`: whenever): a program
    /// does one thing, or else the clock moves on to the next death. False
    /// when nothing can happen by then.
    pub(crate) fn progress(&mut self, until: Option<Time>) -> bool {
        if self.run_once() {
            return true;
        }
        match self.next_death() {
            Some((_, exits_at)) if until.is_none_or(|until| exits_at <= until) => {
                self.advance_to(exits_at);
                true
            }
            _ => false,
        }
    }

    /// The launcher blocks in a call until `done` holds, or until `until`,
    /// and says whether it held: the clock moves on, death by death, but
    /// no program runs while the launcher is in a call.
    pub(crate) fn block_until(&mut self, until: Time, done: impl Fn(&Kernel) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            match self.next_death() {
                Some((_, exits_at)) if exits_at <= until => self.advance_to(exits_at),
                _ => {
                    self.advance_to(until);
                    return done(self);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signaled() -> ExitStatus {
        ExitStatus::Signaled(SIGKILL)
    }

    #[test]
    fn a_killed_process_is_dying_until_its_time_comes() {
        let mut kernel = Kernel::new();
        let pid = kernel.start_process("sleeper").unwrap();
        kernel.send_sigkill(pid).unwrap();
        let exits_at = kernel.now() + DYING_TIME;
        let process = kernel.process(pid).unwrap();
        assert_eq!(
            process.state(),
            ProcessState::Dying {
                status: signaled(),
                exits_at
            }
        );
        assert!(process.is_alive() && !process.is_running());
        // Still in its cgroup, and not reapable.
        assert_eq!(kernel.cgroup_procs(crate::ROOT).last(), Some(&pid));
        assert_eq!(kernel.reap(pid), Err(Errno(libc::EAGAIN)));

        kernel.advance(DYING_TIME - Duration::from_nanos(1));
        assert!(kernel.process(pid).unwrap().is_alive());
        kernel.advance(Duration::from_nanos(1));
        assert_eq!(
            kernel.process(pid).unwrap().state(),
            ProcessState::Zombie(signaled())
        );
        assert!(!kernel.cgroup_procs(crate::ROOT).contains(&pid));
        assert_eq!(kernel.reap(pid), Ok(signaled()));
    }

    #[test]
    fn deaths_come_in_the_order_they_are_due_and_a_second_kill_changes_nothing() {
        let mut kernel = Kernel::new();
        let first = kernel.start_process("first").unwrap();
        let second = kernel.start_process("second").unwrap();
        kernel.send_sigkill(second).unwrap();
        kernel.advance(DYING_TIME / 2);
        kernel.send_sigkill(first).unwrap();
        kernel.send_sigkill(second).unwrap();
        assert_eq!(kernel.next_death(), Some((second, Time::ZERO + DYING_TIME)));
        assert!(kernel.progress(None));
        assert!(!kernel.process(second).unwrap().is_alive());
        assert!(kernel.process(first).unwrap().is_alive());
        // The next death is after this bound: nothing happens by then.
        assert!(!kernel.progress(Some(kernel.now())));
    }

    #[test]
    fn kill_waits_for_the_exit() {
        let mut kernel = Kernel::new();
        let pid = kernel.start_process("sleeper").unwrap();
        kernel.kill(pid).unwrap();
        assert_eq!(kernel.now(), Time::ZERO + DYING_TIME);
        assert_eq!(kernel.reap(pid), Ok(signaled()));
        assert_eq!(kernel.kill(pid), Err(Errno(libc::ESRCH)));
    }

    #[test]
    fn a_blocked_call_sees_deaths_within_its_bound_and_gives_up_at_it() {
        let mut kernel = Kernel::new();
        let pid = kernel.start_process("sleeper").unwrap();
        kernel.send_sigkill(pid).unwrap();
        let exited = |kernel: &Kernel| !kernel.process(pid).unwrap().is_alive();
        let too_soon = kernel.now() + DYING_TIME / 2;
        assert!(!kernel.block_until(too_soon, exited));
        assert_eq!(kernel.now(), too_soon);
        assert!(kernel.block_until(too_soon + DYING_TIME, exited));
        assert_eq!(kernel.now(), Time::ZERO + DYING_TIME);
    }
}
