//! Column family `attachments`: one record per attachment, the source of truth for its state.
//!
//! ```text
//! key:    0                16
//!         | attachment id  |                 16 bytes (UUID)
//! value:  the record, version 2 (version 1 still read): see codec.rs and docs/FORMAT.md
//! ```
//! States: *pending* (`uploaded_at` and `location` absent), *uploaded* (both present),
//! *deleted* (`deleted_at` present; the bytes stay until cleanup reclaims them).

use crate::ids::AttachmentId;
use crate::model::Attachment;

use super::{Batch, IndexError, Reads};
use crate::model::codec;

/// Column family name.
pub const CF: &str = "attachments";

/// Reads of the `attachments` family, live or from a [`super::Snapshot`].
pub trait RecordReads: Reads {
    /// The record for `id`, if any.
    fn record(&self, id: AttachmentId) -> Result<Option<Attachment>, IndexError> {
        match self.get_cf(CF, id.as_bytes())? {
            None => Ok(None),
            Some(v) => codec::decode(&v).map(Some).map_err(|what| IndexError::Corrupt { cf: CF, what }),
        }
    }

    /// Every record, in id order (fsck, rebuilds).
    fn all_records(&self) -> impl Iterator<Item = Result<Attachment, IndexError>> + '_ {
        self.scan_prefix(CF, Vec::new(), &[]).map(|r| {
            let (_, v) = r?;
            codec::decode(&v).map_err(|what| IndexError::Corrupt { cf: CF, what })
        })
    }

    /// Up to `limit` records after `after` (`None`: from the first), in id order (migrations).
    fn records_after(&self, after: Option<AttachmentId>, limit: usize) -> Result<Vec<Attachment>, IndexError> {
        let from = after.map(|a| a.as_bytes().to_vec()).unwrap_or_default();
        self.scan_prefix(CF, Vec::new(), &from)
            .filter(|r| !matches!((r, after), (Ok((k, _)), Some(a)) if k.as_ref() == a.as_bytes()))
            .take(limit)
            .map(|r| {
                let (_, v) = r?;
                codec::decode(&v).map_err(|what| IndexError::Corrupt { cf: CF, what })
            })
            .collect()
    }
}

impl<T: Reads + ?Sized> RecordReads for T {}

