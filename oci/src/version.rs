//! Which `ociVersion`s cradle reads: 1.0.x, 1.1.x and 1.2.x, pre-releases
//! of them (`1.0.2-dev`) included.

use crate::OciError;

/// The newest runtime-spec version cradle implements: what its state and
/// features documents say.
pub const OCI_VERSION: &str = "1.2.0";

/// The minor version of `version` (`0` for `1.0.2-dev`), or why cradle
/// refuses it.
pub(crate) fn check(version: &str) -> Result<u32, OciError> {
    parse(version)
        .filter(|(major, minor)| *major == 1 && *minor <= 2)
        .map(|(_, minor)| minor)
        .ok_or_else(|| OciError::Version {
            version: version.to_owned(),
        })
}

/// `major.minor.patch`, then optionally `-pre-release` and `+build`: semver.
fn parse(version: &str) -> Option<(u32, u32)> {
    let (version, _build) = version.split_once('+').unwrap_or((version, ""));
    let (core, pre_release) = match version.split_once('-') {
        Some((core, pre_release)) => (core, Some(pre_release)),
        None => (version, None),
    };
    if pre_release.is_some_and(|pre| {
        pre.is_empty()
            || !pre
                .split('.')
                .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    }) {
        return None;
    }
    let numbers: Vec<u32> = core.split('.').map(number).collect::<Option<_>>()?;
    match numbers.as_slice() {
        [major, minor, _patch] => Some((*major, *minor)),
        _ => None,
    }
}

/// A semver number: digits, no leading zero.
fn number(text: &str) -> Option<u32> {
    let digits = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    (digits && !leading_zero).then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_one_zero_to_one_two_with_pre_releases_pass() {
        for (version, minor) in [
            ("1.0.0", 0),
            ("1.0.2", 0),
            ("1.0.2-dev", 0),
            ("1.0.0-rc5", 0),
            ("1.1.0", 1),
            ("1.1.0-rc.1", 1),
            ("1.2.0", 2),
            ("1.2.1", 2),
            ("1.2.1+dev", 2),
        ] {
            assert_eq!(check(version).ok(), Some(minor), "{version}");
        }
    }

    #[test]
    fn other_versions_are_refused() {
        for version in [
            "",
            "1",
            "1.0",
            "0.5.0",
            "1.3.0",
            "2.0.0",
            "1.0.x",
            "1.0.0-",
            "1.01.0",
            "v1.0.0",
            "1.0.0.0",
            "1.0.0-a..b",
        ] {
            assert!(
                matches!(check(version), Err(OciError::Version { .. })),
                "{version}"
            );
        }
    }
}
