//! Text from a state file, made safe for a terminal: control characters
//! (C0, DEL, C1) are shown escaped, so that a command or a name cannot
//! move the cursor, set the window title or clear the screen.

use std::fmt::Write as _;

/// `text` with each control character escaped: `\a`, `\b`, `\t`, `\n`,
/// `\v`, `\f`, `\r` by name, the others as `\xNN` (`\u{NN}` above 0x7f).
pub(crate) fn control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(control("\x1b]0;TITLE\x07"), "\\x1b]0;TITLE\\a");
        assert_eq!(control("a\tb\nc\x7f\u{9b}é"), "a\\tb\\nc\\x7f\\u{9b}é");
        assert_eq!(control("sleep 1000"), "sleep 1000");
    }
}
