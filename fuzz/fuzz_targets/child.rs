//! The child's handshake under any script of parent bytes and child calls.
#![no_main]

use cradle_tests::invariants::{check_child, ChildInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: ChildInput| check_child(&input));
