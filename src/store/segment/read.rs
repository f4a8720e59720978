//! The segment read path: verified reads of one record, and header scans for compaction/fsck.
//!
//! Every read checks the record header's CRC, that it names the expected attachment and length,
//! and the payload's CRC-32C before returning a byte, so a corrupt or misdirected record is an
//! error, never wrong bytes.

use std::os::unix::fs::FileExt;

use bytes::{Bytes, BytesMut};

use crate::ids::{AttachmentId, SegmentId};
use crate::store::StoreError;
use crate::store::format::{FILE_HEADER_LEN, RECORD_HEADER_LEN, RecordHeader};

use super::Segments;
use super::scan::{RecordMismatch, verify_record};

impl Segments {
    /// Reads and verifies the payload of the record at `offset`, which must belong to `id` and
    /// be `len` bytes long.
    pub fn read(&self, segment: SegmentId, offset: u64, id: AttachmentId, len: u64) -> Result<Bytes, StoreError> {
        let seg = self.get(segment).ok_or_else(|| StoreError::NotFound(format!("segment {segment}")))?;
        let total = RECORD_HEADER_LEN + usize::try_from(len).map_err(|_| StoreError::Corrupt("length".into()))?;
        let mut buf = BytesMut::zeroed(total);
        seg.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| StoreError::io(format!("read record at {offset} in segment {segment}"), e))?;
        if let Err(e) = verify_record(&buf, id, len) {
            return Err(StoreError::Corrupt(match e {
                RecordMismatch::Other { id: found, len: found_len } => format!(
                    "record at {offset} in segment {segment} is {found} ({found_len} bytes), expected {id} ({len} bytes)"
                ),
                RecordMismatch::Header(e) => format!("record header at {offset} in segment {segment}: {e}"),
                RecordMismatch::Payload(e) => format!("payload of {id} in segment {segment}: {e}"),
            }));
        }
        let payload = buf.freeze().slice(RECORD_HEADER_LEN..);
        Ok(payload)
    }

    /// The headers of every record in a segment (up to its used bytes), with their offsets.
    /// Reads headers only; payloads are skipped.
    pub fn record_headers(&self, segment: SegmentId) -> Result<Vec<(u64, RecordHeader)>, StoreError> {
        let seg = self.get(segment).ok_or_else(|| StoreError::NotFound(format!("segment {segment}")))?;
        let used = seg.info.lock().unwrap_or_else(|e| e.into_inner()).used;
        let mut out = Vec::new();
        let mut at = FILE_HEADER_LEN as u64;
        let mut hb = [0u8; RECORD_HEADER_LEN];
        while at + RECORD_HEADER_LEN as u64 <= used {
            seg.file
                .read_exact_at(&mut hb, at)
                .map_err(|e| StoreError::io(format!("read header at {at} in segment {segment}"), e))?;
            let h = RecordHeader::decode(&hb)
                .map_err(|e| StoreError::Corrupt(format!("record header at {at} in segment {segment}: {e}")))?;
            out.push((at, h));
            at += h.record_len();
        }
        Ok(out)
    }

    /// Removes a segment file (compaction, after the index no longer points into it).
    pub fn remove(&self, segment: SegmentId) -> Result<(), StoreError> {
        if self.active_id() == Some(segment) {
            return Err(StoreError::Corrupt(format!("refusing to remove active segment {segment}")));
        }
        let seg = self.files.write().unwrap_or_else(|e| e.into_inner()).remove(&segment);
        if let Some(seg) = seg {
            self.engine.remove_file(&seg.path).map_err(|e| StoreError::io(format!("remove segment {segment}"), e))?;
            crate::store::sync_dir(self.engine.as_ref(), &self.dir)?;
        }
        Ok(())
    }
}
