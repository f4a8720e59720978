//! Column family `attachments`: one record per attachment, the source of truth for its state.
//!
//! ```text
//! key:    0                16
//!         | attachment id  |                 16 bytes (UUID)
//! value:  version 1, see encode(); byte table in docs/FORMAT.md
//! ```
//! States: *pending* (`uploaded_at` and `location` absent), *uploaded* (both present),
//! *deleted* (`deleted_at` present; the bytes stay until cleanup reclaims them).

use crate::clock::Timestamp;
use crate::ids::{AppId, AttachmentId, ClientEventId, EndUserId, EventId, IssueId, ProjectId, SegmentId, Sha256Digest};

use super::{Batch, IndexError, Reads};

/// Column family name.
pub const CF: &str = "attachments";
const VERSION: u8 = 1;

/// Where an uploaded attachment's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A record in a segment file, at `offset` (of the record header).
    Segment {
        /// Segment number.
        segment: SegmentId,
        /// Offset of the record header.
        offset: u64,
    },
    /// A standalone file `blobs/<project>/<YYYY-MM>/<id>`.
    Standalone {
        /// `YYYYMM` of the upload.
        month: u32,
        /// CRC-32C of the whole file, checked on every full download (cheaper than SHA-256).
        crc32c: Option<u32>,
    },
}

impl Location {
    /// The month directory, if this is a standalone file.
    pub fn standalone_month(&self) -> Option<u32> {
        match self {
            Location::Standalone { month, .. } => Some(*month),
            Location::Segment { .. } => None,
        }
    }
}

/// Everything known about one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct AttachmentRecord {
    pub id: AttachmentId,
    pub project_id: ProjectId,
    pub app_id: AppId,
    pub event_client_id: Option<ClientEventId>,
    pub event_id: Option<EventId>,
    pub issue_id: Option<IssueId>,
    pub user_id: Option<EndUserId>,
    pub original_filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: Sha256Digest,
    pub is_dev: bool,
    pub created_at: Timestamp,
    /// When an un-uploaded reservation lapses.
    pub expires_at: Timestamp,
    pub uploaded_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub location: Option<Location>,
}

const F_DEV: u8 = 1;
const F_CLIENT_EVENT: u8 = 1 << 1;
const F_EVENT: u8 = 1 << 2;
const F_ISSUE: u8 = 1 << 3;
const F_USER: u8 = 1 << 4;
const F_UPLOADED: u8 = 1 << 5;
const F_DELETED: u8 = 1 << 6;
const F_LOCATION: u8 = 1 << 7;

impl AttachmentRecord {
    /// Whether the bytes have been uploaded.
    pub fn is_uploaded(&self) -> bool {
        self.uploaded_at.is_some()
    }

    /// Encodes the record (version 1).
    pub fn encode(&self) -> Vec<u8> {
        let mut flags = 0u8;
        let mut set = |cond: bool, f: u8| {
            if cond {
                flags |= f
            }
        };
        set(self.is_dev, F_DEV);
        set(self.event_client_id.is_some(), F_CLIENT_EVENT);
        set(self.event_id.is_some(), F_EVENT);
        set(self.issue_id.is_some(), F_ISSUE);
        set(self.user_id.is_some(), F_USER);
        set(self.uploaded_at.is_some(), F_UPLOADED);
        set(self.deleted_at.is_some(), F_DELETED);
        set(self.location.is_some(), F_LOCATION);
        let mut b = Vec::with_capacity(200 + self.original_filename.len() + self.content_type.len());
        b.push(VERSION);
        b.push(flags);
        b.extend_from_slice(self.id.as_bytes());
        b.extend_from_slice(self.project_id.as_bytes());
        b.extend_from_slice(self.app_id.as_bytes());
        b.extend_from_slice(&self.size_bytes.to_be_bytes());
        b.extend_from_slice(&self.sha256.0);
        b.extend_from_slice(&self.created_at.0.to_be_bytes());
        b.extend_from_slice(&self.expires_at.0.to_be_bytes());
        if let Some(x) = self.event_client_id {
            b.extend_from_slice(x.as_bytes());
        }
        if let Some(x) = self.event_id {
            b.extend_from_slice(x.as_bytes());
        }
        if let Some(x) = self.issue_id {
            b.extend_from_slice(x.as_bytes());
        }
        if let Some(t) = self.uploaded_at {
            b.extend_from_slice(&t.0.to_be_bytes());
        }
        if let Some(t) = self.deleted_at {
            b.extend_from_slice(&t.0.to_be_bytes());
        }
        match self.location {
            Some(Location::Segment { segment, offset }) => {
                b.push(1);
                b.extend_from_slice(&segment.0.to_be_bytes());
                b.extend_from_slice(&offset.to_be_bytes());
            }
            Some(Location::Standalone { month, crc32c: None }) => {
                b.push(2);
                b.extend_from_slice(&month.to_be_bytes());
            }
            Some(Location::Standalone { month, crc32c: Some(crc) }) => {
                b.push(3);
                b.extend_from_slice(&month.to_be_bytes());
                b.extend_from_slice(&crc.to_be_bytes());
            }
            None => {}
        }
        if let Some(u) = &self.user_id {
            put_str(&mut b, &u.0);
        }
        put_str(&mut b, &self.original_filename);
        put_str(&mut b, &self.content_type);
        b
    }

