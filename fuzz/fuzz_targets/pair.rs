//! A parent and its simulated child over the mock kernel, under any fault
//! script, schedule and cancel.
#![no_main]

use cradle_tests::invariants::{check_pair, PairInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: PairInput| check_pair(&input));
