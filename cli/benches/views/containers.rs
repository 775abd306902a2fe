//! The bundles and running containers a view's rows need, and their
//! removal at the end, also when the benchmark fails or is interrupted.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rows::{Plan, Runtime, CRADLE, CRUN, RUNC};
use crate::support::bundle::Spec;
use crate::support::cgroups;
use crate::support::container;
use crate::support::error::BenchError;
use crate::support::sample::{output, timed, ErrorLog};

/// What this run made that outlives a row's run: the running containers
/// and the cgroups the runtimes leave. [`Cleanup::finish`] removes them;
/// dropped unfinished (an error, a panic), it does so itself.
#[derive(Debug)]
pub(crate) struct Cleanup {
    containers: Vec<(Runtime, String)>,
    states: Vec<PathBuf>,
    own_dirs: Vec<PathBuf>,
    /// The cgroup below this process's own that runc's, crun's and
    /// cradle's bundles name as their parent.
    cgroup_parent: String,
    /// The start of the cgroups of cradle's shell-form runs (`cradle-<id>`).
    cradle_cgroups: String,
    finished: bool,
}

impl Cleanup {
    pub(crate) fn new(tag: &str, cgroup_parent: &str, states: Vec<PathBuf>) -> Result<Cleanup, BenchError> {
        Ok(Cleanup {
            containers: Vec::new(),
            states,
            own_dirs: cgroups::own_dirs()?,
            cgroup_parent: cgroup_parent.to_owned(),
            cradle_cgroups: format!("cradle-{tag}-"),
            finished: false,
        })
    }

    /// Deletes the running containers, then removes the cgroups of this
    /// run; returns what a runtime left behind (nothing, normally).
    pub(crate) fn finish(&mut self) -> Vec<String> {
        self.finished = true;
        let mut left = Vec::new();
        for (runtime, id) in self.containers.drain(..) {
            let mut delete = runtime.command();
            delete.args(["delete", "--force", &id]);
            if let Err(error) = output(&mut delete) {
                left.push(format!("{}: {id}: {error}", runtime.name));
            }
        }
        for state in &self.states {
            let entries = fs::read_dir(state).into_iter().flatten().flatten();
            for entry in entries {
                let name = entry.file_name().to_string_lossy().into_owned();
                // cradle's seccomp cache is kept on purpose.
                if !name.starts_with('.') {
                    left.push(format!("state left: {}", entry.path().display()));
                }
            }
        }
        for dir in &self.own_dirs {
            let cradle_runs = subdirs(dir).filter(|path| {
                path.file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with(&self.cradle_cgroups))
            });
            for path in subdirs(&dir.join(&self.cgroup_parent)).chain(cradle_runs) {
                left.push(format!("cgroup left: {}", path.display()));
            }
        }
        let (parent, cradle_cgroups) = (&self.cgroup_parent, &self.cradle_cgroups);
        left.extend(cgroups::sweep(&self.own_dirs, |name| {
            name == parent || name.starts_with(cradle_cgroups)
        }));
        left
    }
}

/// The directories in `dir`.
fn subdirs(dir: &Path) -> impl Iterator<Item = PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.finished {
            for line in self.finish() {
                eprintln!("bench views: cleanup: {line}");
            }
        }
    }
}

