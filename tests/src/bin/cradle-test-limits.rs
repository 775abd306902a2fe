//! Run as a launch's init binary in place of cradle's: prints what it was
//! born with, as the launcher's clone child and its `exec` left it (the
//! core file size line of its `/proc/self/limits`, the `Gid:` line of its
//! status, and `dumpable: <0|1>`), and exits, taking no role.

fn main() {
    let line = |path: &str, start: &str| {
        let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path}: {error}"));
        let line = text.lines().find(|line| line.starts_with(start));
        line.unwrap_or_else(|| panic!("no {start:?} line in {path}"))
            .to_owned()
    };
    println!("{}", line("/proc/self/limits", "Max core file size"));
    println!("{}", line("/proc/self/status", "Gid:"));
    let dumpable = nix::sys::prctl::get_dumpable().expect("PR_GET_DUMPABLE");
    println!("dumpable: {}", u8::from(dumpable));
}
