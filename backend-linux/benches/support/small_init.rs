//! The small init binary the benchmarks launch with: `cradle-init`, as the
//! `cradle` command runs it, from the target directory above this bench's
//! binary (`bench/run` builds it first, with `cargo bench -p cradle`), when
//! it is of this build. Without it, the bench binary is its own init, and
//! says so.

use std::path::PathBuf;

use cradle_linux::Options;

/// The options that run `cradle-init`, if there is one of this build.
pub(crate) fn options() -> Options {
    match path() {
        Some(init) => Options::new().init_binary(init),
        None => Options::new(),
    }
}

/// `cradle-init`'s path, if there is one of this build; the first call
/// says on stderr which init the benchmark runs.
pub(crate) fn path() -> Option<PathBuf> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let exe = std::env::current_exe().ok()?;
            // target/release/deps/<bench> -> target/release/cradle-init
            let init = exe.parent()?.parent()?.join("cradle-init");
            let found = cradle_linux::is_of_this_build(&init).then_some(init);
            if found.is_none() {
                eprintln!("(no cradle-init of this build: `cargo build --release -p cradle` makes one; the bench binary is the init)");
            }
            found
        })
        .clone()
}