/// The bundles of the three runtimes (one config, each its own cgroup)
/// and a running container of each, written into `plan`; what could not
/// be made is printed and left `None`, and its rows are skipped.
pub(crate) fn prepare(
    dir: &Path,
    plan: &mut Plan,
    cleanup: &mut Cleanup,
    errors: &mut ErrorLog,
) -> Result<(), BenchError> {
    let spec = match Spec::generate(&dir.join("spec"), &plan.rootfs) {
        Ok(spec) => spec,
        Err(error) => {
            println!("bundle: none ({error}): the bundle and runc/crun rows are skipped");
            start_cradle_container(plan, cleanup, errors);
            return Ok(());
        }
    };
    let parent = cleanup.cgroup_parent.clone();
    let bundle = |spec: &Spec, runtime: &Runtime, purpose: &str, args: &[&str]| {
        spec.write(
            &dir.join(format!("bundle-{}-{purpose}", runtime.name)),
            args,
            &format!("{parent}/{}-{purpose}", runtime.name),
        )
    };
    // crun first: where it refuses the device rules, all three run
    // without them (one config for all).
    let mut spec = spec;
    let crun_bundle = bundle(&spec, &plan.crun, "run", &["/bin/true"])?;
    let probe = |bundle: &Path, errors: &mut ErrorLog| {
        let mut run = plan.crun.command();
        run.args(["run", "--bundle"])
            .arg(bundle)
            .arg(plan.id(crate::rows::RowId::CrunRun, "probe"));
        timed(&mut run, errors)
    };
    let crun_works = match probe(&crun_bundle, errors) {
        Ok(_) => Ok(()),
        Err(error) if spec.has_device_rules() => {
            let reduced = spec.without_device_rules(format!(
                "without linux.resources.devices, for all three runtimes: crun failed with them: {error}"
            ));
            let crun_bundle = bundle(&reduced, &plan.crun, "run", &["/bin/true"])?;
            match probe(&crun_bundle, errors) {
                Ok(_) => {
                    spec = reduced;
                    Ok(())
                }
                Err(_) => Err(error),
            }
        }
        Err(error) => Err(error),
    };
    for note in &spec.notes {
        println!("bundle: {note}");
    }
    println!("bundle: each runtime's own cgroupsPath, {parent}/<runtime>-run, below its own cgroup");
    if let Err(error) = &crun_works {
        println!("crun run: skipped: {error}");
    }
    for (index, runtime) in [(CRADLE, &plan.cradle), (CRUN, &plan.crun), (RUNC, &plan.runc)] {
        let works = index != CRUN || crun_works.is_ok();
        if works {
            plan.run_bundles[index] = Some(bundle(&spec, runtime, "run", &["/bin/true"])?);
        }
    }
    start_cradle_container(plan, cleanup, errors);
    for (index, runtime) in [(CRUN, plan.crun.clone()), (RUNC, plan.runc.clone())] {
        if index == CRUN && crun_works.is_err() {
            continue;
        }
        let exec_bundle = bundle(&spec, &runtime, "exec", &container::SLEEP)?;
        let id = format!("{}-{}-exec", plan.tag, runtime.name);
        cleanup.containers.push((runtime.clone(), id.clone()));
        let mut run = runtime.command();
        run.args(["run", "--detach", "--bundle"])
            .arg(&exec_bundle)
            .arg(&id);
        match timed(&mut run, errors) {
            Ok(_) => plan.exec_ids[index] = Some(id),
            Err(error) => println!(
                "{} exec: skipped: its container did not start: {error}",
                runtime.name
            ),
        }
    }
    Ok(())
}

/// `cradle run -d` of `sleep` in the busybox rootfs, and its init's pid.
fn start_cradle_container(plan: &mut Plan, cleanup: &mut Cleanup, errors: &mut ErrorLog) {
    let id = format!("{}-exec", plan.tag);
    cleanup.containers.push((plan.cradle.clone(), id.clone()));
    match container::start_sleeping(|| plan.cradle.command(), &id, &plan.rootfs, errors) {
        Ok(pid) => {
            plan.exec_ids[CRADLE] = Some(id);
            plan.exec_pid = Some(pid);
        }
        Err(error) => println!("cradle exec, nsenter: skipped: cradle's container did not start: {error}"),
    }
}

/// Whether `program --version` runs: the runtime is installed.
pub(crate) fn installed(program: &Path) -> Result<String, BenchError> {
    output(Command::new(program).arg("--version")).map(|text| text.lines().next().unwrap_or("").to_owned())
}
