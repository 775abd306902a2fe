//! The commands: each records itself, lets the faults keyed on it strike,
//! then does what a Linux backend would, failing as the kernel would.

use std::time::Duration;

use bytes::Bytes;
use cradle_core::backend::{Cgroups, Channel, Interfaces, Processes};
use cradle_core::launch::Spawn;
use cradle_core::{Command, CommandError, IdMaps, Interface, NamespaceKind, Pid, Role, Time};

use super::{error, MockBackend};
use crate::cgroup::{HIERARCHIES, ROOT};
use crate::child::Program;
use crate::faults::CommandKind;
use crate::net::HostInterface;
use crate::process::NewProcess;

/// How long a reap of a process that has not exited waits before it fails.
pub const REAP_BOUND: Duration = Duration::from_secs(1);

/// How long a cgroup's removal waits for the processes it killed to exit
/// before it tries the `rmdir`s anyway.
pub const DESTROY_BOUND: Duration = Duration::from_secs(2);

impl Processes for MockBackend {
    fn spawn(&mut self, spawn: &Spawn) -> Result<Pid, CommandError> {
        self.begin(Command::Spawn(spawn.clone()), CommandKind::Spawn)?;
        if self.socket.is_some() {
            return Err(error("clone: this launch has spawned already", libc::EBUSY));
        }
        let launch = self.launch;
        let launcher = self.kernel.launcher();
        let creator = self.kernel.process(launcher).map(|p| (p.pid, p.serial));
        let limits = self.options.limits;
        let target = self.kernel.container().init;
        let (name, hold) = match spawn.role {
            Role::Init => ("init", spawn.hold),
            Role::SetnsHelper => ("setns helper", false),
            Role::SetnsProcess => (crate::child::SETNS_PROCESS, false),
        };
        let role = spawn.role;
        let schedule = self.options.schedule;
        let new_namespaces: Vec<NamespaceKind> = spawn.namespaces.clone();
        let (pid, socket) = self
            .kernel
            .spawn(launch, (schedule.chunk, schedule.buffer), |socket| NewProcess {
                name,
                parent: Some(launcher),
                creator,
                launch: Some(launch),
                new_namespaces,
                held: hold,
                cgroup: ROOT.to_owned(),
                program: Some(match role {
                    Role::Init => Program::init(socket, limits, hold),
                    Role::SetnsHelper => Program::helper(socket, limits, target),
                    Role::SetnsProcess => Program::setns_process(socket, limits, target),
                }),
            })
            .map_err(|errno| error("clone", errno))?;
        self.socket = Some(socket);
        if role == Role::SetnsHelper {
            self.helper = Some(pid);
        }
        self.hold(pid);
        Ok(pid)
    }

    fn write_id_maps(&mut self, pid: Pid, maps: &IdMaps) -> Result<(), CommandError> {
        let command = Command::WriteIdMaps {
            pid,
            maps: maps.clone(),
        };
        self.begin(command, CommandKind::WriteIdMaps)?;
        let call = format!("write /proc/{pid}/uid_map");
        // Linux takes the maps of a zombie's user namespace, which lives
        // on until it is reaped: the child's exit tells the rest.
        let Some(process) = self.unreaped_process(pid, &call)? else {
            return Ok(());
        };
        if !process.new_namespaces.contains(&NamespaceKind::User) || process.id_maps.is_some() {
            return Err(error(call, libc::EPERM));
        }
        process.id_maps = Some(maps.clone());
        Ok(())
    }

    fn release(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.begin(Command::Release { pid }, CommandKind::Release)?;
        let call = format!("release {pid}");
        // A release is a write the dead child never reads; its exit tells
        // the rest.
        let Some(process) = self.unreaped_process(pid, &call)? else {
            return Ok(());
        };
        if !process.held {
            return Err(error(call, libc::EINVAL));
        }
        process.held = false;
        Ok(())
    }

    fn start(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.begin(Command::Start { pid }, CommandKind::Start)?;
        if self.resuming == Some(pid) {
            return self.start_handed_off(pid);
        }
        let call = format!("start {pid}");
        let process = self.live_process(pid, &call)?;
        if process.started || process.handed_off {
            return Err(error(call, libc::EINVAL));
        }
        process.started = true;
        Ok(())
    }

    fn hand_off(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.begin(Command::HandOff { pid }, CommandKind::HandOff)?;
        let call = format!("hand off {pid}");
        let process = self.live_process(pid, &call)?;
        if process.started || process.handed_off {
            return Err(error(call, libc::EINVAL));
        }
        process.handed_off = true;
        Ok(())
    }

