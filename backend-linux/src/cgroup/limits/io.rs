//! Block I/O weight and huge page limits.

use super::{Refusal, Resources, Setting};
use crate::cgroup::Version;

/// The weight in the file of the scheduler the kernel has: v1's
/// `blkio.weight` (CFQ, gone since Linux 5.0) else `blkio.bfq.weight`;
/// cgroup2's `io.weight` (its 1..=10000 scale, converted as runc and crun
/// do) else `io.bfq.weight` (BFQ's own 1..=1000).
pub(super) fn blkio(resources: &Resources, version: Version) -> Result<Vec<Setting>, Refusal> {
    let Some(weight) = resources.blkio_weight else {
        return Ok(Vec::new());
    };
    let file = match version {
        Version::V1 => "blkio.weight",
        Version::V2 => "io.weight",
    };
    let weight = u64::from(weight);
    if !(10..=1000).contains(&weight) {
        return Err(Refusal::invalid(
            file,
            weight,
            "a block I/O weight is in 10..=1000",
        ));
    }
    let setting = match version {
        Version::V1 => Setting::new("blkio_weight", file, weight).or_else("blkio.bfq.weight", weight),
        Version::V2 => {
            Setting::new("blkio_weight", file, blkio_to_io_weight(weight)).or_else("io.bfq.weight", weight)
        }
    };
    Ok(vec![setting])
}

/// Each page size's limit: v1 `hugetlb.<size>.limit_in_bytes`, cgroup2
/// `hugetlb.<size>.max`. A size this kernel does not have shows as a
/// missing file when written.
pub(super) fn hugetlb(resources: &Resources, version: Version) -> Result<Vec<Setting>, Refusal> {
    resources
        .hugetlb
        .iter()
        .map(|(size, bytes)| {
            let file = match version {
                Version::V1 => format!("hugetlb.{size}.limit_in_bytes"),
                Version::V2 => format!("hugetlb.{size}.max"),
            };
            if !valid_page_size(size) {
                return Err(Refusal::invalid(
                    file,
                    size,
                    "a huge page size is a number and KB, MB or GB, as the kernel names it (2MB)",
                ));
            }
            Ok(Setting::new("hugetlb", file, bytes))
        })
        .collect()
}

/// `2MB`, `1GB`, `64KB`: what the kernel puts in the file names.
fn valid_page_size(size: &str) -> bool {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_uppercase());
    let unit = &size[digits.len()..];
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && matches!(unit, "KB" | "MB" | "GB")
}

/// blkio's 10..=1000 onto cgroup2's 1..=10000, ends onto ends.
fn blkio_to_io_weight(weight: u64) -> u64 {
    1 + (weight - 10) * 9_999 / 990
}

#[cfg(test)]
mod tests {
    use super::super::tests::{pairs, rendered};
    use super::super::{Controller, Refusal, Resources};
    use super::*;

    #[test]
    fn a_blkio_weight_names_its_fallback_file() {
        let resources = Resources {
            blkio_weight: Some(500),
            ..Resources::default()
        };
        let v1 = resources.settings(Controller::Blkio, Version::V1).expect("valid");
        assert_eq!(
            (v1[0].file.as_str(), v1[0].value.as_str()),
            ("blkio.weight", "500")
        );
        assert_eq!(
            v1[0].fallback,
            Some(("blkio.bfq.weight".to_owned(), "500".to_owned()))
        );
        let v2 = resources.settings(Controller::Blkio, Version::V2).expect("valid");
        assert_eq!((v2[0].file.as_str(), v2[0].value.as_str()), ("io.weight", "4950"));
        assert_eq!(
            v2[0].fallback,
            Some(("io.bfq.weight".to_owned(), "500".to_owned()))
        );
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        for bad in [9, 1001] {
            let resources = Resources {
                blkio_weight: Some(bad),
                ..Resources::default()
            };
            assert!(matches!(
                resources.settings(Controller::Blkio, Version::V1),
                Err(Refusal::Invalid { .. })
            ));
        }
    }

    #[test]
    fn huge_pages_per_size_in_each_format() {
        let resources = Resources {
            hugetlb: vec![("2MB".to_owned(), 4 << 20), ("1GB".to_owned(), 0)],
            ..Resources::default()
        };
        assert_eq!(
            rendered(&resources, Controller::Hugetlb, Version::V1),
            pairs(&[
                ("hugetlb.2MB.limit_in_bytes", "4194304"),
                ("hugetlb.1GB.limit_in_bytes", "0")
            ])
        );
        assert_eq!(
            rendered(&resources, Controller::Hugetlb, Version::V2),
            pairs(&[("hugetlb.2MB.max", "4194304"), ("hugetlb.1GB.max", "0")])
        );
        for bad in ["", "2", "MB", "2mb", "2 MB", "../x", "2TB"] {
            let resources = Resources {
                hugetlb: vec![(bad.to_owned(), 1)],
                ..Resources::default()
            };
            assert!(
                matches!(
                    resources.settings(Controller::Hugetlb, Version::V1),
                    Err(Refusal::Invalid { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
