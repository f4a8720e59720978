//! The segment write path: lay out a batch of records, write them with one engine call per
//! segment touched, fdatasync, then advance the cursor. Rolls to a new segment (sealing the old)
//! when the next record does not fit.
//!
//! Durability order for one batch: (1) records written at the cursor, (2) fdatasync,
//! (3) cursor advanced, (4) placements returned; only then may the caller index them. A failed
//! write or sync retires the segment: it takes no further appends, so no later batch can be
//! acknowledged on top of pages whose write-back failed.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, SegmentId, Sha256Digest};
use crate::store::format::{FILE_HEADER_LEN, FileHeader, RECORD_HEADER_LEN, RecordHeader, TRAILER_LEN, Trailer};
use crate::store::io::{IoEngine, WriteOp};
use crate::store::{StoreError, create_dir_durable, preallocate, sync_dir};

use super::{Active, SegmentFile, SegmentInfo, SegmentState, Segments};

/// One blob to append.
#[derive(Debug, Clone)]
pub struct AppendItem {
    /// Whose bytes.
    pub id: AttachmentId,
    /// Verified SHA-256 of the payload.
    pub sha256: Sha256Digest,
    /// CRC-32C of the payload.
    pub crc: u32,
    /// The payload, as the chunks it arrived in.
    pub payload: Vec<Bytes>,
}

impl AppendItem {
    /// Payload length.
    pub fn len(&self) -> u64 {
        self.payload.iter().map(|b| b.len() as u64).sum()
    }
    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where an appended blob landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Segment number.
    pub segment: SegmentId,
    /// Offset of the record header in the segment.
    pub offset: u64,
    /// Payload length.
    pub len: u64,
}

impl Segments {
    /// Appends `items` durably and returns where each landed, in order. All or nothing: on
    /// `Err`, no placement of this batch may be used.
    pub fn append_batch(&self, items: &[AppendItem]) -> Result<Vec<Placement>, StoreError> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let mut placements = Vec::with_capacity(items.len());
        // Records for the current segment, written together.
        let mut op = WriteOp { offset: 0, bufs: Vec::with_capacity(items.len() * 2) };
        let mut pending_records = 0u64;
        for item in items {
            let rec_len = RECORD_HEADER_LEN as u64 + item.len();
            if rec_len + (FILE_HEADER_LEN + TRAILER_LEN) as u64 > self.capacity {
                return Err(StoreError::Corrupt(format!("record of {rec_len} bytes cannot fit in a segment")));
            }
            let fits =
                active.as_ref().is_some_and(|a| a.write_at + op.len() + rec_len + TRAILER_LEN as u64 <= self.capacity);
            if !fits {
                if let Some(full) = active.take() {
                    let mut full = full;
                    self.flush(&mut full, &mut op, &mut pending_records)?;
                    self.seal(&full)?;
                }
                *active = Some(self.create()?);
            }
            let a = active.as_mut().expect("an active segment was just ensured");
            if op.bufs.is_empty() {
                op.offset = a.write_at;
            }
            let header = RecordHeader { id: item.id, len: item.len(), sha256: item.sha256, payload_crc: item.crc };
            placements.push(Placement { segment: a.seg.id, offset: op.offset + op.len(), len: item.len() });
            op.bufs.push(Bytes::copy_from_slice(&header.encode()));
            op.bufs.extend(item.payload.iter().filter(|b| !b.is_empty()).cloned());
            pending_records += 1;
        }
        if let Some(a) = active.as_mut() {
            if let Err(e) = self.flush(a, &mut op, &mut pending_records) {
                // The segment is retired: the next batch starts a fresh one.
                *active = None;
                return Err(e);
            }
        }
        Ok(placements)
    }

    /// Writes and syncs the pending op; on failure retires the segment.
    fn flush(&self, a: &mut Active, op: &mut WriteOp, pending: &mut u64) -> Result<(), StoreError> {
        if op.bufs.is_empty() {
            return Ok(());
        }
        let len = op.len();
        let ctx = format!("append {} bytes to segment {}", len, a.seg.id);
        if let Err(e) = self.engine.write_batch(&a.seg.file, std::slice::from_ref(op), true) {
            a.seg.info.lock().unwrap_or_else(|e| e.into_inner()).state = SegmentState::Retired;
            return Err(StoreError::io(ctx, e));
        }
        a.write_at += len;
        a.records += *pending;
        a.seg.info.lock().unwrap_or_else(|e| e.into_inner()).used = a.write_at;
        op.bufs.clear();
        *pending = 0;
        Ok(())
    }

    /// Creates, preallocates and registers the next segment.
    fn create(&self) -> Result<Active, StoreError> {
        create_dir_durable(self.engine.as_ref(), &self.dir)?;
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            let id = SegmentId(*next);
            *next += 1;
            id
        };
        write_high_water(self.engine.as_ref(), &self.dir, id)?;
        let path = self.path_of(id);
        let ctx = |what: &str| format!("{what} segment {id}");
        let file = self.engine.create_new(&path).map_err(|e| StoreError::io(ctx("create"), e))?;
        let setup = || -> Result<(), StoreError> {
            preallocate(&file, self.capacity).map_err(|e| StoreError::io(ctx("preallocate"), e))?;
            let header = FileHeader { segment: id, capacity: self.capacity, created_at: Timestamp::now().0 };
            let op = WriteOp { offset: 0, bufs: vec![Bytes::copy_from_slice(&header.encode())] };
            self.engine.write_batch(&file, &[op], true).map_err(|e| StoreError::io(ctx("write the header of"), e))?;
            sync_dir(self.engine.as_ref(), &self.dir)
        };
        if let Err(e) = setup() {
            drop(file);
            let _ = self.engine.remove_file(&path);
            return Err(e);
        }
        let info = SegmentInfo { id, used: FILE_HEADER_LEN as u64, state: SegmentState::Active };
        let seg = Arc::new(SegmentFile { id, file, path, info: Mutex::new(info) });
        self.files.write().unwrap_or_else(|e| e.into_inner()).insert(id, seg.clone());
        tracing::debug!(segment = %id, "created segment");
        Ok(Active { seg, write_at: FILE_HEADER_LEN as u64, records: 0 })
    }

    /// Writes the trailer at the cursor, syncs, truncates the preallocated tail, syncs again.
    pub(crate) fn seal(&self, a: &Active) -> Result<(), StoreError> {
        let r = seal_file(&self.engine, &a.seg, a.write_at, a.records);
        if r.is_err() {
            a.seg.info.lock().unwrap_or_else(|e| e.into_inner()).state = SegmentState::Retired;
        }
        r
    }

    /// Seals the active segment now (shutdown, tests); the next append starts a new one.
    pub fn seal_active(&self) -> Result<(), StoreError> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        match active.take() {
            Some(a) => self.seal(&a),
            None => Ok(()),
        }
    }

    /// The segment appends currently go to, if any.
    pub fn active_id(&self) -> Option<SegmentId> {
        self.active.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|a| a.seg.id)
    }
}