    fn adopt(&mut self, helper: Pid, pid: Pid) -> Result<(), CommandError> {
        let scripted = self.begin(Command::Adopt { helper, pid }, CommandKind::Adopt);
        if self.helper != Some(helper) {
            return Err(error(
                format_args!("{helper} is not this launch's helper"),
                libc::EINVAL,
            ));
        }
        let helper_serial = self.held_process(helper)?.serial;
        let launcher = self.kernel.launcher();
        // A forged report is the backend's refusal, not a failed call: no
        // errno, as on Linux.
        let forged = |reason: &str| CommandError::new(format!("forged pid report {pid}: {reason}"), None);
        let process = self.kernel.process(pid).ok_or_else(|| forged("not a process"))?;
        if process.parent != Some(launcher) {
            return Err(forged("not a child of the launcher"));
        }
        if process.creator != Some((helper, helper_serial)) {
            return Err(forged("not forked by the helper"));
        }
        if let Err(error) = scripted {
            // The check passed but taking hold failed: by the `Adopt`
            // contract the backend releases the verified process itself.
            let _ = self.kernel.send_sigkill(pid);
            self.await_exit(pid);
            let _ = self.kernel.reap(pid);
            return Err(error);
        }
        self.hold(pid);
        Ok(())
    }

    fn kill(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.begin(Command::Kill { pid }, CommandKind::Kill)?;
        self.held_process(pid)?;
        self.kernel
            .send_sigkill(pid)
            .map_err(|e| error(format_args!("pidfd_send_signal {pid}"), e.0))
    }

    fn reap(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.begin(Command::Reap { pid }, CommandKind::Reap)?;
        self.held_process(pid)?;
        if !self.await_exit(pid) {
            return Err(error(
                format_args!("waitid {pid}: not exited after {REAP_BOUND:?}"),
                libc::ETIMEDOUT,
            ));
        }
        self.kernel
            .reap(pid)
            .map_err(|e| error(format_args!("waitid {pid}"), e.0))?;
        self.held.retain(|h| h.pid != pid);
        Ok(())
    }

    fn reap_strays(&mut self, helper: Pid) -> Result<(), CommandError> {
        self.begin(Command::ReapStrays { helper }, CommandKind::ReapStrays)?;
        if self.helper != Some(helper) {
            return Err(error(
                format_args!("{helper} is not this launch's helper"),
                libc::EINVAL,
            ));
        }
        let helper = self.held_process(helper)?;
        // A running helper could fork again after the sweep; a killed one
        // cannot, even before it has exited.
        if helper.is_running() {
            return Err(error(
                format_args!("sweep for {}: the helper is still running", helper.pid),
                libc::EBUSY,
            ));
        }
        // What Linux tells by the name the helper gives itself before it
        // forks; here the kernel keeps each process's creator.
        let forked_by_helper = Some((helper.pid, helper.serial));
        let launcher = self.kernel.launcher();
        let strays: Vec<Pid> = self
            .kernel
            .processes()
            .filter(|p| p.parent == Some(launcher) && p.creator == forked_by_helper)
            .map(|p| p.pid)
            .filter(|&pid| !self.held.iter().any(|h| h.pid == pid))
            .collect();
        // As on Linux, each is killed and reaped within the reap's bound,
        // and a stray that cannot be does not stop the sweep of the others.
        let mut first_failure = None;
        for pid in strays {
            let _ = self.kernel.send_sigkill(pid);
            let reaped = if self.await_exit(pid) {
                self.kernel
                    .reap(pid)
                    .map(drop)
                    .map_err(|e| error(format_args!("waitid {pid}"), e.0))
            } else {
                Err(error(
                    format_args!("waitid {pid}: stray not exited after {REAP_BOUND:?}"),
                    libc::ETIMEDOUT,
                ))
            };
            if let Err(failure) = reaped {
                first_failure.get_or_insert(failure);
            }
        }
        first_failure.map_or(Ok(()), Err)
    }
}

