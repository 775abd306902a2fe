//! A view's table: each row's median, p90 and CPU time per run, then the
//! ratios of medians against the baselines, each target marked met or
//! missed. A missed target is reported, never an error: this is a
//! measurement.

use std::time::Duration;

use crate::rows::{Row, RowId};
use crate::support::cgroups::View;
use crate::support::stats::{ms, ratio, Stats};

/// The most a launch may spend on confinement (capabilities, seccomp,
/// masked paths): `cradle run` against `cradle run --privileged`, in the
/// medians of wall time and in the mean CPU time.
const CONFINEMENT_TARGET: Duration = Duration::from_micros(300);

/// A ratio of medians, and its target where the issue sets one.
struct Check {
    num: RowId,
    den: RowId,
    /// At most this.
    target: Option<f64>,
}

/// The ratios of a view; the targets are issue 18's.
fn checks(view: View) -> Vec<Check> {
    let check = |num, den, target| Check { num, den, target };
    let against_crun = match view {
        View::V2Only => Some(0.4),
        View::V1Only => Some(0.6),
        View::Hybrid => None,
    };
    vec![
        check(
            RowId::CradleRun,
            RowId::Unshare,
            (view == View::V2Only).then_some(1.3),
        ),
        check(RowId::CradleRun, RowId::CrunRun, against_crun),
        check(RowId::CradleRun, RowId::RuncRun, None),
        check(RowId::CradleBundle, RowId::CrunRun, None),
        check(RowId::CradleBundle, RowId::RuncRun, None),
        check(RowId::CradleExec, RowId::Nsenter, Some(1.2)),
        check(RowId::CradleExec, RowId::CrunExec, None),
        check(RowId::CradleExec, RowId::RuncExec, None),
    ]
}

/// Prints the table and the ratios of `rows`.
pub(crate) fn print(view: View, rows: &[Row]) {
    let stats = |id: RowId| {
        rows.iter()
            .find(|row| row.id == id)
            .and_then(|row| Stats::of(&row.samples))
    };
    println!(
        "{:<28} {:>10} {:>10} {:>13} {:>8}",
        "row (ms, whole process)", "median", "p90", "CPU usr+sys", "samples"
    );
    for row in rows {
        match Stats::of(&row.samples) {
            Some(s) => println!(
                "{:<28} {:>10} {:>10} {:>13} {:>8}",
                row.id.label(),
                ms(s.median),
                ms(s.p90),
                ms(s.cpu),
                row.samples.len()
            ),
            None => println!("{:<28} {:>10}", row.id.label(), "skipped"),
        }
    }
    for row in rows {
        if let Some(reason) = &row.skipped {
            println!("  {}: skipped: {reason}", row.id.label());
        }
        for failure in &row.failures {
            println!(
                "  {}: a run failed (and was run again): {failure}",
                row.id.label()
            );
        }
    }
    println!();
    println!("{:<36} {:>9}   target", "ratio of medians (this run)", "value");
    for check in checks(view) {
        let label = format!("{} / {}", check.num.short(), check.den.short());
        let target = |value: f64| match check.target {
            Some(target) => format!(
                "<= {target:.2}x: {}",
                if value <= target { "met" } else { "MISSED" }
            ),
            None => "-".to_owned(),
        };
        match (stats(check.num), stats(check.den)) {
            (Some(num), Some(den)) => {
                let value = ratio(num.median, den.median);
                println!("{label:<36} {value:>8.2}x   {}", target(value));
            }
            _ => println!(
                "{label:<36} {:>9}   {}",
                "n/a",
                check.target.map_or("-".to_owned(), |t| format!(
                    "<= {t:.2}x: not measured (a row was skipped)"
                ))
            ),
        }
    }
    match (stats(RowId::CradleRun), stats(RowId::CradlePrivileged)) {
        (Some(confined), Some(privileged)) => {
            let wall = signed_ms(confined.median, privileged.median);
            let cpu = signed_ms(confined.cpu, privileged.cpu);
            // Both: on a busy machine the difference of wall medians is
            // noise (even negative), while the CPU time is not.
            let met = confined.median.saturating_sub(privileged.median) <= CONFINEMENT_TARGET
                && confined.cpu.saturating_sub(privileged.cpu) <= CONFINEMENT_TARGET;
            println!(
                "{:<36} {wall:>6} ms   <= {} ms, wall and CPU: {} (CPU {cpu} ms)",
                "confinement: run - run --privileged",
                ms(CONFINEMENT_TARGET),
                if met { "met" } else { "MISSED" }
            );
        }
        _ => println!("{:<36} {:>9}", "confinement: run - run --privileged", "n/a"),
    }
}

/// `a - b` in milliseconds, with its sign.
fn signed_ms(a: Duration, b: Duration) -> String {
    let diff = a.as_secs_f64() - b.as_secs_f64();
    format!("{:+.2}", diff * 1e3)
}
