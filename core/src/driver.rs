//! The blocking driver: runs one launch to its end over any [`Backend`].

use crate::backend::{Backend, Wake};
use crate::launch::{Command, CommandError, Event, Launch, LaunchError, Misuse};
use crate::process::Pid;
use crate::time::Time;

/// How much the driver reads from the socket at a time.
pub const READ_CHUNK: usize = 4096;

/// Runs `launch` over `backend` until its terminal event, and returns it:
/// the running process's pid, or why it failed (after cleanup; see
/// [`Launch::cleanup_failures`]).
///
/// A launch whose config holds returns at [`Event::Held`] with the held
/// process's pid ([`Launch::is_held`] tells): record it, call
/// [`Launch::handle_start`] (or [`Launch::handle_hand_off`]), and drive
/// again to the end; a hand-off ends with the created process's pid.
///
/// Each command runs to completion before the next: a backend's commands
/// are bounded, and only [`Wait::wait`](crate::backend::Wait::wait) blocks
/// on the child, up to the launch's deadline.
pub fn drive<B: Backend + ?Sized>(launch: &mut Launch, backend: &mut B) -> Result<Pid, LaunchError> {
    drive_with(launch, backend, |_, _| {})
}

/// [`drive`], calling `between` each time before the launch is asked for
/// its next command: after every input and every completion. It may act on
/// the launch, for a caller that cancels at a step, or on the world, for a
/// test that kills the child at a step.
pub fn drive_with<B, F>(launch: &mut Launch, backend: &mut B, mut between: F) -> Result<Pid, LaunchError>
where
    B: Backend + ?Sized,
    F: FnMut(&mut Launch, &mut B),
{
    let mut buf = vec![0; READ_CHUNK];
    loop {
        loop {
            between(launch, backend);
            let Some(command) = launch.poll_command() else {
                break;
            };
            let result = execute(backend, &command, launch.deadline());
            let now = backend.now();
            let accepted = match result {
                Ok(Some(pid)) => launch.handle_spawned(now, pid),
                Ok(None) => launch.handle_done(now, Ok(())),
                Err(error) => launch.handle_done(now, Err(error)),
            };
            debug_assert!(accepted.is_ok(), "the driver completes the command in flight");
        }
        if let Some(event) = launch.poll_event() {
            return match event {
                Event::Running { pid } | Event::Held { pid } | Event::Created { pid } => Ok(pid),
                Event::Failed(error) => Err(error),
            };
        }
        let wake = backend.wait(launch.poll_timeout(), launch.wants_read(), &mut buf);
        let now = backend.now();
        // The launch only refuses input it did not ask for (a read it did not
        // want, an exit of a process it never had); this loop gives none.
        let accepted = handle_wake(launch, now, wake, &buf);
        debug_assert!(accepted.is_ok(), "the backend reports only this launch's input");
    }
}

/// Feeds what woke [`Wait::wait`](crate::backend::Wait::wait) to `launch`;
/// `buf` holds the bytes a [`Wake::Read`] counts.
pub fn handle_wake(launch: &mut Launch, now: Time, wake: Wake, buf: &[u8]) -> Result<(), Misuse> {
    match wake {
        Wake::Read(n) => launch.handle_read(now, &buf[..n]),
        Wake::Eof => launch.handle_eof(now),
        Wake::ReadFailed(error) => launch.handle_read_error(now, error),
        Wake::Exited { pid, status } => launch.handle_exit(now, pid, status),
        Wake::Deadline => {
            launch.handle_timeout(now);
            Ok(())
        }
    }
}

/// Carries out one command; `Some(pid)` for a spawn. `deadline` bounds the
/// one command that waits on the child, [`Command::Send`].
pub fn execute<B: Backend + ?Sized>(
    backend: &mut B,
    command: &Command,
    deadline: Time,
) -> Result<Option<Pid>, CommandError> {
    match command {
        Command::CreateCgroup => backend.create_cgroup(),
        Command::Spawn(spawn) => return backend.spawn(spawn).map(Some),
        Command::WriteIdMaps { pid, maps } => backend.write_id_maps(*pid, maps),
        Command::Release { pid } => backend.release(*pid),
        Command::Start { pid } => backend.start(*pid),
        Command::HandOff { pid } => backend.hand_off(*pid),
        Command::ApplyCgroup { pid } => backend.apply_cgroup(*pid),
        Command::CreateInterface {
            pid,
            index,
            interface,
        } => backend.create_interface(*pid, *index, interface),
        Command::Adopt { helper, pid } => backend.adopt(*helper, *pid),
        Command::Reap { pid } => backend.reap(*pid),
        Command::ReapStrays { helper } => backend.reap_strays(*helper),
        Command::EnterCgroup { pid } => backend.enter_cgroup(*pid),
        Command::Send { bytes } => backend.send(bytes, deadline),
        Command::ShutdownWrite => backend.shutdown_write(),
        Command::Kill { pid } => backend.kill(*pid),
        Command::RemoveInterface { index, interface } => backend.remove_interface(*index, interface),
        Command::DestroyCgroup => backend.destroy_cgroup(),
        Command::Close => backend.close(),
    }
    .map(|()| None)
}