/// Records `id` as the highest segment number used (temp file, fsync, rename, dir fsync).
fn write_high_water(engine: &dyn IoEngine, dir: &std::path::Path, id: SegmentId) -> Result<(), StoreError> {
    let tmp = dir.join("HIGHWATER.tmp");
    let ctx = |e| StoreError::io(format!("record segment number {id}"), e);
    match engine.remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(ctx(e)),
        _ => {}
    }
    let f = engine.create_new(&tmp).map_err(ctx)?;
    let op = WriteOp { offset: 0, bufs: vec![Bytes::from(format!("{}\n", id.0))] };
    engine.write_batch(&f, &[op], true).map_err(ctx)?;
    engine.rename(&tmp, &dir.join("HIGHWATER")).map_err(ctx)?;
    sync_dir(engine, dir)
}

/// Seals `seg` at `used` (shared with recovery).
pub(super) fn seal_file(
    engine: &Arc<dyn crate::store::io::IoEngine>,
    seg: &SegmentFile,
    used: u64,
    records: u64,
) -> Result<(), StoreError> {
    let trailer = Trailer { segment: seg.id, used, records, sealed_at: Timestamp::now().0 };
    let ctx = |what: &str| format!("{what} segment {}", seg.id);
    let op = WriteOp { offset: used, bufs: vec![Bytes::copy_from_slice(&trailer.encode())] };
    engine.write_batch(&seg.file, &[op], true).map_err(|e| StoreError::io(ctx("write the trailer of"), e))?;
    engine.set_len(&seg.file, used + TRAILER_LEN as u64).map_err(|e| StoreError::io(ctx("truncate"), e))?;
    engine.sync_all(&seg.file).map_err(|e| StoreError::io(ctx("sync"), e))?;
    let mut info = seg.info.lock().unwrap_or_else(|e| e.into_inner());
    info.used = used;
    info.state = SegmentState::Sealed;
    tracing::debug!(segment = %seg.id, used, records, "sealed segment");
    Ok(())
}
