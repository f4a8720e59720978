//! Scanning segment bytes for records: what recovery runs to find where a crashed segment's
//! records end, whether whole records follow damage, and what a read checks before it returns a
//! byte.
//!
//! Everything here reads through [`ReadAt`], implemented by `File` (production) and by a byte
//! slice (the `segment_tail` and `record_decode` fuzz targets and their proptest mirrors in
//! `scan_check.rs`), so the fuzzers exercise exactly the functions recovery and reads call.
//! Nothing here panics on arbitrary bytes, and nothing allocates more than the source holds.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;

use crate::ids::AttachmentId;
use crate::store::format::{DecodeError, FILE_HEADER_LEN, RECORD_HEADER_LEN, RecordHeader};

/// Positioned reads: a segment file, or bytes standing in for one.
pub trait ReadAt {
    /// Fills `buf` from `offset`; an error if the source ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|start| self.get(start..start.checked_add(buf.len())?))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// The chunk [`find_record_after`] reads at a time.
pub const SEARCH_CHUNK: usize = 4 << 20;

/// Walks records from the file header; returns (end of the last valid record, record count).
/// The walk stops at the first record that is torn, corrupt or never written, or at `len`.
pub fn scan_tail<R: ReadAt + ?Sized>(src: &R, len: u64) -> std::io::Result<(u64, u64)> {
    let mut reader = BufReader::with_capacity(SEARCH_CHUNK.min(len as usize).max(1), Sequential { src, at: 0, len });
    let mut skip = [0u8; FILE_HEADER_LEN];
    reader.read_exact(&mut skip)?;
    let mut at = FILE_HEADER_LEN as u64;
    let mut records = 0u64;
    let mut hb = [0u8; RECORD_HEADER_LEN];
    let mut payload = Vec::new();
    loop {
        if at + RECORD_HEADER_LEN as u64 > len || reader.read_exact(&mut hb).is_err() {
            break;
        }
        let Ok(h) = RecordHeader::decode(&hb) else {
            break;
        };
        if at.checked_add(h.record_len()).is_none_or(|end| end > len) {
            break;
        }
        payload.resize(h.len as usize, 0);
        if reader.read_exact(&mut payload).is_err() || h.check_payload(&payload).is_err() {
            break;
        }
        at += h.record_len();
        records += 1;
    }
    Ok((at, records))
}

/// Offset of the first valid record (header and payload checksums) that starts after `from`,
/// if any. Reads the rest of the source once; an unwritten preallocated tail is zeros and holds
/// no candidate.
pub fn find_record_after<R: ReadAt + ?Sized>(src: &R, from: u64, len: u64) -> std::io::Result<Option<u64>> {
    find_record_after_in_chunks(src, from, len, SEARCH_CHUNK)
}

/// [`find_record_after`] reading `chunk` bytes at a time (at least 4): small chunks let tests
/// and fuzzers cross chunk boundaries on small inputs.
pub fn find_record_after_in_chunks<R: ReadAt + ?Sized>(
    src: &R,
    from: u64,
    len: u64,
    chunk: usize,
) -> std::io::Result<Option<u64>> {
    let chunk = chunk.max(4);
    let mut base = from.saturating_add(1);
    let mut buf = vec![0u8; (len.saturating_sub(base) as usize).min(chunk)];
    while base < len {
        let n = ((len - base) as usize).min(chunk);
        src.read_exact_at(&mut buf[..n], base)?;
        for i in 0..n.saturating_sub(3) {
            if &buf[i..i + 4] == b"ATDR" && record_at(src, base + i as u64, len)?.is_some() {
                return Ok(Some(base + i as u64));
            }
        }
        if base + n as u64 >= len {
            break;
        }
        // Overlap by three bytes so a magic split across chunks is still seen.
        base += (n as u64).saturating_sub(3).max(1);
    }
    Ok(None)
}

/// The length of the valid record (header plus payload) at `at`, if there is one.
pub fn record_at<R: ReadAt + ?Sized>(src: &R, at: u64, len: u64) -> std::io::Result<Option<u64>> {
    let mut hb = [0u8; RECORD_HEADER_LEN];
    if at.saturating_add(RECORD_HEADER_LEN as u64) > len {
        return Ok(None);
    }
    src.read_exact_at(&mut hb, at)?;
    let Ok(h) = RecordHeader::decode(&hb) else { return Ok(None) };
    if at.checked_add(h.record_len()).is_none_or(|end| end > len) {
        return Ok(None);
    }
    let mut payload = vec![0u8; h.len as usize];
    src.read_exact_at(&mut payload, at + RECORD_HEADER_LEN as u64)?;
    Ok(h.check_payload(&payload).is_ok().then(|| h.record_len()))
}

/// Why the bytes read for a record are not the record the index expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordMismatch {
    /// The header does not decode.
    #[error("record header: {0}")]
    Header(DecodeError),
    /// A valid header, but of another attachment or length (a misdirected read).
    #[error("record is {id} ({len} bytes)")]
    Other {
        /// Whose record it is.
        id: AttachmentId,
        /// Its payload length.
        len: u64,
    },
    /// The payload does not match the header's length and CRC-32C.
    #[error("payload: {0}")]
    Payload(DecodeError),
}

