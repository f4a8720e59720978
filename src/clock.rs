//! Wall-clock time as microseconds since the Unix epoch, and its ISO-8601 wire form.
//!
//! Records store `Timestamp`s (µs) so that listing keys order exactly; the API prints them with
//! millisecond precision (`2024-01-15T10:30:05.000Z`), as the reference does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Self(d.as_micros() as u64)
    }
    /// Whole seconds since the epoch.
    pub fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
    /// This instant plus `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_micros() as u64))
    }
    /// This instant minus `d` (saturating at the epoch).
    pub fn minus(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(d.as_micros() as u64))
    }
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, millisecond precision, always UTC.
    pub fn to_iso(self) -> String {
        let dt = self.datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }
    /// The UTC year and month as `YYYYMM` (used to name standalone-file directories).
    pub fn year_month(self) -> u32 {
        let dt = self.datetime();
        dt.year() as u32 * 100 + u8::from(dt.month()) as u32
    }
    /// Parses an RFC 3339 timestamp (the reference's ISO cursor form).
    pub fn parse_iso(s: &str) -> Option<Self> {
        let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        let micros = dt.unix_timestamp_nanos() / 1_000;
        u64::try_from(micros).ok().map(Self)
    }
    fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip_at_millisecond_precision() {
        let t = Timestamp(1_705_314_605_123_456);
        assert_eq!(t.to_iso(), "2024-01-15T10:30:05.123Z");
        assert_eq!(Timestamp::parse_iso(&t.to_iso()), Some(Timestamp(1_705_314_605_123_000)));
        assert_eq!(t.year_month(), 202401);
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(Timestamp::parse_iso("yesterday"), None);
        assert_eq!(Timestamp::parse_iso("1969-01-01T00:00:00Z"), None);
    }
}