impl Batch<'_> {
    /// Writes (creates or replaces) a record alone, without the rows and counters it implies:
    /// for repair (which rebuilds those after) and tests. Everything else uses
    /// [`Batch::transition`].
    pub fn put_record(&mut self, rec: &Attachment) {
        self.put(CF, rec.id.as_bytes(), &codec::encode(rec));
    }

    /// Removes a record alone (see [`Batch::put_record`]).
    pub(super) fn delete_record(&mut self, id: AttachmentId) {
        self.delete(CF, id.as_bytes());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::ids::{EventId, IssueId, ProjectId, SegmentId, UserId};
    use crate::model::codec::v1 as codec_v1;
    use crate::model::{Location, Md5Digest, Metadata, ParentId, ParentKind, ParentRef, Retention, ScanState};
    use proptest::prelude::*;

    /// A pending seed-000 reservation.
    pub(crate) fn sample() -> Attachment {
        let mut r =
            crate::model::example::reservation(ProjectId::random(), Some("user_42"), 4821, 1_700_000_000_000_000);
        r.meta.original_filename = "crash.log".into();
        r.meta.content_type = "text/plain".into();
        r
    }

    /// The states a 0.1.0 record could be in.
    fn seed_000_states() -> Vec<Attachment> {
        let mut r = sample();
        let mut out = vec![r.clone()];
        r.uploaded_at = Some(Timestamp(5));
        r.location = Some(Location::Segment { segment: SegmentId(3), offset: 64 });
        r.set_parent(ParentKind::Event, Some(ParentRef::uuid(ParentKind::Event, EventId::random().0)));
        r.set_parent(ParentKind::Issue, Some(ParentRef::uuid(ParentKind::Issue, IssueId::random().0)));
        r.is_dev = true;
        out.push(r.clone());
        r.location = Some(Location::Standalone { month: 202611, crc32c: Some(7) });
        out.push(r.clone());
        r.location = Some(Location::Standalone { month: 202611, crc32c: None });
        r.deleted_at = Some(Timestamp(9));
        r.owner = None;
        r.meta.original_filename = "émoji 📎.txt".into();
        out.push(r);
        out
    }

    #[test]
    fn round_trip_in_every_state() {
        for r in seed_000_states() {
            assert_eq!(codec::decode(&codec::encode(&r)), Ok(r));
        }
    }

    #[test]
    fn version_1_records_read_into_the_model() {
        for r in seed_000_states() {
            let v1 = codec_v1::encode(&r);
            assert_eq!(v1[0], 1);
            assert_eq!(codec::decode(&v1), Ok(r.clone()));
            // Rewritten as version 2 the next time it changes, and unchanged by that.
            assert_eq!(codec::decode(&codec::encode(&codec::decode(&v1).unwrap())), Ok(r));
        }
    }

    #[test]
    fn every_part_of_the_model_round_trips() {
        let mut r = sample();
        r.app_id = None;
        r.uploader = Some(UserId("u-17".into()));
        r.parents = vec![
            ParentRef { kind: ParentKind::Product, id: ParentId::Text("prod_9".into()) },
            ParentRef { kind: ParentKind::SessionPoint, id: ParentId::Text("sess-1/point-a".into()) },
            ParentRef { kind: ParentKind::Record, id: ParentId::Text("S3kQqTTXTFMLBhsY8XeY".into()) },
        ];
        r.meta.title = Some("Invoice".into());
        r.meta.description = Some("".into());
        r.meta.status = Some("final".into());
        r.meta.external_id = Some("S3kQqTTXTFMLBhsY8XeY".into());
        r.meta.tags = vec!["a".into(), "b c".into()];
        r.meta.edited_at = Some(Timestamp(1_700_000_000_123));
        r.digests.md5 = Some(Md5Digest([9; 16]));
        r.retention = Retention::Until(Timestamp(77));
        for scan in
            [ScanState::Pending, ScanState::Clean, ScanState::Infected("Eicar".into()), ScanState::Failed("".into())]
        {
            r.scan = scan;
            assert_eq!(codec::decode(&codec::encode(&r)), Ok(r.clone()));
        }
    }

    #[test]
    fn unknown_versions_are_refused() {
        let mut b = codec::encode(&sample());
        b[0] = 3;
        assert_eq!(codec::decode(&b), Err("unsupported record version 3".into()));
        assert!(codec::decode(&[]).is_err());
    }

    proptest! {
        // Mirror of the fuzz target `index_record`.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), v in 1u8..3) {
            let mut bytes = bytes;
            if let Some(b) = bytes.first_mut() { *b = v; }
            if let Ok(rec) = codec::decode(&bytes) {
                prop_assert_eq!(codec::decode(&codec::encode(&rec)), Ok(rec));
            }
        }

        #[test]
        fn round_trips(name in "\\PC{0,40}", ct in "[a-z/+.-]{1,40}", size in any::<u64>(), dev in any::<bool>(),
                       tags in proptest::collection::vec("\\PC{0,10}", 0..4), title in proptest::option::of("\\PC{0,20}"),
                       edited in proptest::option::of(any::<u64>())) {
            let mut r = sample();
            r.meta.original_filename = name;
            r.meta.content_type = ct;
            r.meta.tags = tags;
            r.meta.title = title;
            r.meta.edited_at = edited.map(Timestamp);
            r.size_bytes = size;
            r.is_dev = dev;
            prop_assert_eq!(codec::decode(&codec::encode(&r)), Ok(r.clone()));
            prop_assert_eq!(codec::decode(&codec_v1::encode(&Attachment { meta: Metadata { tags: vec![], title: None, edited_at: None, ..r.meta.clone() }, ..r.clone() })).map(|x| x.size_bytes), Ok(size));
        }
    }
}
