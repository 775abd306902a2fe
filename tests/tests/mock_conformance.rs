//! The conformance scenarios on the mock, without root: every scenario
//! ends with the verdict it names (the same one `linux_conformance`
//! requires of the real kernel) and leaves nothing.

use cradle_tests::conformance::{check, mock::MockWorld, scenarios};

#[test]
fn the_mock_agrees_with_every_verdict() {
    let wrong = check(&mut MockWorld, &scenarios());
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
