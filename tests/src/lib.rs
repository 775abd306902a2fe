//! Shared helpers for cradle's scenario tests.
pub mod conformance;
pub mod invariants;
#[cfg(feature = "linux")]
pub mod linux;

use cradle_core::{IdMap, IdMaps};

/// Id maps that map every id onto itself: a new user namespace that
/// changes no file's owner, so the root-only suites can hold the child for
/// its maps without shifting anything.
pub fn identity_maps() -> IdMaps {
    let identity = IdMap {
        container: 0,
        host: 0,
        count: u32::MAX,
    };
    IdMaps {
        uid: vec![identity],
        gid: vec![identity],
        deny_setgroups: false,
    }
}
