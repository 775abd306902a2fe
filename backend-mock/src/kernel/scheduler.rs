//! Running the programs, one step at a time, and the faults that strike
//! them: each launch's script lives in the kernel, so it outlives the
//! launch's backend.

use cradle_core::Pid;

use super::{Kernel, LaunchId};
use crate::cgroup::Cgroup;
use crate::child::Program;
use crate::faults::{Fault, FaultScript};
use crate::process::Process;

impl Kernel {
    /// Runs the programs until none can do anything more.
    pub fn run_until_idle(&mut self) {
        while self.run_once() {}
    }

    /// The faults of `launch` that have not struck.
    pub fn pending_faults(&self, launch: LaunchId) -> &[Fault] {
        self.scripts.get(&launch).map_or(&[], FaultScript::pending)
    }

    /// A new launch, with the faults that will strike it.
    pub(crate) fn new_launch(&mut self, script: FaultScript) -> LaunchId {
        self.next_launch += 1;
        let launch = LaunchId(self.next_launch);
        self.scripts.insert(launch, script);
        launch
    }

    /// `launch`'s faults.
    pub(crate) fn script_mut(&mut self, launch: LaunchId) -> &mut FaultScript {
        self.scripts.entry(launch).or_default()
    }

    /// Spends the first fault of `launch` that `strikes` (judged against
    /// the kernel as it is).
    pub(crate) fn take_fault(
        &mut self,
        launch: LaunchId,
        strikes: impl Fn(&Fault, &Kernel) -> bool,
    ) -> Option<Fault> {
        let index = self
            .pending_faults(launch)
            .iter()
            .position(|f| strikes(f, self))?;
        self.script_mut(launch).take_at(index)
    }

    /// Lets one program do one thing, round-robin over the running,
    /// unfrozen processes that have a program. False when none can do anything.
    pub(crate) fn run_once(&mut self) -> bool {
        let runnable: Vec<Pid> = self
            .processes
            .iter()
            .filter(|p| p.is_running() && p.program.is_some() && !self.is_frozen(p))
            .map(Process::pid)
            .collect();
        let last = self.last_ran;
        let (before, after): (Vec<Pid>, Vec<Pid>) = runnable.into_iter().partition(|&pid| Some(pid) <= last);
        for pid in after.into_iter().chain(before) {
            if self.with_program(pid, |program, kernel, faults| program.step(pid, kernel, faults)) {
                self.last_ran = Some(pid);
                return true;
            }
        }
        false
    }

    fn is_frozen(&self, process: &Process) -> bool {
        process
            .cgroup()
            .and_then(|path| self.cgroups.get(path))
            .is_some_and(Cgroup::is_frozen)
    }

    /// Whether `fault` can strike `pid` now: a running process with a
    /// program (which holds its socket end, for the faults that use it).
    pub(crate) fn can_suffer(&self, pid: Pid, fault: &Fault) -> bool {
        let Some(program) = self
            .processes
            .get(pid)
            .filter(|p| p.is_running())
            .and_then(|p| p.program.as_ref())
        else {
            return false;
        };
        !fault.uses_socket() || self.holds(pid, program.socket())
    }

    /// `fault` strikes the program of `pid`.
    pub(crate) fn suffer(&mut self, pid: Pid, fault: &Fault) {
        self.with_program(pid, |program, kernel, _| {
            program.suffer(fault, pid, kernel);
            true
        });
    }

    /// Runs `f` on the program of `pid` and its launch's faults, both taken
    /// out of the kernel while it runs (it gets the kernel), and puts them
    /// back: the program only if the process still runs.
    fn with_program(
        &mut self,
        pid: Pid,
        f: impl FnOnce(&mut Program, &mut Kernel, &mut FaultScript) -> bool,
    ) -> bool {
        let Some(process) = self.processes.get_mut(pid) else {
            return false;
        };
        let launch = process.launch;
        let Some(mut program) = process.program.take() else {
            return false;
        };
        let mut script = launch.and_then(|l| self.scripts.remove(&l)).unwrap_or_default();
        let progressed = f(&mut program, self, &mut script);
        if let Some(launch) = launch {
            self.scripts.insert(launch, script);
        }
        if let Some(process) = self.processes.get_mut(pid).filter(|p| p.is_running()) {
            process.program = Some(program);
        }
        progressed
    }
}