impl Cgroups for MockBackend {
    /// One `mkdir` per hierarchy, in order; the first that fails ends the
    /// create, which removes the directories it made before (as Linux's
    /// `Cgroup::create` does): a failed create leaves nothing.
    fn create_cgroup(&mut self) -> Result<(), CommandError> {
        self.begin(Command::CreateCgroup, CommandKind::CreateCgroup)?;
        let (path, launch) = (self.cgroup.clone(), self.launch);
        let failing = self.failing_part(CommandKind::CreateCgroup);
        for hierarchy in 0..HIERARCHIES {
            let cgroups = self.kernel.cgroups_mut();
            let made = match failing {
                Some((part, errno)) if part == hierarchy => Err(errno),
                _ => cgroups.mkdir(&path, hierarchy, Some(launch)),
            };
            if let Err(errno) = made {
                cgroups.undo_mkdir(&path, hierarchy);
                return Err(error(
                    format_args!("mkdir {path} in hierarchy {hierarchy}"),
                    errno,
                ));
            }
        }
        self.cgroup_created = true;
        Ok(())
    }

    fn apply_cgroup(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.begin(Command::ApplyCgroup { pid }, CommandKind::ApplyCgroup)?;
        let path = self.cgroup.clone();
        let call = format!("write {pid} to {path}/cgroup.procs");
        if !self.cgroup_created {
            return Err(error(call, libc::ENOENT));
        }
        // Linux takes a zombie's pid and moves nothing.
        if let Some(process) = self.unreaped_process(pid, &call)? {
            process.cgroup = Some(path);
        }
        Ok(())
    }

    fn enter_cgroup(&mut self, pid: Pid) -> Result<(), CommandError> {
        self.begin(Command::EnterCgroup { pid }, CommandKind::EnterCgroup)?;
        let path = self.kernel.container().cgroup.clone();
        let call = format!("write {pid} to {path}/cgroup.procs");
        if self.kernel.cgroup(&path).is_none() {
            return Err(error(call, libc::ENOENT));
        }
        // Linux takes a zombie's pid and moves nothing.
        if let Some(process) = self.unreaped_process(pid, &call)? {
            process.cgroup = Some(path);
        }
        Ok(())
    }

    /// Kills the members and waits, within [`DESTROY_BOUND`], for them to
    /// exit (a dying process still counts in its cgroup, and `rmdir` of a
    /// populated one fails with `EBUSY`), then one `rmdir` per hierarchy:
    /// as Linux's `Cgroup::destroy` does, each hierarchy is tried whatever
    /// became of the others, a directory already gone is fine, and the
    /// first failure (the wait's, if it timed out) is reported. The cgroup
    /// is forgotten either way, as on Linux.
    fn destroy_cgroup(&mut self) -> Result<(), CommandError> {
        self.begin(Command::DestroyCgroup, CommandKind::DestroyCgroup)?;
        let path = self.cgroup.clone();
        if !std::mem::take(&mut self.cgroup_created) {
            return Err(error(format_args!("rmdir {path}"), libc::ENOENT));
        }
        // Freeze, so nothing forks while the members are killed; thaw, so
        // the kills land.
        let freeze = |errno| error(format_args!("freeze {path}"), errno);
        self.kernel
            .cgroups_mut()
            .set_frozen(&path, true)
            .map_err(freeze)?;
        for pid in self.kernel.cgroup_procs(&path) {
            let _ = self.kernel.send_sigkill(pid);
        }
        self.kernel
            .cgroups_mut()
            .set_frozen(&path, false)
            .map_err(freeze)?;
        let bound = self.kernel.now() + DESTROY_BOUND;
        let emptied = self
            .kernel
            .block_until(bound, |kernel| kernel.cgroup_procs(&path).is_empty());
        let mut first_failure = (!emptied).then(|| {
            error(
                format_args!("wait for {path} to empty: still populated after {DESTROY_BOUND:?}"),
                libc::ETIMEDOUT,
            )
        });
        let failing = self.failing_part(CommandKind::DestroyCgroup);
        let populated = !emptied;
        for hierarchy in 0..HIERARCHIES {
            let cgroups = self.kernel.cgroups_mut();
            let removed = match failing {
                Some((part, errno)) if part == hierarchy => {
                    // `ENOENT` says the directory is not there: another
                    // remover's, as on Linux, which counts it removed.
                    if errno == libc::ENOENT {
                        let _ = cgroups.rmdir(&path, hierarchy, populated);
                    }
                    Err(errno)
                }
                _ => cgroups.rmdir(&path, hierarchy, populated),
            };
            match removed {
                Ok(()) | Err(libc::ENOENT) => {}
                Err(errno) => {
                    first_failure.get_or_insert(error(
                        format_args!("rmdir {path} in hierarchy {hierarchy}"),
                        errno,
                    ));
                }
            }
        }
        first_failure.map_or(Ok(()), Err)
    }
}

