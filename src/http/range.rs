//! `Range: bytes=…` for downloads (RFC 9110 §14). Pure; fuzzed as `range_header`.
//!
//! One range is served (206); a set of several ranges is answered with the whole body (200),
//! which RFC 9110 allows. Unsatisfiable ranges are 416.

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// The whole body (no Range, or one we ignore).
    Full,
    /// Bytes `start..end` (end exclusive).
    Partial {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// Nothing of the body lies in the range.
    Unsatisfiable,
}

/// Interprets a `Range` header against a body of `size` bytes.
pub fn parse(header: Option<&str>, size: u64) -> RangeSpec {
    let Some(h) = header else {
        return RangeSpec::Full;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeSpec::Full;
    };
    if spec.contains(',') {
        return RangeSpec::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|c| c.is_ascii_digit());
    match (digits(a), digits(b), b.is_empty()) {
        // bytes=start-  or  bytes=start-end
        (true, _, true) | (true, true, _) => {
            let Ok(start) = a.parse::<u64>() else {
                return RangeSpec::Full;
            };
            let last = if b.is_empty() {
                u64::MAX
            } else {
                match b.parse::<u64>() {
                    Ok(v) => v,
                    Err(_) => return RangeSpec::Full,
                }
            };
            if last < start {
                return RangeSpec::Full; // syntactically invalid: ignore the header
            }
            if start >= size {
                return RangeSpec::Unsatisfiable;
            }
            RangeSpec::Partial { start, end: last.saturating_add(1).min(size) }
        }
        // bytes=-suffix
        (false, true, false) if a.is_empty() => {
            let Ok(n) = b.parse::<u64>() else {
                return RangeSpec::Full;
            };
            if n == 0 || size == 0 {
                return RangeSpec::Unsatisfiable;
            }
            RangeSpec::Partial { start: size.saturating_sub(n), end: size }
        }
        _ => RangeSpec::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        use RangeSpec::*;
        let cases = [
            (None, 100, Full),
            (Some("bytes=0-9"), 100, Partial { start: 0, end: 10 }),
            (Some("bytes=90-"), 100, Partial { start: 90, end: 100 }),
            (Some("bytes=90-1000"), 100, Partial { start: 90, end: 100 }),
            (Some("bytes=-10"), 100, Partial { start: 90, end: 100 }),
            (Some("bytes=-1000"), 100, Partial { start: 0, end: 100 }),
            (Some("bytes=100-"), 100, Unsatisfiable),
            (Some("bytes=-0"), 100, Unsatisfiable),
            (Some("bytes=5-2"), 100, Full),
            (Some("bytes=0-1,5-6"), 100, Full),
            (Some("items=0-1"), 100, Full),
            (Some("bytes=a-b"), 100, Full),
            (Some("bytes=99999999999999999999999-"), 100, Full),
        ];
        for (h, size, want) in cases {
            assert_eq!(parse(h, size), want, "{h:?}");
        }
    }

    proptest! {
        // Mirror of fuzz target `range_header`: never panics; a partial range is inside the body.
        #[test]
        fn any_header_gives_a_sane_answer(h in "\\PC{0,40}", size in 0u64..10_000) {
            if let RangeSpec::Partial { start, end } = parse(Some(&h), size) {
                prop_assert!(start < end && end <= size);
            }
            let h2 = format!("bytes={h}");
            if let RangeSpec::Partial { start, end } = parse(Some(&h2), size) {
                prop_assert!(start < end && end <= size);
            }
        }
    }
}
