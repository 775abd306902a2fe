//! A simulated kernel implementing cradle's backend traits.
#![forbid(unsafe_code)]
