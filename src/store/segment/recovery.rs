//! Opening the segment directory after a clean stop or a crash.
//!
//! For each `*.seg` file: a valid trailer at the end of the file means sealed. Otherwise the
//! file was active (or retired) when the process stopped: its records are scanned from the
//! header, the scan stops at the first record that is torn, corrupt or never written, and the
//! segment is sealed there (trailer written, preallocated tail truncated). Bytes past that
//! point were never acknowledged, because the index is written only after a record is synced.
//! A file whose header never made it to disk is removed; one with a damaged header is renamed
//! `*.corrupt` and left for an operator. New appends always start a fresh segment. The scans
//! themselves live in `scan.rs`, over a read trait, so they are fuzzed on plain bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use crate::ids::SegmentId;
use crate::store::format::{DecodeError, FILE_HEADER_LEN, FileHeader, TRAILER_LEN, Trailer};
use crate::store::io::IoEngine;
use crate::store::{StoreError, create_dir_durable};

use super::scan::{find_record_after, scan_tail};
use super::write::seal_file;
use super::{SegmentFile, SegmentInfo, SegmentState, Segments};

impl Segments {
    /// Opens every segment in `dir`, sealing any that a crash left open.
    pub fn open(dir: &Path, engine: Arc<dyn IoEngine>, capacity: u64) -> Result<Self, StoreError> {
        create_dir_durable(engine.as_ref(), dir)?;
        let mut files = BTreeMap::new();
        let mut max_id = 0u64;
        let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io(format!("list {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(format!("list {}", dir.display()), e))?;
            let name = entry.file_name();
            let Some(id) =
                name.to_str().and_then(|n| n.strip_suffix(".seg")).and_then(|h| u64::from_str_radix(h, 16).ok())
            else {
                continue;
            };
            if id >= u64::MAX / 2 {
                tracing::error!(file = ?name, "ignoring a segment file with an impossible number");
                continue;
            }
            max_id = max_id.max(id);
            if let Some(seg) = open_one(&entry.path(), SegmentId(id), &engine)? {
                files.insert(SegmentId(id), Arc::new(seg));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            engine,
            capacity,
            files: RwLock::new(files),
            active: Mutex::new(None),
            next_id: Mutex::new(max_id.max(read_high_water(dir)) + 1),
        })
    }
}

fn open_one(path: &Path, id: SegmentId, engine: &Arc<dyn IoEngine>) -> Result<Option<SegmentFile>, StoreError> {
    let ctx = |what: &str| format!("{what} segment {id}");
    let file = File::options().read(true).write(true).open(path).map_err(|e| StoreError::io(ctx("open"), e))?;
    let len = file.metadata().map_err(|e| StoreError::io(ctx("stat"), e))?.len();
    let mut hb = [0u8; FILE_HEADER_LEN];
    let header = if len >= FILE_HEADER_LEN as u64 {
        file.read_exact_at(&mut hb, 0).map_err(|e| StoreError::io(ctx("read the header of"), e))?;
        FileHeader::decode(&hb)
    } else {
        Err(DecodeError::Truncated)
    };
    match header {
        Ok(h) if h.segment == id => {}
        Err(DecodeError::Truncated) | Err(DecodeError::BadMagic)
            if hb.iter().all(|&b| b == 0)
                && find_record_after(&file, 0, len).map_err(|e| StoreError::io(ctx("scan"), e))?.is_none() =>
        {
            // Created but the header never reached the disk, and no record either: nothing can
            // point into it. (A zeroed header in front of records is damage: moved aside below.)
            tracing::info!(segment = %id, "removing a segment whose creation did not complete");
            engine.remove_file(path).map_err(|e| StoreError::io(ctx("remove"), e))?;
            return Ok(None);
        }
        other => {
            let corrupt = path.with_extension("corrupt");
            tracing::error!(segment = %id, header = ?other, "segment header is damaged; moved aside as {}", corrupt.display());
            engine.rename(path, &corrupt).map_err(|e| StoreError::io(ctx("move aside"), e))?;
            return Ok(None);
        }
    }
    if let Some(t) = read_trailer(&file, len).filter(|t| t.segment == id && t.used + TRAILER_LEN as u64 == len) {
        let info = SegmentInfo { id, used: t.used, state: SegmentState::Sealed };
        return Ok(Some(SegmentFile { id, file, path: path.to_path_buf(), info: Mutex::new(info) }));
    }
    let (used, records) = scan_tail(&file, len).map_err(|e| StoreError::io(ctx("scan"), e))?;
    if let Some(next) = find_record_after(&file, used, len).map_err(|e| StoreError::io(ctx("scan"), e))? {
        // Not a torn tail: damaged bytes with whole records after them. Cutting here could
        // destroy acknowledged records, so the segment is kept as it is, read-only and never
        // compacted, for `attachd fsck` and an operator.
        tracing::error!(segment = %id, damaged_from = used, next_record = next, "segment has damaged bytes followed by valid records; keeping it read-only");
        let info = SegmentInfo { id, used, state: SegmentState::Damaged };
        return Ok(Some(SegmentFile { id, file, path: path.to_path_buf(), info: Mutex::new(info) }));
    }
    tracing::info!(segment = %id, used, records, "recovered an unsealed segment; cutting it after its last whole record");
    let info = SegmentInfo { id, used, state: SegmentState::Retired };
    let seg = SegmentFile { id, file, path: path.to_path_buf(), info: Mutex::new(info) };
    seal_file(engine, &seg, used, records)?;
    Ok(Some(seg))
}

fn read_trailer(file: &File, len: u64) -> Option<Trailer> {
    if len < (FILE_HEADER_LEN + TRAILER_LEN) as u64 {
        return None;
    }
    let mut tb = [0u8; TRAILER_LEN];
    file.read_exact_at(&mut tb, len - TRAILER_LEN as u64).ok()?;
    Trailer::decode(&tb).ok()
}

/// The highest segment number ever created here (kept in `HIGHWATER`, so numbers are never
/// reused even after compaction removed the newest files).
fn read_high_water(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("HIGHWATER"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n| n < u64::MAX / 2)
        .unwrap_or(0)
}
