//! The invariants cradle's core keeps under any input, checked in one place
//! for the fuzz targets (`fuzz/`), the fuzz regression tests and the core's
//! property tests.
//!
//! Each `check_*` function runs one machine over one input and panics, with
//! a message naming the broken invariant, when the machine misbehaves: a
//! second terminal event, a leak after a failure, a buffer past its cap, an
//! input refused or accepted against the documented contract. "No panic" is
//! the least of it.
//!
//! [`TARGETS`] maps each fuzz target's name to the function that takes its
//! raw input, as the regression tests replay it; [`input`] documents the
//! byte layouts (the fuzz targets decode them with the same `Arbitrary`
//! impls), and [`seeds`] builds the committed seed corpora from real
//! handshakes.

pub mod child;
pub mod framing;
pub mod input;
pub mod launch;
pub mod pair;
pub mod seeds;

pub use self::child::{check_child, ChildInput, ChildOp};
pub use self::framing::{check_decoder, check_message, DecoderInput};
pub use self::launch::{check_launch, ExitOf, LaunchInput, Op, Reply, Shape};
pub use self::pair::{check_pair, PairInput, PairPlan};

/// A fuzz target: its name (the folder under `fuzz/corpus/` and
/// `fuzz/regressions/`) and the function that checks one raw input as the
/// target does.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The cargo-fuzz target name.
    pub name: &'static str,
    /// Decodes the raw input and checks every invariant over it.
    pub check: fn(&[u8]),
}

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "decoder",
        check: fuzz_decoder,
    },
    Target {
        name: "message",
        check: check_message,
    },
    Target {
        name: "launch",
        check: fuzz_launch,
    },
    Target {
        name: "child",
        check: fuzz_child,
    },
    Target {
        name: "pair",
        check: fuzz_pair,
    },
];

/// The `decoder` target: see [`DecoderInput`].
pub fn fuzz_decoder(data: &[u8]) {
    check_decoder(&input::decode(data));
}

/// The `launch` target: see [`LaunchInput`].
pub fn fuzz_launch(data: &[u8]) {
    check_launch(&input::decode(data));
}

/// The `child` target: see [`ChildInput`].
pub fn fuzz_child(data: &[u8]) {
    check_child(&input::decode(data));
}

/// The `pair` target: see [`PairInput`].
pub fn fuzz_pair(data: &[u8]) {
    check_pair(&input::decode(data));
}
