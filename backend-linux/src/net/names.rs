//! Interface names: the kernel's rules, and the names cradle picks itself.

use std::sync::atomic::{AtomicU32, Ordering};

use cradle_core::Pid;

use super::error::NetError;

/// `IFNAMSIZ` less the terminating NUL.
pub const MAX_NAME_LEN: usize = 15;

/// Checks `name` against the kernel's `dev_valid_name`, and refuses `%`:
/// the kernel would expand `%d` to a number of its choosing, and cradle
/// must know the name it created to remove it.
pub fn check_name(name: &str) -> Result<(), NetError> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > MAX_NAME_LEN {
        "longer than 15 bytes"
    } else if name == "." || name == ".." {
        "a path component"
    } else if name
        .chars()
        .any(|c| matches!(c, '/' | ':' | '%' | '\0') || c.is_ascii_whitespace())
    {
        "contains '/', ':', '%', NUL or whitespace"
    } else {
        return Ok(());
    };
    Err(NetError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// The default host-end name of a container's `index`th interface:
/// `veth<pid>.<index>`, where `child` is the container's init process as
/// the host sees it.
///
/// It cannot collide with another container's: a pid names one live
/// process, the container's init keeps its pid for as long as the
/// container runs, and the host end goes when the container does (cradle
/// removes it, and the kernel deletes the pair with the container's
/// network namespace). It fails only when the name would exceed 15 bytes
/// (an index of 1000 or more with a 7-digit pid).
pub fn host_name(child: Pid, index: usize) -> Result<String, NetError> {
    let name = format!("veth{child}.{index}");
    check_name(&name)?;
    Ok(name)
}

/// Distinguishes the temporary peer names one process hands out.
static PEER_SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// A name for a veth peer between its creation in the container's network
/// namespace and the child's rename of it: `crt<pid>.<n>`, both in hex,
/// from this process's pid and a per-process sequence number.
///
/// It cannot collide with another temporary peer: the peer only lives
/// under this name within one launch (the child renames it, or the failed
/// launch deletes the pair), no two live launchers share a pid, and one
/// launcher's sequence repeats only after 2^20 names, long after the
/// launch that used the earlier one has ended. In the usual new network
/// namespace there is nothing else to collide with at all.
pub fn temp_peer_name() -> String {
    temp_peer_name_for(std::process::id(), PEER_SEQUENCE.fetch_add(1, Ordering::Relaxed))
}

/// Linux pids stay below 2^22 (`PID_MAX_LIMIT`): six hex digits.
const PID_MASK: u32 = (1 << 22) - 1;
/// Five hex digits are left for the sequence.
const SEQUENCE_MASK: u32 = (1 << 20) - 1;

fn temp_peer_name_for(pid: u32, sequence: u32) -> String {
    format!("crt{:x}.{:x}", pid & PID_MASK, sequence & SEQUENCE_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_rules() {
        for good in ["eth0", "lo", "veth12345.0", "a", "abcdefghijklmno"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\tb",
            "eth%d",
            "abcdefghijklmnop",
            "a\0",
        ] {
            assert!(
                matches!(check_name(bad), Err(NetError::InvalidName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn host_names_fit_or_fail() {
        let largest_pid = Pid::new(4_194_303).unwrap();
        assert_eq!(host_name(largest_pid, 999).unwrap(), "veth4194303.999");
        assert!(matches!(
            host_name(largest_pid, 1000),
            Err(NetError::InvalidName { .. })
        ));
        assert_eq!(host_name(Pid::new(42).unwrap(), 3).unwrap(), "veth42.3");
    }

    #[test]
    fn temp_peer_names_fit_whatever_the_inputs() {
        assert_eq!(temp_peer_name_for(0x3f_ffff, 0xf_ffff), "crt3fffff.fffff");
        assert_eq!(temp_peer_name_for(u32::MAX, u32::MAX).len(), MAX_NAME_LEN);
        assert_eq!(temp_peer_name_for(1, 0), "crt1.0");
        check_name(&temp_peer_name()).unwrap();
    }

    #[test]
    fn temp_peer_names_differ_within_a_process() {
        let first = temp_peer_name();
        let second = temp_peer_name();
        assert_ne!(first, second);
        assert!(first.starts_with(&format!("crt{:x}.", std::process::id())));
    }
}
