//! The rows of a view's table: what each runs, as a whole process.

use std::path::PathBuf;
use std::process::Command;

use crate::support::sample::Sample;

/// One way of running `/bin/true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowId {
    /// `unshare --fork` of the namespaces cradle makes by default.
    Unshare,
    /// `cradle run --rootfs`, confined by default: what users run.
    CradleRun,
    /// The same with `--privileged`: confinement off.
    CradlePrivileged,
    /// `cradle run` of the OCI bundle.
    CradleBundle,
    /// `crun run` of the OCI bundle.
    CrunRun,
    /// `runc run` of the OCI bundle.
    RuncRun,
    /// `nsenter -a` into cradle's running container.
    Nsenter,
    /// `cradle exec` into cradle's running container.
    CradleExec,
    /// `crun exec` into crun's running container.
    CrunExec,
    /// `runc exec` into runc's running container.
    RuncExec,
}

impl RowId {
    pub(crate) const ALL: [RowId; 10] = [
        RowId::Unshare,
        RowId::CradleRun,
        RowId::CradlePrivileged,
        RowId::CradleBundle,
        RowId::CrunRun,
        RowId::RuncRun,
        RowId::Nsenter,
        RowId::CradleExec,
        RowId::CrunExec,
        RowId::RuncExec,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            RowId::Unshare => "unshare --fork (same ns)",
            RowId::CradleRun => "cradle run --rootfs",
            RowId::CradlePrivileged => "cradle run --privileged",
            RowId::CradleBundle => "cradle run (bundle)",
            RowId::CrunRun => "crun run (bundle)",
            RowId::RuncRun => "runc run (bundle)",
            RowId::Nsenter => "nsenter -t PID -a",
            RowId::CradleExec => "cradle exec",
            RowId::CrunExec => "crun exec",
            RowId::RuncExec => "runc exec",
        }
    }

    /// Its name in the ratios.
    pub(crate) fn short(self) -> &'static str {
        match self {
            RowId::Unshare => "unshare",
            RowId::CradleRun => "cradle run",
            RowId::CradlePrivileged => "cradle run --privileged",
            RowId::CradleBundle => "cradle (bundle)",
            RowId::CrunRun => "crun run",
            RowId::RuncRun => "runc run",
            RowId::Nsenter => "nsenter -a",
            RowId::CradleExec => "cradle exec",
            RowId::CrunExec => "crun exec",
            RowId::RuncExec => "runc exec",
        }
    }

    /// In the container ids of its runs.
    fn slug(self) -> &'static str {
        match self {
            RowId::Unshare => "unshare",
            RowId::CradleRun => "run",
            RowId::CradlePrivileged => "priv",
            RowId::CradleBundle => "bundle",
            RowId::CrunRun => "crun",
            RowId::RuncRun => "runc",
            RowId::Nsenter => "nsenter",
            RowId::CradleExec => "exec",
            RowId::CrunExec => "crun-exec",
            RowId::RuncExec => "runc-exec",
        }
    }
}

/// A runtime's program and the state directory of this run.
#[derive(Clone, Debug)]
pub(crate) struct Runtime {
    pub(crate) name: &'static str,
    pub(crate) program: PathBuf,
    pub(crate) state: PathBuf,
}

impl Runtime {
    /// `PROGRAM --root STATE`.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.arg("--root").arg(&self.state);
        command
    }
}

/// Everything the rows' commands name.
#[derive(Debug)]
pub(crate) struct Plan {
    /// In every container id of this run (`cv<pid>`).
    pub(crate) tag: String,
    pub(crate) rootfs: PathBuf,
    pub(crate) cradle: Runtime,
    pub(crate) crun: Runtime,
    pub(crate) runc: Runtime,
    /// Each runtime's bundle running `/bin/true`.
    pub(crate) run_bundles: [Option<PathBuf>; 3],
    /// The running container of each runtime, for the exec rows.
    pub(crate) exec_ids: [Option<String>; 3],
    /// The pid of cradle's running container's init, for `nsenter`.
    pub(crate) exec_pid: Option<u32>,
}

/// Index of a runtime in [`Plan::run_bundles`] and [`Plan::exec_ids`].
pub(crate) const CRADLE: usize = 0;
pub(crate) const CRUN: usize = 1;
pub(crate) const RUNC: usize = 2;

impl Plan {
    /// The container id of `row`'s run in `round`.
    pub(crate) fn id(&self, row: RowId, round: &str) -> String {
        format!("{}-{}-{round}", self.tag, row.slug())
    }

    /// The command of `row`'s run in `round`, or why the row cannot run.
    pub(crate) fn command(&self, row: RowId, round: &str) -> Result<Command, String> {
        let id = self.id(row, round);
        let missing = |what: &str| format!("no {what} to run it with (see above)");
        let bundle = |runtime: usize| {
            self.run_bundles[runtime]
                .as_ref()
                .ok_or_else(|| missing("bundle"))
        };
        let exec = |runtime: usize| {
            self.exec_ids[runtime]
                .as_ref()
                .ok_or_else(|| missing("running container"))
        };
        Ok(match row {
            RowId::Unshare => crate::support::unshare_true(),
            RowId::CradleRun | RowId::CradlePrivileged => {
                let mut command = self.cradle.command();
                command.args(["run", "--name", &id, "--rootfs"]).arg(&self.rootfs);
                if row == RowId::CradlePrivileged {
                    command.arg("--privileged");
                }
                command.args(["--", "/bin/true"]);
                command
            }
            RowId::CradleBundle | RowId::CrunRun | RowId::RuncRun => {
                let (runtime, index) = match row {
                    RowId::CradleBundle => (&self.cradle, CRADLE),
                    RowId::CrunRun => (&self.crun, CRUN),
                    _ => (&self.runc, RUNC),
                };
                let mut command = runtime.command();
                command.args(["run", "--bundle"]).arg(bundle(index)?).arg(&id);
                command
            }
            RowId::Nsenter => {
                let pid = self.exec_pid.ok_or_else(|| missing("running container"))?;
                crate::support::nsenter_true(pid)
            }
            RowId::CradleExec => {
                let mut command = self.cradle.command();
                command.args(["exec", exec(CRADLE)?, "--", "/bin/true"]);
                command
            }
            RowId::CrunExec | RowId::RuncExec => {
                let (runtime, index) = if row == RowId::CrunExec {
                    (&self.crun, CRUN)
                } else {
                    (&self.runc, RUNC)
                };
                let mut command = runtime.command();
                command.args(["exec", exec(index)?, "/bin/true"]);
                command
            }
        })
    }
}

/// A row's samples, and what went wrong with it.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) id: RowId,
    pub(crate) samples: Vec<Sample>,
    /// Runs that failed (each run again), with the runtime's message.
    pub(crate) failures: Vec<String>,
    /// Why the row is not (or no longer) run.
    pub(crate) skipped: Option<String>,
}

impl Row {
    pub(crate) fn new(id: RowId) -> Row {
        Row {
            id,
            samples: Vec::new(),
            failures: Vec::new(),
            skipped: None,
        }
    }
}
