//! The framing decoder: any bytes, in any chunks, either end, either caps.
#![no_main]

use cradle_tests::invariants::{check_decoder, DecoderInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: DecoderInput| check_decoder(&input));
