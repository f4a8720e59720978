//! Typed identifiers and units.
//!
//! Every id that crosses a module boundary is a newtype so that an `AppId` can never be passed
//! where a `ProjectId` is expected. UUID ids parse from any letter case (the Swift SDK sends
//! uppercase) and always print canonical lowercase, which is also how they are stored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The error returned when a string is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid UUID")]
pub struct InvalidId;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }
            /// The 16 raw bytes, in the order used inside index keys.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
            /// Rebuilds an id from the 16 bytes of an index key.
            pub fn from_bytes(b: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(b))
            }
            /// Reads an id from the first 16 bytes of `b`; `None` if `b` is shorter.
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                let arr: [u8; 16] = b.get(..16)?.try_into().ok()?;
                Some(Self::from_bytes(arr))
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            /// Accepts only the hyphenated 36-character form, in any letter case.
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                if s.len() != 36 {
                    return Err(InvalidId);
                }
                Uuid::try_parse(s).map(Self).map_err(|_| InvalidId)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// One attachment: a reservation, then (after the PUT) stored bytes.
    AttachmentId
);
uuid_id!(
    /// A team: the unit of access for agent keys and users.
    TeamId
);
uuid_id!(
    /// A project inside a team: the unit of quotas and listing.
    ProjectId
);
uuid_id!(
    /// An app inside a project: client keys are scoped to one.
    AppId
);
uuid_id!(
    /// An API key (the id, never the secret).
    KeyId
);
uuid_id!(
    /// An analytics event (`events.id` in the host application).
    EventId
);
uuid_id!(
    /// The client-generated UUID of an event (`client_event_id`).
    ClientEventId
);
uuid_id!(
    /// An issue in the host application.
    IssueId
);

/// The end-user id an SDK sends with a reservation (`user_42`, `owl_anon_…`): 1–255 characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndUserId(pub String);

impl fmt::Debug for EndUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndUserId({:?})", self.0)
    }
}

/// A dashboard user, as named by the `sub` claim of a JWT.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct UserId(pub String);

/// A segment file number. Segments are numbered upwards from 1 and never reused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct SegmentId(pub u64);

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Parses exactly 64 lowercase hex characters (the wire rule for `sha256`).
    pub fn parse_lower_hex(s: &str) -> Option<Self> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
    /// Lowercase hex, as it appears on the wire and in `ETag`s.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_parse_any_case_and_print_lowercase() {
        let id: ClientEventId = "550E8400-E29B-41D4-A716-446655440000".parse().unwrap();
        assert_eq!(id.to_string(), "550e8400-e29b-41d4-a716-446655440000");
    }

    #[test]
    fn uuid_ids_reject_other_forms() {
        for bad in [
            "",
            "x",
            "550e8400e29b41d4a716446655440000",
            "{550e8400-e29b-41d4-a716-446655440000}",
            "550e8400-e29b-41d4-a716-44665544000g",
            "../../etc/passwd",
        ] {
            assert!(bad.parse::<AttachmentId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sha256_hex_is_lowercase_only() {
        let lower = "ab".repeat(32);
        assert!(Sha256Digest::parse_lower_hex(&lower).is_some());
        assert!(Sha256Digest::parse_lower_hex(&"AB".repeat(32)).is_none());
        assert!(Sha256Digest::parse_lower_hex(&"ab".repeat(31)).is_none());
        assert_eq!(Sha256Digest::parse_lower_hex(&lower).unwrap().to_hex(), lower);
    }
}
