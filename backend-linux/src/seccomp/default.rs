//! The default profile: the policy of podman's and docker's default
//! `seccomp.json`, written here as tables for x86-64 (names that exist
//! only on 32-bit or other architectures are left out).
//!
//! What a syscall no rule names gets is `ENOSYS`, as in podman's profile:
//! a syscall newer than this table (or than the libseccomp that compiles
//! it) fails safe, and the C library falls back to an older one where it
//! has one (`fchmodat2`, `clone3`). What the profile refuses on purpose
//! gets `EPERM`. Widened by capability as podman and docker widen theirs: a
//! syscall that needs a capability is allowed when the container is given
//! it.
//!
//! Where it differs from docker's (moby's) profile:
//! - `ptrace`, `process_vm_readv` and `process_vm_writev` need
//!   `CAP_SYS_PTRACE` even on kernels from 4.8 on (moby allows them there);
//! - `pivot_root` is allowed with `CAP_SYS_ADMIN` (moby never allows it);
//! - `io_uring_*` are refused, as in moby since 25.0 (its operations are
//!   not seen by seccomp);
//! - only x86-64 syscalls: the i386 and x32 ABIs are not in the filter,
//!   so their syscalls kill the process (libseccomp's bad-arch action, set
//!   by [`compile`](super::compile)).

use std::collections::BTreeSet;

use cradle_core::confinement::Capability;

use super::policy::{Action, Arch, ArgCondition, ArgOp, Policy, Rule};

/// Files, directories, descriptors, and their data.
const FILES: &[&str] = &[
    "access",
    "faccessat",
    "faccessat2",
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "flock",
    "ioctl",
    "read",
    "readv",
    "pread64",
    "preadv",
    "preadv2",
    "write",
    "writev",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "lseek",
    "readahead",
    "fadvise64",
    "fallocate",
    "ftruncate",
    "truncate",
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
    "sendfile",
    "splice",
    "tee",
    "vmsplice",
    "copy_file_range",
    "cachestat",
    // Metadata.
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "fchownat",
    "lchown",
    "umask",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    // Names.
    "chdir",
    "fchdir",
    "getcwd",
    "getdents",
    "getdents64",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "rmdir",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "readlink",
    "readlinkat",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    // Handles: only making one; opening one needs CAP_DAC_READ_SEARCH.
    "name_to_handle_at",
    // Extended attributes.
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    // Watching files: inotify, and fanotify marks (fanotify_init needs
    // CAP_SYS_ADMIN).
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "fanotify_mark",
];

/// Waiting on descriptors, and descriptors to wait on.
const EVENTS: &[&str] = &[
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_wait",
    "epoll_wait_old",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "pipe",
    "pipe2",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
];

/// POSIX asynchronous I/O (`io_setup`...). `io_uring_*` are not here: moby
/// and podman refuse them, since the ring's operations bypass seccomp.
const AIO: &[&str] = &[
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "io_getevents",
    "io_pgetevents",
];

/// The process's own memory.
const MEMORY: &[&str] = &[
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mincore",
    "msync",
    "remap_file_pages",
    "mlock",
    "mlock2",
    "mlockall",
    "munlock",
    "munlockall",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "map_shadow_stack",
];

/// Processes and threads: creating (plain `fork`/`vfork`; `clone` and
/// `clone3` have rules of their own), running, waiting, limits.
const PROCESSES: &[&str] = &[
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "getpid",
    "getppid",
    "gettid",
    "getpgid",
    "getpgrp",
    "setpgid",
    "getsid",
    "setsid",
    "set_tid_address",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "restart_syscall",
    "futex",
    "futex_waitv",
    "futex_wait",
    "futex_wake",
    "futex_requeue",
    "arch_prctl",
    "modify_ldt",
    "get_thread_area",
    "set_thread_area",
    "prctl",
    "seccomp",
    "capget",
    "capset",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "getrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "getpriority",
    "setpriority",
    "ioprio_get",
    "ioprio_set",
    "pidfd_open",
    "pidfd_send_signal",
    "process_mrelease",
    "uname",
    "sysinfo",
    "getcpu",
    "getrandom",
];

/// Scheduling of the process's own threads (the kernel checks
/// `CAP_SYS_NICE` where it matters).
const SCHEDULING: &[&str] = &[
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getattr",
    "sched_setattr",
    "sched_getparam",
    "sched_setparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
];

/// User and group ids (the kernel checks `CAP_SETUID`/`CAP_SETGID`).
const IDS: &[&str] = &[
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
];

/// Signals.
const SIGNALS: &[&str] = &[
    "kill",
    "tkill",
    "tgkill",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigpending",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "rt_sigreturn",
    "sigaltstack",
    "pause",
    "alarm",
];

/// Reading clocks, sleeping, timers. `adjtimex` and `clock_adjtime` read
/// the clock's state too; setting it needs `CAP_SYS_TIME`, which the
/// kernel checks (moby allows both).
const TIME: &[&str] = &[
    "time",
    "gettimeofday",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "times",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_delete",
    "timer_gettime",
    "timer_settime",
    "timer_getoverrun",
    "adjtimex",
    "clock_adjtime",
];

/// Sockets, once made (`socket` has a rule of its own).
const SOCKETS: &[&str] = &[
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "shutdown",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
];

/// System V and POSIX IPC (in the container's IPC namespace).
const IPC: &[&str] = &[
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
];

