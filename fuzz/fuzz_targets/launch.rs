//! The parent's launch machine, init and setns, under any script of inputs.
#![no_main]

use cradle_tests::invariants::{check_launch, LaunchInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: LaunchInput| check_launch(&input));
