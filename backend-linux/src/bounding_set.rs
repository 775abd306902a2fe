//! The calling thread's capability bounding set, which a launcher checks a
//! container's capabilities against before anything of it exists: no
//! process it starts can hold a capability outside it.

use cradle_core::Capability;
use nix::errno::Errno;

use crate::error::Error;
use crate::sys;

/// Whether `cap` is in the calling thread's bounding set; false for one
/// this kernel does not know. One `prctl` each: cheaper than
/// `/proc/self/status`, which the kernel builds whole for every read
/// (tens of microseconds).
pub fn holds(cap: Capability) -> Result<bool, Error> {
    match sys::capbset_read(cap.number()) {
        Err(Errno::EINVAL) => Ok(false),
        read => read.map_err(Error::syscall("prctl(PR_CAPBSET_READ)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers agree with `CapBnd` in `/proc/self/status`.
    #[test]
    fn agrees_with_proc_status() {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix("CapBnd:"))
            .expect("CapBnd");
        let mask = u64::from_str_radix(line.trim(), 16).expect("hex");
        for &cap in Capability::ALL {
            let listed = mask & (1u64 << cap.number()) != 0;
            assert_eq!(holds(cap).expect("PR_CAPBSET_READ"), listed, "{cap}");
        }
    }
}
