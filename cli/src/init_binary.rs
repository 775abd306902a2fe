//! Which binary the containers' init runs: `cradle-init` from beside
//! `cradle` when it is of this very build (a third of the size, so every
//! start is sooner), else `cradle` itself, which always is.

use cradle_linux::Options;

/// The init binary's file name, beside `cradle`.
const INIT_BINARY: &str = "cradle-init";

/// A launch's options, with the init binary chosen.
pub(crate) fn launch_options() -> Options {
    match cradle_linux::init_beside(INIT_BINARY) {
        Some(path) => {
            tracing::debug!("init binary: {}", path.display());
            Options::new().init_binary(path)
        }
        None => {
            tracing::debug!("init binary: cradle itself (no {INIT_BINARY} of this build beside it)");
            Options::new()
        }
    }
}
