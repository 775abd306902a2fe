//! The conformance scenarios over the simulated kernel.

use cradle_core::{driver, ChildStep, Launch, Plan};
use cradle_mock::{
    plans, At, Fault, Forgery, HelperPoint, Kernel, MockBackend, Options, ProcessPoint, SIGKILL,
};

use super::{init_plan, steps_walked, Outcome, Scenario, Shape, Trouble, Verdict, World};

/// The cgroup an init launch creates here.
const CGROUP: &str = "/conformance";

/// The veth's host end.
const HOST_VETH: &str = "conf0h";

/// The simulated world: a fresh kernel for each scenario.
#[derive(Debug, Default)]
pub struct MockWorld;

impl World for MockWorld {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn run(&mut self, scenario: &Scenario) -> Outcome {
        let mut kernel = Kernel::new();
        let plan = plan(scenario.shape, &kernel);
        match scenario.trouble {
            Trouble::CgroupInUse => kernel.make_cgroup(CGROUP).expect("the cgroup in use"),
            Trouble::InterfaceInUse => kernel
                .add_host_interface(HOST_VETH)
                .expect("the interface in use"),
            _ => {}
        }
        let options = Options {
            limits: plan.limits,
            cgroup: Some(CGROUP.to_owned()),
            ..Options::default()
        };
        let mut plan = plan;
        plan.config.report_timings = true;
        let mut launch = Launch::new(plan, kernel.now()).expect("a valid plan");
        let mut backend = MockBackend::new(kernel, options, fault(scenario.trouble));
        let result = match scenario.trouble {
            Trouble::KilledBefore(step) => {
                let mut killed = false;
                driver::drive_with(&mut launch, &mut backend, |launch, backend| {
                    if !killed && launch.step() == step {
                        if let Some(pid) = launch.pid() {
                            backend.kernel_mut().kill(pid).expect("kill the child");
                            killed = true;
                        }
                    }
                })
            }
            _ => driver::drive(&mut launch, &mut backend),
        };
        let mut leftovers = Vec::new();
        if !launch.is_finished() {
            leftovers.push("an unfinished launch".to_owned());
        }
        if result.is_err() {
            let left = backend.leftovers();
            if !left.is_empty() {
                leftovers.push(format!("{left:?}"));
            }
        }
        for failure in launch.cleanup_failures() {
            leftovers.push(format!("a failed cleanup: {failure:?}"));
        }
        if !backend.pending_faults().is_empty() {
            leftovers.push(format!(
                "faults that never struck: {:?}",
                backend.pending_faults()
            ));
        }
        Outcome {
            verdict: Verdict::of(&result),
            steps: steps_walked(launch.child_timings()),
            leftovers,
        }
    }
}

/// The plan of `shape` in `kernel`'s world.
fn plan(shape: Shape, kernel: &Kernel) -> Plan {
    match shape {
        Shape::Init | Shape::UserNs => init_plan(shape, "/rootfs".into(), HOST_VETH),
        Shape::Setns => {
            let mut plan = plans::setns(kernel.container());
            plan.config.args = vec!["/bin/true".to_owned()];
            plan
        }
    }
}

/// The mock's fault for `trouble`: what the simulated programs do where
/// Linux's would meet it.
fn fault(trouble: Trouble) -> Option<Fault> {
    let process = |step: ChildStep| match step {
        ChildStep::Exec => At::Process(ProcessPoint::Exec),
        step => At::Process(ProcessPoint::SetUp(step)),
    };
    let helper = |step: ChildStep| {
        At::Helper(match step {
            ChildStep::Cgroup => HelperPoint::JoinCgroups,
            ChildStep::Setns => HelperPoint::Join,
            ChildStep::Fork => HelperPoint::Fork,
            _ => HelperPoint::Report,
        })
    };
    let killed = cradle_core::ExitStatus::Signaled(SIGKILL);
    Some(match trouble {
        Trouble::KilledAt(step) => Fault::Die {
            at: process(step),
            status: killed,
        },
        Trouble::StallsAt(step) => Fault::Stall { at: process(step) },
        Trouble::GarbageAt(step) => Fault::Garbage { at: process(step) },
        Trouble::HelperKilledAt(step) => Fault::Die {
            at: helper(step),
            status: killed,
        },
        Trouble::HelperStallsAt(step) => Fault::Stall { at: helper(step) },
        Trouble::ForgedPid => Fault::ForgedPid(Forgery::Stranger),
        Trouble::MissingCwd => Fault::Refuse {
            at: process(ChildStep::Cwd),
            errno: libc::ENOENT,
        },
        Trouble::MissingRootfs => Fault::Refuse {
            at: At::Process(ProcessPoint::SetUp(ChildStep::Rootfs)),
            errno: libc::ENOENT,
        },
        Trouble::MissingCommand => Fault::Refuse {
            at: At::Process(ProcessPoint::SetUp(ChildStep::Exec)),
            errno: libc::ENOENT,
        },
        Trouble::None | Trouble::KilledBefore(_) | Trouble::CgroupInUse | Trouble::InterfaceInUse => {
            return None
        }
    })
}