/// Syscalls allowed when the process holds any of the capabilities.
const BY_CAPABILITY: &[(&[Capability], &[&str])] = &[
    // Mounts, namespaces, and the rest of CAP_SYS_ADMIN's reach. `clone`
    // and `clone3` with namespace flags are allowed by the same capability
    // (see `default_policy`).
    (
        &[Capability::SysAdmin],
        &[
            "mount",
            "umount2",
            "pivot_root",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "setns",
            "unshare",
            "sethostname",
            "setdomainname",
            "quotactl",
            "quotactl_fd",
            "lookup_dcookie",
            "fanotify_init",
        ],
    ),
    (&[Capability::SysAdmin, Capability::Bpf], &["bpf"]),
    (&[Capability::SysAdmin, Capability::Perfmon], &["perf_event_open"]),
    (&[Capability::SysAdmin, Capability::Syslog], &["syslog"]),
    (&[Capability::SysChroot], &["chroot"]),
    (
        &[Capability::SysModule],
        &["init_module", "finit_module", "delete_module"],
    ),
    // kexec_load and kexec_file_load are never allowed, as in moby.
    (&[Capability::SysBoot], &["reboot"]),
    (&[Capability::SysTime], &["settimeofday", "clock_settime"]),
    (
        &[Capability::SysPtrace],
        &[
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "process_madvise",
            "kcmp",
            "pidfd_getfd",
        ],
    ),
    (&[Capability::SysRawio], &["iopl", "ioperm"]),
    (&[Capability::SysPacct], &["acct"]),
    // NUMA policy; move_pages and migrate_pages are never allowed, as in
    // moby.
    (
        &[Capability::SysNice],
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    (&[Capability::DacReadSearch], &["open_by_handle_at"]),
    (&[Capability::SysTtyConfig], &["vhangup"]),
];

/// Refused (`EPERM`) whatever the capabilities: the kernel keyring (not
/// namespaced), swap, `userfaultfd`, loading another kernel, moving other
/// processes' pages, `io_uring`, and obsolete calls. A test checks that no
/// table above lets one in.
pub(crate) const ALWAYS_REFUSED: &[&str] = &[
    "keyctl",
    "add_key",
    "request_key",
    "swapon",
    "swapoff",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "move_pages",
    "migrate_pages",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "nfsservctl",
    "uselib",
    "vm86",
    "vm86old",
    "_sysctl",
    "sysfs",
    "ustat",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "afs_syscall",
    "bdflush",
    "pciconfig_iobase",
    "pciconfig_read",
    "pciconfig_write",
];

/// The namespace flags of `clone`: refused without `CAP_SYS_ADMIN`.
const CLONE_NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// `personality` values allowed, as moby: 0x0 (`PER_LINUX`), 0x8 (`PER_LINUX32`),
/// 0x20000 (`UNAME26`), 0x20008 (`PER_LINUX32 | UNAME26`) and 0xffffffff
/// (query, changes nothing).
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// `AF_VSOCK`: refused by `socket`, as in moby (the host's vsock is not
/// namespaced).
const AF_VSOCK: u64 = libc::AF_VSOCK as u64;

/// The default policy for a process holding `caps` (its bounding set):
/// `ENOSYS` for every syscall not named; the ordinary syscalls of a Linux
/// program allowed; those needing a capability allowed only with it, and
/// `EPERM` without it, as for the ones always refused.
///
/// Without `CAP_SYS_ADMIN`, `clone` is allowed only without namespace
/// flags, and `clone3` fails with `ENOSYS` (its flags are in memory,
/// where seccomp cannot see them) so the C library falls back to `clone`.
pub fn default_policy(caps: &BTreeSet<Capability>) -> Policy {
    let mut allowed: BTreeSet<&str> = [
        FILES, EVENTS, AIO, MEMORY, PROCESSES, SCHEDULING, IDS, SIGNALS, TIME, SOCKETS, IPC,
    ]
    .concat()
    .into_iter()
    .collect();
    for (needs, names) in BY_CAPABILITY {
        if needs.iter().any(|cap| caps.contains(cap)) {
            allowed.extend(names.iter());
        }
    }
    let sys_admin = caps.contains(&Capability::SysAdmin);
    if sys_admin {
        allowed.extend(["clone", "clone3"]);
    }

    let refused: BTreeSet<&str> = BY_CAPABILITY
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .chain(ALWAYS_REFUSED.iter().copied())
        .filter(|name| !allowed.contains(name))
        .collect();
    let eperm = Action::Errno(libc::EPERM as u16);
    let mut syscalls = vec![Rule::new(allowed, Action::Allow), Rule::new(refused, eperm)];
    for &persona in PERSONALITIES {
        syscalls.push(
            Rule::new(["personality"], Action::Allow).with_arg(ArgCondition::new(0, ArgOp::Equal, persona)),
        );
    }
    syscalls.push(Rule::new(["socket"], Action::Allow).with_arg(ArgCondition::new(
        0,
        ArgOp::NotEqual,
        AF_VSOCK,
    )));
    syscalls.push(Rule::new(["socket"], eperm).with_arg(ArgCondition::new(0, ArgOp::Equal, AF_VSOCK)));
    if !sys_admin {
        syscalls.push(
            Rule::new(["clone"], Action::Allow).with_arg(ArgCondition::masked_eq(0, CLONE_NAMESPACES, 0)),
        );
        // Each namespace flag on its own: `EPERM` if it is set.
        for bit in (0..64)
            .map(|i| 1u64 << i)
            .filter(|bit| CLONE_NAMESPACES & bit != 0)
        {
            syscalls.push(Rule::new(["clone"], eperm).with_arg(ArgCondition::masked_eq(0, bit, bit)));
        }
        syscalls.push(Rule::new(["clone3"], Action::Errno(libc::ENOSYS as u16)));
    }

    Policy {
        default_action: Action::Errno(libc::ENOSYS as u16),
        architectures: Arch::NATIVE.into_iter().collect(),
        flags: Vec::new(),
        syscalls,
    }
}
