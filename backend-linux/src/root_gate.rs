//! The gate of the unit tests that need root (they `unshare` namespaces):
//! the same rule as the other suites' `require_root`, which this crate
//! cannot use (the tests crate depends on it). Without root such a test
//! fails, so that a run that could not do it does not pass for one that
//! did, unless `CRADLE_ALLOW_SKIP_ROOT=1` says to skip it (CI never does).

/// Whether `test` can run: true as root. Otherwise it fails the test,
/// unless `CRADLE_ALLOW_SKIP_ROOT` is `1`: then it says the test was
/// skipped and returns false.
pub(crate) fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let allowed = std::env::var_os("CRADLE_ALLOW_SKIP_ROOT").is_some_and(|value| value == "1");
    assert!(
        allowed,
        "{test} needs root (it unshares namespaces); run as root, or set CRADLE_ALLOW_SKIP_ROOT=1 to skip it"
    );
    println!("SKIPPED: {test} needs root");
    false
}
