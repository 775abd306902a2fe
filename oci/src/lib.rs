//! An OCI runtime bundle mapped onto cradle's launch.
#![forbid(unsafe_code)]
