//! The containers' init binary, and nothing else: `cradle` runs it as a
//! container's init (and setns helper) when it is installed beside
//! `cradle` and of the same build, because a small binary starts sooner
//! than `cradle` itself. Linking `cradle_linux` is all it takes: the
//! crate's constructor takes the role before `main`, which runs only in a
//! process started otherwise.

use std::io::Write as _;

// Links the crate, and with it the constructor.
use cradle_linux as _;

/// A start allocates much and briefly: see `dlmalloc` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() {
    let _ = writeln!(
        std::io::stderr(),
        "cradle-init: run by cradle as a container's init only"
    );
    std::process::exit(2);
}
