//! Mount options as `mount(8)` spells them, split into `mount(2)` flags,
//! propagation, and the filesystem's own data.

use nix::mount::MsFlags;

use crate::sys::MountChange;

/// One mount's options, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MountOptions {
    /// `MS_*` flags, `MS_BIND` and `MS_REC` included for (r)bind.
    pub(super) flags: MsFlags,
    /// The flags an option turned off (`rw`, `suid`, `exec`...) and no
    /// later one turned on again: a bind mount clears them on its copy.
    pub(super) cleared: MsFlags,
    /// A propagation change made after the mount, if any.
    pub(super) propagation: MsFlags,
    /// Mount attributes applied to the mount and every mount below it
    /// (`rro`, `rnosuid`, ...: the OCI runtime spec's recursive options).
    pub(super) recursive: MountChange,
    /// Everything else, in order, for the filesystem.
    pub(super) data: Vec<String>,
}

impl Default for MountOptions {
    fn default() -> MountOptions {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: MsFlags::empty(),
            recursive: MountChange::default(),
            data: Vec::new(),
        }
    }
}

impl MountOptions {
    /// A bind mount (`bind` or `rbind`).
    pub(super) fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// The `MOUNT_ATTR_*` bits of a new mount (for `fsmount`).
    pub(super) fn attributes(&self) -> u64 {
        attributes(self.flags) | atime_mode(self.flags).unwrap_or(libc::MOUNT_ATTR_RELATIME)
    }

    /// What a bind mount's copy changes: the flags set, those cleared, and
    /// the atime mode if an option names one.
    pub(super) fn bind_change(&self) -> MountChange {
        let mut change = MountChange {
            set: attributes(self.flags),
            clear: attributes(self.cleared),
            propagation: 0,
        };
        let atime = MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME | MsFlags::MS_RELATIME;
        if let Some(mode) = atime_mode(self.flags) {
            change.set |= mode;
            change.clear |= libc::MOUNT_ATTR__ATIME;
        } else if self.cleared.intersects(atime) {
            // `atime`, `norelatime`, `nostrictatime`: the kernel's default.
            change.clear |= libc::MOUNT_ATTR__ATIME;
        }
        change
    }

    /// The superblock flags of a new filesystem, as `fsconfig` names them.
    pub(super) fn superblock_flags(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            (MsFlags::MS_RDONLY, "ro"),
            (MsFlags::MS_SYNCHRONOUS, "sync"),
            (MsFlags::MS_DIRSYNC, "dirsync"),
            (MsFlags::MS_MANDLOCK, "mand"),
        ]
        .into_iter()
        .filter(|(flag, _)| self.flags.contains(*flag))
        .map(|(_, name)| name)
    }

    /// The propagation change for `mount_setattr`, and whether it covers
    /// the mounts below; `None` if the options ask for none.
    pub(super) fn propagation_change(&self) -> Option<(MountChange, bool)> {
        let recursive = self.propagation.contains(MsFlags::MS_REC);
        let kind = self.propagation - MsFlags::MS_REC;
        (!kind.is_empty()).then(|| {
            let change = MountChange {
                propagation: kind.bits(),
                ..MountChange::default()
            };
            (change, recursive)
        })
    }
}

/// The `MOUNT_ATTR_*` bits of `flags`, but the atime mode.
fn attributes(flags: MsFlags) -> u64 {
    [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
    ]
    .into_iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .fold(0, |bits, (_, attribute)| bits | attribute)
}

/// The atime mode `flags` ask for, if any (`noatime` wins over
/// `strictatime`, which wins over `relatime`, as in the kernel).
fn atime_mode(flags: MsFlags) -> Option<u64> {
    if flags.contains(MsFlags::MS_NOATIME) {
        Some(libc::MOUNT_ATTR_NOATIME)
    } else if flags.contains(MsFlags::MS_STRICTATIME) {
        Some(libc::MOUNT_ATTR_STRICTATIME)
    } else if flags.contains(MsFlags::MS_RELATIME) {
        Some(libc::MOUNT_ATTR_RELATIME)
    } else {
        None
    }
}

/// Parses `options`; later options override earlier ones (`ro` then `rw`
/// is read-write), and unknown ones go to the filesystem as data.
pub(super) fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut parsed = MountOptions::default();
    for option in options {
        let option = option.as_ref();
        if let Some(propagation) = propagation(option) {
            parsed.propagation = propagation;
        } else if let Some((set, flag)) = flag(option) {
            parsed.flags.set(flag, set);
            parsed.cleared.set(flag, !set);
        } else if let Some(mode) = recursive_atime(option) {
            parsed.recursive.set = (parsed.recursive.set & !libc::MOUNT_ATTR__ATIME) | mode;
            parsed.recursive.clear |= libc::MOUNT_ATTR__ATIME;
        } else if let Some((set, attribute)) = recursive_attribute(option) {
            let (to, from) = if set {
                (&mut parsed.recursive.set, &mut parsed.recursive.clear)
            } else {
                (&mut parsed.recursive.clear, &mut parsed.recursive.set)
            };
            *to |= attribute;
            *from &= !attribute;
        } else if !option.is_empty() {
            parsed.data.push(option.to_owned());
        }
    }
    parsed
}

