//! cradle's Linux backend.
