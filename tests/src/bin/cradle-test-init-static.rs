//! `cradle-test-init`, linked as a static PIE where the toolchain can
//! (tests/build.rs): a process cloned into a running container joins it
//! before its `exec` of a static init binary, after its `exec` of a
//! dynamic one, and the setns suite runs both.

include!("test_init/body.rs");
