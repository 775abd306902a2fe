//! Median, p90 and mean CPU of a row's samples, and how they are printed.

use std::time::Duration;

use super::sample::Sample;

/// What a row's samples come to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stats {
    pub(crate) median: Duration,
    /// Nearest rank.
    pub(crate) p90: Duration,
    /// Mean user+sys CPU per run.
    pub(crate) cpu: Duration,
}

impl Stats {
    /// `None` for no samples.
    pub(crate) fn of(samples: &[Sample]) -> Option<Stats> {
        let mut wall: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
        wall.sort_unstable();
        let n = wall.len();
        let count = u32::try_from(n).ok().filter(|&n| n > 0)?;
        let median = if n % 2 == 1 {
            wall[n / 2]
        } else {
            (wall[n / 2 - 1] + wall[n / 2]) / 2
        };
        Some(Stats {
            median,
            p90: wall[(n * 9).div_ceil(10) - 1],
            cpu: samples.iter().map(|s| s.cpu).sum::<Duration>() / count,
        })
    }
}

/// Milliseconds with two decimals.
pub(crate) fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1e3)
}

/// `a / b`.
pub(crate) fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
