//! The calls the launcher's backend and the simulated programs make.
//! Failures are raw errnos; callers name the call.

use cradle_core::{ExitStatus, Pid};

use super::{Kernel, LaunchId, HOST_INIT};
use crate::cgroup::{CgroupTree, ROOT};
use crate::child::Program;
use crate::net::Net;
use crate::process::{NewProcess, ProcessState, ProcessTable};
use crate::socket::{Received, SocketId, SocketPair};

impl Kernel {
    /// A pid no process has, if there is one.
    pub(crate) fn vacant_pid(&self) -> Option<Pid> {
        self.processes.vacant()
    }

    pub(crate) fn processes_mut(&mut self) -> &mut ProcessTable {
        &mut self.processes
    }

    pub(crate) fn socket_mut(&mut self, id: SocketId) -> Option<&mut SocketPair> {
        self.sockets.get_mut(&id)
    }

    pub(crate) fn cgroups_mut(&mut self) -> &mut CgroupTree {
        &mut self.cgroups
    }

    pub(crate) fn net_mut(&mut self) -> &mut Net {
        &mut self.net
    }

    /// `socketpair` plus `clone`: a new process of the launcher's holding
    /// the child's end of a new socket. Fails with `EAGAIN` when no pid is
    /// free, having created nothing.
    pub(crate) fn spawn(
        &mut self,
        launch: LaunchId,
        (chunk, buffer): (usize, usize),
        process: impl FnOnce(SocketId) -> NewProcess,
    ) -> Result<(Pid, SocketId), i32> {
        let id = SocketId(self.next_socket);
        let pid = self.processes.insert(process(id)).ok_or(libc::EAGAIN)?;
        self.next_socket += 1;
        self.sockets
            .insert(id, SocketPair::new(launch, chunk, buffer, pid));
        Ok((pid, id))
    }

    /// A launcher's `connect` to the hold of `pid`, a process of another
    /// launch: a new socket whose child end `pid` holds (it accepts).
    pub(crate) fn connect(
        &mut self,
        launch: LaunchId,
        (chunk, buffer): (usize, usize),
        pid: Pid,
    ) -> SocketId {
        let id = SocketId(self.next_socket);
        self.next_socket += 1;
        self.sockets
            .insert(id, SocketPair::new(launch, chunk, buffer, pid));
        id
    }

    /// `creator` forks a process running `program` whose parent is
    /// `creator`'s parent (`CLONE_PARENT`). It inherits the launch, the
    /// cgroup and the socket ends of its creator.
    pub(crate) fn fork_sibling(
        &mut self,
        creator: Pid,
        name: &'static str,
        program: Program,
    ) -> Result<Pid, i32> {
        let parent = self
            .processes
            .get(creator)
            .filter(|p| p.is_running())
            .ok_or(libc::ESRCH)?;
        let new = NewProcess {
            name,
            parent: parent.parent,
            creator: Some((parent.pid, parent.serial)),
            launch: parent.launch,
            new_namespaces: Vec::new(),
            held: false,
            cgroup: parent.cgroup.clone().unwrap_or_else(|| ROOT.to_owned()),
            program: Some(program),
        };
        let pid = self.processes.insert(new).ok_or(libc::EAGAIN)?;
        for socket in self.sockets.values_mut().filter(|s| s.holds(creator)) {
            socket.child_dup(pid);
        }
        Ok(pid)
    }

    /// The process ends (of itself, or at the end of its dying): it becomes
    /// a zombie (its parent reaps it), leaves its cgroup, and its socket
    /// ends close. Its orphans go to the host's init, which reaps them.
    pub(crate) fn exit(&mut self, pid: Pid, status: ExitStatus) {
        let Some(process) = self.processes.get_mut(pid).filter(|p| p.is_alive()) else {
            return;
        };
        process.state = ProcessState::Zombie(status);
        process.cgroup = None;
        process.held = false;
        process.program = None;
        let parent = process.parent;
        self.close_sockets_of(pid);
        let orphans: Vec<Pid> = self
            .processes
            .iter_mut()
            .filter(|p| p.parent == Some(pid))
            .map(|p| {
                p.parent = Some(HOST_INIT);
                p.pid
            })
            .collect();
        for orphan in orphans {
            self.reap_by_host_init(orphan);
        }
        if parent == Some(HOST_INIT) {
            self.reap_by_host_init(pid);
        }
    }

    fn reap_by_host_init(&mut self, pid: Pid) {
        if self.processes.get(pid).is_some_and(|p| !p.is_alive()) {
            self.processes.remove(pid);
        }
    }

    /// `exec`: the socket ends, all close-on-exec, close.
    pub(crate) fn exec(&mut self, pid: Pid) {
        self.close_sockets_of(pid);
    }

    fn close_sockets_of(&mut self, pid: Pid) {
        for socket in self.sockets.values_mut() {
            socket.child_close(pid);
        }
        self.sockets.retain(|_, s| !s.is_gone());
    }

    /// `pid` closes its copy of the child's end of `socket`.
    pub(crate) fn close_child_end(&mut self, pid: Pid, socket: SocketId) {
        if let Some(pair) = self.sockets.get_mut(&socket) {
            pair.child_close(pid);
            if pair.is_gone() {
                self.sockets.remove(&socket);
            }
        }
    }

    /// Closes the parent's end of `socket`.
    pub(crate) fn close_parent_end(&mut self, socket: SocketId) {
        if let Some(pair) = self.sockets.get_mut(&socket) {
            pair.parent_close();
            if pair.is_gone() {
                self.sockets.remove(&socket);
            }
        }
    }

    /// A read of the child's end by `pid`.
    pub(crate) fn child_read(&mut self, pid: Pid, socket: SocketId) -> Received {
        match self.sockets.get_mut(&socket) {
            Some(pair) => pair.child_read(pid),
            None => Received::Error(libc::EBADF),
        }
    }

    /// A write to the child's end by `pid`; a failed write (the parent
    /// closed) is the writer's to ignore, as a child that is about to exit
    /// does.
    pub(crate) fn child_send(&mut self, pid: Pid, socket: SocketId, bytes: &[u8]) {
        if let Some(pair) = self.sockets.get_mut(&socket) {
            let _ = pair.child_send(pid, bytes);
        }
    }

    /// Whether `pid` holds a copy of the child's end of `socket`.
    pub(crate) fn holds(&self, pid: Pid, socket: SocketId) -> bool {
        self.sockets.get(&socket).is_some_and(|s| s.holds(pid))
    }
}
