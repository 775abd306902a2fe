//! Shared helpers for cradle's scenario tests.
