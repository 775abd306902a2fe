//! Shared helpers for cradle's scenario tests.
pub mod conformance;
pub mod invariants;
#[cfg(feature = "linux")]
pub mod linux;
