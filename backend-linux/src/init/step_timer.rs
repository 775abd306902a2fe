//! The child's account of where its set-up time went: each step's duration
//! on the monotonic clock, sent with `ready` when the config asks
//! ([`Config::report_timings`](cradle_core::Config::report_timings)).

use std::time::Instant;

use cradle_core::{ChildStep, StepTime};

/// Times the set-up steps, each part from its start to the next one's.
#[derive(Debug)]
pub(super) struct StepTimer {
    enabled: bool,
    current: Option<(ChildStep, Instant)>,
    done: Vec<StepTime>,
}

impl StepTimer {
    /// A timer that records only when `enabled`: otherwise it reads no
    /// clock.
    pub(super) fn new(enabled: bool) -> StepTimer {
        StepTimer {
            enabled,
            current: None,
            done: Vec::new(),
        }
    }

    /// `step` begins now, and the step before it ends. The current step
    /// shown again goes on.
    pub(super) fn begin(&mut self, step: ChildStep) {
        if !self.enabled || self.current.is_some_and(|(current, _)| current == step) {
            return;
        }
        let now = Instant::now();
        self.end_current(now);
        self.current = Some((step, now));
    }

    /// Ends the last step; every step's whole duration, in the order the
    /// steps were first begun.
    pub(super) fn finish(mut self) -> Vec<StepTime> {
        if self.enabled {
            self.end_current(Instant::now());
        }
        self.done
    }

    /// Ends the current step. A step shown again later (the mounts, made
    /// before and after the rootfs is entered) adds to its first entry:
    /// the report names each step once, with all of its time.
    fn end_current(&mut self, now: Instant) {
        if let Some((step, began)) = self.current.take() {
            let nanos = u64::try_from(now.duration_since(began).as_nanos()).unwrap_or(u64::MAX);
            match self.done.iter_mut().find(|done| done.step == step) {
                Some(done) => done.nanos = done.nanos.saturating_add(nanos),
                None => self.done.push(StepTime { step, nanos }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_lasts_until_the_next_begins() {
        let mut timer = StepTimer::new(true);
        timer.begin(ChildStep::Mounts);
        std::thread::sleep(std::time::Duration::from_millis(2));
        timer.begin(ChildStep::Mounts);
        timer.begin(ChildStep::Seccomp);
        let timings = timer.finish();
        let steps: Vec<ChildStep> = timings.iter().map(|t| t.step).collect();
        assert_eq!(steps, [ChildStep::Mounts, ChildStep::Seccomp]);
        assert!(timings[0].nanos >= 2_000_000, "{timings:?}");
    }

    #[test]
    fn a_step_shown_again_later_adds_to_its_first_entry() {
        let mut timer = StepTimer::new(true);
        timer.begin(ChildStep::Mounts);
        std::thread::sleep(std::time::Duration::from_millis(2));
        timer.begin(ChildStep::Rootfs);
        timer.begin(ChildStep::Mounts);
        std::thread::sleep(std::time::Duration::from_millis(2));
        timer.begin(ChildStep::Devices);
        let timings = timer.finish();
        let steps: Vec<ChildStep> = timings.iter().map(|t| t.step).collect();
        assert_eq!(steps, [ChildStep::Mounts, ChildStep::Rootfs, ChildStep::Devices]);
        assert!(timings[0].nanos >= 4_000_000, "{timings:?}");
    }

    #[test]
    fn a_timer_not_asked_for_records_nothing() {
        let mut timer = StepTimer::new(false);
        timer.begin(ChildStep::Mounts);
        assert_eq!(timer.finish(), []);
    }
}
