//! An init binary that is nothing else: for programs that cannot be their
//! own init binary. Linking `cradle_linux` is all it takes: the crate's
//! constructor takes the role before `main`, which runs only in a process
//! started otherwise.

use std::io::Write as _;

// Links the crate, and with it the constructor.
use cradle_linux as _;

fn main() {
    let _ = writeln!(
        std::io::stderr(),
        "cradle-init: run by cradle as a container's init only"
    );
    std::process::exit(2);
}