    /// Decodes a record; never panics on arbitrary bytes.
    pub fn decode(b: &[u8]) -> Result<Self, String> {
        let mut r = Reader { b, at: 0 };
        let version = r.u8()?;
        if version != VERSION {
            return Err(format!("unsupported record version {version}"));
        }
        let flags = r.u8()?;
        let has = |f: u8| flags & f != 0;
        let id = AttachmentId::from_bytes(r.arr()?);
        let project_id = ProjectId::from_bytes(r.arr()?);
        let app_id = AppId::from_bytes(r.arr()?);
        let size_bytes = r.u64()?;
        let sha256 = Sha256Digest(r.arr()?);
        let created_at = Timestamp(r.u64()?);
        let expires_at = Timestamp(r.u64()?);
        let event_client_id = if has(F_CLIENT_EVENT) { Some(ClientEventId::from_bytes(r.arr()?)) } else { None };
        let event_id = if has(F_EVENT) { Some(EventId::from_bytes(r.arr()?)) } else { None };
        let issue_id = if has(F_ISSUE) { Some(IssueId::from_bytes(r.arr()?)) } else { None };
        let uploaded_at = if has(F_UPLOADED) { Some(Timestamp(r.u64()?)) } else { None };
        let deleted_at = if has(F_DELETED) { Some(Timestamp(r.u64()?)) } else { None };
        let location = if has(F_LOCATION) {
            Some(match r.u8()? {
                1 => Location::Segment { segment: SegmentId(r.u64()?), offset: r.u64()? },
                2 => Location::Standalone { month: u32::from_be_bytes(r.arr()?), crc32c: None },
                3 => Location::Standalone {
                    month: u32::from_be_bytes(r.arr()?),
                    crc32c: Some(u32::from_be_bytes(r.arr()?)),
                },
                t => return Err(format!("unknown location tag {t}")),
            })
        } else {
            None
        };
        let user_id = if has(F_USER) { Some(EndUserId(r.string()?)) } else { None };
        let original_filename = r.string()?;
        let content_type = r.string()?;
        if r.at != b.len() {
            return Err("trailing bytes".into());
        }
        Ok(Self {
            id,
            project_id,
            app_id,
            event_client_id,
            event_id,
            issue_id,
            user_id,
            original_filename,
            content_type,
            size_bytes,
            sha256,
            is_dev: has(F_DEV),
            created_at,
            expires_at,
            uploaded_at,
            deleted_at,
            location,
        })
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&s.as_bytes()[..len as usize]);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("truncated record")?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.arr()?))
    }
    fn string(&mut self) -> Result<String, String> {
        let len = u16::from_be_bytes(self.arr()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }
}

/// Reads of the `attachments` family, live or from a [`super::Snapshot`].
pub trait RecordReads: Reads {
    /// The record for `id`, if any.
    fn record(&self, id: AttachmentId) -> Result<Option<AttachmentRecord>, IndexError> {
        match self.get_cf(CF, id.as_bytes())? {
            None => Ok(None),
            Some(v) => AttachmentRecord::decode(&v).map(Some).map_err(|what| IndexError::Corrupt { cf: CF, what }),
        }
    }

    /// Every record, in id order (fsck, rebuilds).
    fn all_records(&self) -> impl Iterator<Item = Result<AttachmentRecord, IndexError>> + '_ {
        self.scan_prefix(CF, Vec::new(), &[]).map(|r| {
            let (_, v) = r?;
            AttachmentRecord::decode(&v).map_err(|what| IndexError::Corrupt { cf: CF, what })
        })
    }
}

impl<T: Reads + ?Sized> RecordReads for T {}

impl Batch<'_> {
    /// Writes (creates or replaces) a record.
    pub fn put_record(&mut self, rec: &AttachmentRecord) {
        self.put(CF, rec.id.as_bytes(), &rec.encode());
    }

    /// Removes a record.
    pub fn delete_record(&mut self, id: AttachmentId) {
        self.delete(CF, id.as_bytes());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample() -> AttachmentRecord {
        AttachmentRecord {
            id: AttachmentId::random(),
            project_id: ProjectId::random(),
            app_id: AppId::random(),
            event_client_id: Some(ClientEventId::random()),
            event_id: None,
            issue_id: None,
            user_id: Some(EndUserId("user_42".into())),
            original_filename: "crash.log".into(),
            content_type: "text/plain".into(),
            size_bytes: 4821,
            sha256: Sha256Digest([3; 32]),
            is_dev: false,
            created_at: Timestamp(1_700_000_000_000_000),
            expires_at: Timestamp(1_700_000_900_000_000),
            uploaded_at: None,
            deleted_at: None,
            location: None,
        }
    }

    #[test]
    fn round_trip_in_every_state() {
        let mut r = sample();
        assert_eq!(AttachmentRecord::decode(&r.encode()), Ok(r.clone()));
        r.uploaded_at = Some(Timestamp(5));
        r.location = Some(Location::Segment { segment: SegmentId(3), offset: 64 });
        r.event_id = Some(EventId::random());
        r.issue_id = Some(IssueId::random());
        r.is_dev = true;
        assert_eq!(AttachmentRecord::decode(&r.encode()), Ok(r.clone()));
        r.location = Some(Location::Standalone { month: 202611, crc32c: Some(7) });
        assert_eq!(AttachmentRecord::decode(&r.encode()), Ok(r.clone()));
        r.location = Some(Location::Standalone { month: 202611, crc32c: None });
        r.deleted_at = Some(Timestamp(9));
        r.user_id = None;
        r.original_filename = "émoji 📎.txt".into();
        assert_eq!(AttachmentRecord::decode(&r.encode()), Ok(r));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = AttachmentRecord::decode(&bytes);
        }

        #[test]
        fn round_trips(name in "\\PC{0,40}", ct in "[a-z/+.-]{1,40}", size in any::<u64>(), dev in any::<bool>()) {
            let mut r = sample();
            r.original_filename = name;
            r.content_type = ct;
            r.size_bytes = size;
            r.is_dev = dev;
            prop_assert_eq!(AttachmentRecord::decode(&r.encode()), Ok(r));
        }
    }
}