impl Interfaces for MockBackend {
    fn create_interface(
        &mut self,
        pid: Pid,
        index: usize,
        interface: &Interface,
    ) -> Result<(), CommandError> {
        let command = Command::CreateInterface {
            pid,
            index,
            interface: interface.clone(),
        };
        self.begin(command, CommandKind::CreateInterface { index })?;
        // Loopback is the child's own business: nothing on the host.
        let Interface::Veth(veth) = interface else {
            return Ok(());
        };
        // A zombie has no namespaces left to open.
        let netns = format!("open /proc/{pid}/ns/net");
        if self.unreaped_process(pid, &netns)?.is_none() {
            return Err(error(netns, libc::ENOENT));
        }
        let host = HostInterface {
            peer: veth.peer_name.clone(),
            peer_netns_of: pid,
            launch: Some(self.launch),
        };
        self.kernel
            .net_mut()
            .create(&veth.host_name, host)
            .map_err(|errno| error(format_args!("create veth {}", veth.host_name), errno))?;
        self.interfaces.insert(index, veth.host_name.clone());
        Ok(())
    }

    fn remove_interface(&mut self, index: usize, interface: &Interface) -> Result<(), CommandError> {
        let command = Command::RemoveInterface {
            index,
            interface: interface.clone(),
        };
        self.begin(command, CommandKind::RemoveInterface { index })?;
        let Interface::Veth(veth) = interface else {
            return Ok(());
        };
        let call = format!("delete link {}", veth.host_name);
        if self.interfaces.get(&index) != Some(&veth.host_name) {
            return Err(error(call, libc::ENODEV));
        }
        self.kernel
            .net_mut()
            .delete(&veth.host_name)
            .map_err(|errno| error(&call, errno))?;
        self.interfaces.remove(&index);
        Ok(())
    }
}

impl Channel for MockBackend {
    /// Writes what fits, then lets the child run (and read) until the rest
    /// fits; a child that stops reading fails the send at `deadline`.
    fn send(&mut self, bytes: &[u8], deadline: Time) -> Result<(), CommandError> {
        let command = Command::Send {
            bytes: Bytes::copy_from_slice(bytes),
        };
        self.begin(command, CommandKind::Send)?;
        let mut rest = bytes;
        loop {
            let sent = match self.socket("write")?.parent_send(rest) {
                Ok(sent) => sent,
                // The child is gone, as on Linux: its exit status, and what
                // it wrote before it went, say why; the read side reports
                // them.
                Err(libc::EPIPE) => return Ok(()),
                Err(errno) => return Err(error("write", errno)),
            };
            rest = &rest[sent..];
            if rest.is_empty() {
                return Ok(());
            }
            if self.kernel.now() >= deadline || !self.kernel.progress(Some(deadline)) {
                self.kernel.advance_to(deadline);
                let unsent = rest.len();
                return Err(error(
                    format_args!("write: {unsent} bytes unsent at the deadline"),
                    libc::ETIMEDOUT,
                ));
            }
        }
    }

    fn shutdown_write(&mut self) -> Result<(), CommandError> {
        self.begin(Command::ShutdownWrite, CommandKind::ShutdownWrite)?;
        self.socket("shutdown")?
            .parent_shutdown_write()
            .map_err(|errno| error("shutdown", errno))
    }

    fn close(&mut self) -> Result<(), CommandError> {
        // As on Linux, the descriptor is gone even when close reports an
        // error: the failure is reported, the socket end is not kept.
        let result = self.begin(Command::Close, CommandKind::Close);
        if let Some(socket) = self.socket.take() {
            self.kernel.close_parent_end(socket);
        }
        result
    }
}

impl MockBackend {
    /// The start of a resuming launch: `connect` to the hold of `pid`,
    /// which must have been handed off and not started (a hold nobody
    /// listens on any more refuses the connection), and start it there.
    fn start_handed_off(&mut self, pid: Pid) -> Result<(), CommandError> {
        let call = format!("connect to the hold of {pid}");
        let process = self.live_process(pid, &call)?;
        if !process.handed_off || process.started {
            return Err(error(call, libc::ECONNREFUSED));
        }
        let schedule = self.options.schedule;
        let socket = self
            .kernel
            .connect(self.launch, (schedule.chunk, schedule.buffer), pid);
        let process = self.live_process(pid, &call)?;
        process.started = true;
        process.resumed_on = Some(socket);
        self.socket = Some(socket);
        Ok(())
    }
}
