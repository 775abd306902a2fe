//! The backend's clock: `CLOCK_MONOTONIC`, as the core's [`Time`].

use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, ClockId};

use cradle_core::Time;

/// Now on `CLOCK_MONOTONIC`.
pub fn now() -> Time {
    // CLOCK_MONOTONIC cannot fail on Linux; the epoch stands in if it ever
    // did, which only makes the next deadline come sooner.
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(Time::ZERO, |ts| {
        let nanos = u64::try_from(Duration::from(ts).as_nanos()).unwrap_or(u64::MAX);
        Time::from_nanos(nanos)
    })
}

/// How long from now until `deadline` (zero once it has passed), as a
/// `ppoll` timeout; `None` waits without a bound.
pub(crate) fn timeout_until(deadline: Option<Time>) -> Option<TimeSpec> {
    deadline.map(|deadline| TimeSpec::from_duration(deadline.saturating_since(now())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward() {
        let before = now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(now().saturating_since(before) >= Duration::from_millis(2));
    }

    #[test]
    fn a_past_deadline_is_a_zero_timeout() {
        let timeout = timeout_until(Some(Time::ZERO)).map(Duration::from);
        assert_eq!(timeout, Some(Duration::ZERO));
        assert_eq!(timeout_until(None), None);
    }
}
