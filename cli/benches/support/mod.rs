//! What the benchmarks share: the busybox rootfs, the OCI bundle the
//! runtimes run, a sleeping container to exec into, whole processes timed
//! with their CPU time, the statistics, the cgroup view they run in, and
//! the timed binaries dropped from the page cache before the warm-up.

pub(crate) mod bundle;
pub(crate) mod cgroups;
pub(crate) mod container;
pub(crate) mod error;
pub(crate) mod order;
pub(crate) mod page_cache;
pub(crate) mod rootfs;
pub(crate) mod sample;
pub(crate) mod stats;

/// The `cradle` under test: `$CRADLE_BENCH_BINARY` when set (`bench/run`
/// sets it to a copy of the release `cradle` with the `cradle-init` it
/// installs beside it, which cargo would replace in its own target
/// directory at its next run), else the release build cargo made with
/// this benchmark.
pub(crate) fn cradle_binary() -> std::path::PathBuf {
    std::env::var_os("CRADLE_BENCH_BINARY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_cradle").into())
}

/// `cradle` and the `cradle-init` beside it, if there is one.
pub(crate) fn cradle_binaries() -> Vec<std::path::PathBuf> {
    let cradle = cradle_binary();
    let init = cradle.with_file_name("cradle-init");
    std::iter::once(cradle)
        .chain(init.is_file().then_some(init))
        .collect()
}

/// The kernel's floor for a start: `unshare` making the namespaces
/// cradle's default container has (pid, mount, uts, ipc, net), running
/// `/bin/true`.
pub(crate) fn unshare_true() -> std::process::Command {
    let mut command = std::process::Command::new("unshare");
    command.args([
        "--fork",
        "--pid",
        "--mount",
        "--uts",
        "--ipc",
        "--net",
        "--",
        "/bin/true",
    ]);
    command
}

/// The floor for an exec: `nsenter` into every namespace of process
/// `pid`, running `/bin/true`.
pub(crate) fn nsenter_true(pid: u32) -> std::process::Command {
    let mut command = std::process::Command::new("nsenter");
    command.args(["-t", &pid.to_string(), "-a", "/bin/true"]);
    command
}

/// `/proc/loadavg`'s 1, 5 and 15 minute averages: how busy the machine was
/// (it may be shared), printed beside the numbers.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|error| format!("unknown (/proc/loadavg: {error})"))
}
