//! Run as a launch's init binary in place of cradle's: prints the core
//! file size line of its `/proc/self/limits` (what it was born with, as
//! the launcher's clone child left it) and exits, taking no role.

fn main() {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max core file size"))
        .expect("a core file size line");
    println!("{line}");
}
