//! One line decoded as each message and each message body; what decodes
//! must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cradle_tests::invariants::check_message(data));
