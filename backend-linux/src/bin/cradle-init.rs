//! An init binary that is nothing else: for programs that cannot call
//! `cradle_linux::init()` first thing in their own `main`.

use std::io::Write as _;

fn main() {
    cradle_linux::init();
    let _ = writeln!(
        std::io::stderr(),
        "cradle-init: run by cradle as a container's init only"
    );
    std::process::exit(2);
}