/// `(true, attribute)` for a recursive option that sets a mount attribute
/// (`rro`), `(false, attribute)` for one that clears it (`rrw`).
fn recursive_attribute(option: &str) -> Option<(bool, u64)> {
    Some(match option {
        "rro" => (true, libc::MOUNT_ATTR_RDONLY),
        "rrw" => (false, libc::MOUNT_ATTR_RDONLY),
        "rnosuid" => (true, libc::MOUNT_ATTR_NOSUID),
        "rsuid" => (false, libc::MOUNT_ATTR_NOSUID),
        "rnodev" => (true, libc::MOUNT_ATTR_NODEV),
        "rdev" => (false, libc::MOUNT_ATTR_NODEV),
        "rnoexec" => (true, libc::MOUNT_ATTR_NOEXEC),
        "rexec" => (false, libc::MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (true, libc::MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (false, libc::MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => (true, libc::MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (false, libc::MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// `(true, flag)` for an option that sets `flag`, `(false, flag)` for one
/// that clears it.
fn flag(option: &str) -> Option<(bool, MsFlags)> {
    Some(match option {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "atime" => (false, MsFlags::MS_NOATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "bind" => (true, MsFlags::MS_BIND),
        "rbind" => (true, MsFlags::MS_BIND | MsFlags::MS_REC),
        _ => return None,
    })
}

/// The atime mode a recursive atime option sets (`ratime` and the other
/// negations fall back to the kernel's default, relatime).
fn recursive_atime(option: &str) -> Option<u64> {
    Some(match option {
        "rnoatime" => libc::MOUNT_ATTR_NOATIME,
        "rstrictatime" => libc::MOUNT_ATTR_STRICTATIME,
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => libc::MOUNT_ATTR_RELATIME,
        _ => return None,
    })
}

/// The propagation flags `option` names (`rslave`: `MS_SLAVE | MS_REC`).
pub(super) fn propagation(option: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_propagation_and_data_are_split() {
        let parsed = parse(&["nosuid", "rbind", "ro", "rslave", "size=64k", "mode=755"]);
        assert_eq!(
            parsed.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(parsed.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(parsed.data, ["size=64k", "mode=755"]);
        assert!(parsed.is_bind());
    }

    #[test]
    fn mount_attributes_follow_the_flags() {
        let parsed = parse(&["nosuid", "nodev", "ro", "strictatime"]);
        let expected = libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NODEV
            | libc::MOUNT_ATTR_RDONLY
            | libc::MOUNT_ATTR_STRICTATIME;
        assert_eq!(parsed.attributes(), expected);
        assert_eq!(parsed.superblock_flags().collect::<Vec<_>>(), ["ro"]);
        // A bind's copy sets the atime mode, clearing the field first.
        let change = parsed.bind_change();
        assert_eq!(change.set, expected);
        assert_eq!(change.clear, libc::MOUNT_ATTR__ATIME);
        // `rw` clears what the source had.
        let change = parse(&["rbind", "ro", "rw", "exec"]).bind_change();
        assert_eq!(change.set, 0);
        assert_eq!(change.clear, libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC);
    }

    #[test]
    fn recursive_options_and_propagation() {
        let parsed = parse(&["rro", "rnosuid", "rsuid", "rnoatime", "rshared"]);
        assert_eq!(
            parsed.recursive.set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOATIME
        );
        assert_eq!(
            parsed.recursive.clear,
            libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR__ATIME
        );
        assert!(parsed.data.is_empty());
        let (change, recursive) = parsed.propagation_change().expect("a propagation");
        assert_eq!(change.propagation, MsFlags::MS_SHARED.bits());
        assert!(recursive);
        assert_eq!(
            parse(&["private"]).propagation_change().map(|(_, r)| r),
            Some(false)
        );
        assert_eq!(parse(&["ro"]).propagation_change(), None);
    }

    #[test]
    fn later_options_win() {
        assert_eq!(parse(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(parse(&["noexec", "exec", "noexec"]).flags, MsFlags::MS_NOEXEC);
    }

    #[test]
    fn nothing_is_nothing() {
        let none: [&str; 0] = [];
        assert_eq!(parse(&none), MountOptions::default());
        assert!(parse(&["", ""]).data.is_empty());
        assert!(!parse(&["ro"]).is_bind());
    }
}