/// Checks `buf` (a record header followed by its payload, as a read returns them) against the
/// attachment and length the index expects. The read path calls this before returning a byte.
pub fn verify_record(buf: &[u8], id: AttachmentId, len: u64) -> Result<RecordHeader, RecordMismatch> {
    let header = RecordHeader::decode(buf).map_err(RecordMismatch::Header)?;
    if header.id != id || header.len != len {
        return Err(RecordMismatch::Other { id: header.id, len: header.len });
    }
    header.check_payload(&buf[RECORD_HEADER_LEN..]).map_err(RecordMismatch::Payload)?;
    Ok(header)
}

/// A `Read` over a [`ReadAt`] source, from 0 to `len`, for the buffered walk of [`scan_tail`].
struct Sequential<'a, R: ?Sized> {
    src: &'a R,
    at: u64,
    len: u64,
}

impl<R: ReadAt + ?Sized> Read for Sequential<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.len.saturating_sub(self.at)).min(buf.len() as u64) as usize;
        self.src.read_exact_at(&mut buf[..n], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Sha256Digest;

    pub(super) fn record(id: u8, payload: &[u8]) -> Vec<u8> {
        let h = RecordHeader {
            id: AttachmentId::from_bytes([id; 16]),
            len: payload.len() as u64,
            sha256: Sha256Digest([7; 32]),
            payload_crc: crc32c::crc32c(payload),
        };
        let mut v = h.encode().to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn file_of(records: &[Vec<u8>]) -> Vec<u8> {
        let mut f = vec![0u8; FILE_HEADER_LEN];
        for r in records {
            f.extend_from_slice(r);
        }
        f
    }

    #[test]
    fn zeros_hold_no_record() {
        let f = vec![0u8; 500];
        assert_eq!(scan_tail(&f[..], 500).unwrap(), (FILE_HEADER_LEN as u64, 0));
        assert_eq!(find_record_after(&f[..], 0, 500).unwrap(), None);
    }

    #[test]
    fn scan_stops_at_a_torn_tail() {
        let first = record(1, b"first");
        let second = record(2, b"second record");
        let mut f = file_of(std::slice::from_ref(&first));
        f.extend_from_slice(&second[..second.len() - 3]);
        let end = (FILE_HEADER_LEN + first.len()) as u64;
        assert_eq!(scan_tail(&f[..], f.len() as u64).unwrap(), (end, 1));
        assert_eq!(find_record_after(&f[..], end, f.len() as u64).unwrap(), None);
    }

    #[test]
    fn a_flipped_payload_bit_stops_the_scan_and_the_next_record_is_found() {
        let (a, b) = (record(1, b"hello bytes"), record(2, b"after the damage"));
        let mut f = file_of(&[a.clone(), b]);
        f[FILE_HEADER_LEN + a.len() - 1] ^= 1;
        let len = f.len() as u64;
        assert_eq!(scan_tail(&f[..], len).unwrap(), (FILE_HEADER_LEN as u64, 0));
        for chunk in [4, 5, 7, 64, SEARCH_CHUNK] {
            let next = find_record_after_in_chunks(&f[..], FILE_HEADER_LEN as u64, len, chunk).unwrap();
            assert_eq!(next, Some((FILE_HEADER_LEN + a.len()) as u64), "chunk {chunk}");
        }
    }

    #[test]
    fn verify_record_names_what_is_wrong() {
        let r = record(3, b"payload");
        let id = AttachmentId::from_bytes([3; 16]);
        assert!(verify_record(&r, id, 7).is_ok());
        assert!(matches!(verify_record(&r, AttachmentId::from_bytes([4; 16]), 7), Err(RecordMismatch::Other { .. })));
        assert!(matches!(verify_record(&r, id, 8), Err(RecordMismatch::Other { .. })));
        let mut bad = r.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(verify_record(&bad, id, 7), Err(RecordMismatch::Payload(DecodeError::PayloadChecksum)));
        assert!(matches!(verify_record(&r[..10], id, 7), Err(RecordMismatch::Header(DecodeError::Truncated))));
    }
}
