//! Mount options as `mount(8)` spells them, split into `mount(2)` flags,
//! propagation, and the filesystem's own data.

use nix::mount::MsFlags;

/// One mount's options, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MountOptions {
    /// `MS_*` flags, `MS_BIND` and `MS_REC` included for (r)bind.
    pub(super) flags: MsFlags,
    /// A propagation change made after the mount, if any.
    pub(super) propagation: MsFlags,
    /// Everything else, comma-joined, for the filesystem.
    pub(super) data: String,
}

impl Default for MountOptions {
    fn default() -> MountOptions {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: MsFlags::empty(),
            data: String::new(),
        }
    }
}

impl MountOptions {
    /// A bind mount (`bind` or `rbind`).
    pub(super) fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// The flags a bind mount needs a remount for: the first pass of a
    /// bind mount ignores all but `MS_BIND` and `MS_REC`.
    pub(super) fn remount_flags(&self) -> MsFlags {
        self.flags - (MsFlags::MS_BIND | MsFlags::MS_REC)
    }
}

/// Parses `options`; later options override earlier ones (`ro` then `rw`
/// is read-write), and unknown ones go to the filesystem as data.
pub(super) fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut parsed = MountOptions::default();
    let mut data = Vec::new();
    for option in options {
        let option = option.as_ref();
        if let Some(propagation) = propagation(option) {
            parsed.propagation = propagation;
        } else if let Some((set, flag)) = flag(option) {
            parsed.flags.set(flag, set);
        } else if !option.is_empty() {
            data.push(option);
        }
    }
    parsed.data = data.join(",");
    parsed
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

fn propagation(option: &str) -> Option<MsFlags> {
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
        assert_eq!(parsed.data, "size=64k,mode=755");
        assert!(parsed.is_bind());
        assert_eq!(parsed.remount_flags(), MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
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
        assert_eq!(parse(&["", ""]).data, "");
        assert!(!parse(&["ro"]).is_bind());
    }
}
