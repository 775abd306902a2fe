//! Telling the processes a setns helper forked from the parent's other
//! children, zombies included.
//!
//! The helper's fork is the parent's child (`CLONE_PARENT`), so the parent
//! and the start time alone cannot tell it from a process another launch,
//! or the caller, started at the same moment. The helper names itself
//! [`helper_name`] before it forks, and a fork inherits the name: until the
//! process `exec`s (which it does only after the parent adopted it), its
//! name says which helper made it.

use cradle_core::Pid;

use crate::proc_stat::Stat;

/// The name (`comm`) a setns helper gives itself before it forks. `comm`
/// holds 15 bytes: "cradle:" and the largest pid (4194304) take 14.
pub(crate) fn helper_name(helper: Pid) -> String {
    format!("cradle:{helper}")
}

/// Whether the process `stat` describes was forked by `helper`, which
/// started at `helper_started` and is not reaped (so that no other process
/// has had its pid since): why not, if it was not.
pub(crate) fn forked_by(stat: &Stat, helper: Pid, helper_started: u64) -> Result<(), &'static str> {
    if i64::from(stat.parent) != i64::from(std::process::id()) {
        return Err("not a child of this process");
    }
    if stat.start_time < helper_started {
        return Err("older than the helper");
    }
    if stat.name != helper_name(helper).as_bytes() {
        return Err("not named by the helper");
    }
    Ok(())
}

/// Children for tests: a process that names itself, as a helper's fork is
/// named.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use cradle_core::Pid;

    /// A child of ours called `name`, waiting on its stdin (so it ends
    /// when the `Child` is dropped, even after a failed test).
    pub(crate) fn named_child(name: &str) -> (Child, Pid) {
        let child = Command::new("sh")
            .args(["-c", r#"printf %s "$0" > /proc/self/comm; read line"#, name])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = Pid::new(i32::try_from(child.id()).expect("pid")).expect("pid");
        let comm = format!("/proc/{pid}/comm");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&comm).map_or(true, |n| n.trim_end() != name) {
            assert!(Instant::now() < deadline, "{pid} did not name itself {name}");
            std::thread::sleep(Duration::from_millis(1));
        }
        (child, pid)
    }

    /// A child of ours that sleeps, under its own name.
    pub(crate) fn sleeper() -> (Child, Pid) {
        let child = Command::new("sleep").arg("10").spawn().expect("spawn sleep");
        let pid = Pid::new(i32::try_from(child.id()).expect("pid")).expect("pid");
        (child, pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(name: &str, parent: u32, start_time: u64) -> Stat {
        Stat {
            name: name.as_bytes().to_vec(),
            parent: i32::try_from(parent).expect("pid"),
            start_time,
        }
    }

    #[test]
    fn the_longest_name_fits_in_comm() {
        let largest = Pid::new(4_194_304).expect("PID_MAX_LIMIT");
        assert!(helper_name(largest).len() <= 15);
    }

    #[test]
    fn a_fork_is_our_child_no_older_than_the_helper_and_named_by_it() {
        let helper = Pid::new(4242).expect("pid");
        let me = std::process::id();
        assert_eq!(forked_by(&stat("cradle:4242", me, 100), helper, 100), Ok(()));
        assert_eq!(forked_by(&stat("cradle:4242", me, 101), helper, 100), Ok(()));
        for (other, reason) in [
            (stat("cradle:4242", 1, 100), "not a child of this process"),
            (stat("cradle:4242", me, 99), "older than the helper"),
            (stat("cradle:424", me, 100), "not named by the helper"),
            (stat("sh", me, 100), "not named by the helper"),
        ] {
            assert_eq!(forked_by(&other, helper, 100), Err(reason), "{other:?}");
        }
    }
}
