//! Segment file framing: the file header, blob records and the seal trailer. Pure encode/decode.
//!
//! Every structure starts with a magic and a version and ends its header with a CRC-32C, so a
//! decoder can tell "not written yet", "torn" and "corrupt" apart without trusting anything it
//! read. Decoders never panic on arbitrary bytes (fuzzed by `fuzz/fuzz_targets/record_decode.rs`
//! through the scans of `store::segment::scan`, which recovery and reads run; the proptest
//! mirrors are in `store::segment::scan_check`). Byte tables: docs/FORMAT.md.

use crate::ids::{AttachmentId, SegmentId, Sha256Digest};

/// Size of the segment file header at offset 0.
pub const FILE_HEADER_LEN: usize = 64;
/// Size of a record header; the payload follows it directly.
pub const RECORD_HEADER_LEN: usize = 72;
/// Size of the trailer a sealed segment ends with.
pub const TRAILER_LEN: usize = 64;

const FILE_MAGIC: &[u8; 8] = b"ATDSEGMT";
const RECORD_MAGIC: &[u8; 4] = b"ATDR";
const TRAILER_MAGIC: &[u8; 8] = b"ATDSEAL!";
/// The only format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
const RECORD_VERSION: u8 = 1;
const KIND_BLOB: u8 = 1;

/// Why bytes did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("truncated")]
    Truncated,
    /// Wrong magic: not this structure (or never written, e.g. zeros).
    #[error("bad magic")]
    BadMagic,
    /// A version this build does not know.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u16),
    /// The header's CRC-32C does not match.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// The payload's CRC-32C does not match.
    #[error("payload checksum mismatch")]
    PayloadChecksum,
    /// A field holds an impossible value.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
}

/// The 64-byte header at the start of every segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// The segment's number.
    pub segment: SegmentId,
    /// The size the file was preallocated to.
    pub capacity: u64,
    /// When the segment was created (µs since the epoch).
    pub created_at: u64,
}

impl FileHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..8].copy_from_slice(FILE_MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.segment.0.to_le_bytes());
        b[24..32].copy_from_slice(&self.capacity.to_le_bytes());
        b[32..40].copy_from_slice(&self.created_at.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let b = b.get(..FILE_HEADER_LEN).ok_or(DecodeError::Truncated)?;
        if &b[0..8] != FILE_MAGIC {
            return Err(DecodeError::BadMagic);
        }
        check_crc(b, 60)?;
        let version = le_u16(&b[8..10]);
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        Ok(Self {
            segment: SegmentId(le_u64(&b[16..24])),
            capacity: le_u64(&b[24..32]),
            created_at: le_u64(&b[32..40]),
        })
    }
}

/// The 72-byte header in front of every stored blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Whose bytes these are.
    pub id: AttachmentId,
    /// Payload length in bytes.
    pub len: u64,
    /// SHA-256 of the payload (what the client declared and the upload verified).
    pub sha256: Sha256Digest,
    /// CRC-32C of the payload: cheap to check on every read and during recovery.
    pub payload_crc: u32,
}

impl RecordHeader {
    /// Total bytes this record occupies in the segment (header + payload).
    pub fn record_len(&self) -> u64 {
        (RECORD_HEADER_LEN as u64).saturating_add(self.len)
    }

    /// Encodes the header.
    pub fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut b = [0u8; RECORD_HEADER_LEN];
        b[0..4].copy_from_slice(RECORD_MAGIC);
        b[4] = RECORD_VERSION;
        b[5] = KIND_BLOB;
        b[8..24].copy_from_slice(self.id.as_bytes());
        b[24..32].copy_from_slice(&self.len.to_le_bytes());
        b[32..64].copy_from_slice(&self.sha256.0);
        b[64..68].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32c::crc32c(&b[..68]);
        b[68..72].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a record header (not the payload: see [`RecordHeader::check_payload`]).
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let b = b.get(..RECORD_HEADER_LEN).ok_or(DecodeError::Truncated)?;
        if &b[0..4] != RECORD_MAGIC {
            return Err(DecodeError::BadMagic);
        }
        check_crc(b, 68)?;
        if b[4] != RECORD_VERSION {
            return Err(DecodeError::UnsupportedVersion(b[4] as u16));
        }
        if b[5] != KIND_BLOB {
            return Err(DecodeError::Invalid("record kind"));
        }
        let mut sha = [0u8; 32];
        sha.copy_from_slice(&b[32..64]);
        Ok(Self {
            id: AttachmentId::from_slice(&b[8..24]).ok_or(DecodeError::Truncated)?,
            len: le_u64(&b[24..32]),
            sha256: Sha256Digest(sha),
            payload_crc: le_u32(&b[64..68]),
        })
    }

    /// Checks a payload against this header's length and CRC-32C.
    pub fn check_payload(&self, payload: &[u8]) -> Result<(), DecodeError> {
        if payload.len() as u64 != self.len {
            return Err(DecodeError::Truncated);
        }
        if crc32c::crc32c(payload) != self.payload_crc {
            return Err(DecodeError::PayloadChecksum);
        }
        Ok(())
    }
}

/// The 64-byte trailer that seals a segment; the file is truncated right after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// The segment's number (must match the file header).
    pub segment: SegmentId,
    /// Offset where the trailer starts = bytes of header + records.
    pub used: u64,
    /// Records in the segment.
    pub records: u64,
    /// When the segment was sealed (µs since the epoch).
    pub sealed_at: u64,
}

impl Trailer {
    /// Encodes the trailer.
    pub fn encode(&self) -> [u8; TRAILER_LEN] {
        let mut b = [0u8; TRAILER_LEN];
        b[0..8].copy_from_slice(TRAILER_MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.segment.0.to_le_bytes());
        b[24..32].copy_from_slice(&self.used.to_le_bytes());
        b[32..40].copy_from_slice(&self.records.to_le_bytes());
        b[40..48].copy_from_slice(&self.sealed_at.to_le_bytes());
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a trailer.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let b = b.get(..TRAILER_LEN).ok_or(DecodeError::Truncated)?;
        if &b[0..8] != TRAILER_MAGIC {
            return Err(DecodeError::BadMagic);
        }
        check_crc(b, 60)?;
        let version = le_u16(&b[8..10]);
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let t = Self {
            segment: SegmentId(le_u64(&b[16..24])),
            used: le_u64(&b[24..32]),
            records: le_u64(&b[32..40]),
            sealed_at: le_u64(&b[40..48]),
        };
        if t.used < FILE_HEADER_LEN as u64 {
            return Err(DecodeError::Invalid("trailer offset"));
        }
        Ok(t)
    }
}

fn check_crc(b: &[u8], at: usize) -> Result<(), DecodeError> {
    if crc32c::crc32c(&b[..at]) == le_u32(&b[at..at + 4]) { Ok(()) } else { Err(DecodeError::HeaderChecksum) }
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}
fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}
fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: [u8; 16], payload: &[u8]) -> Vec<u8> {
        let h = RecordHeader {
            id: AttachmentId::from_bytes(id),
            len: payload.len() as u64,
            sha256: Sha256Digest([7; 32]),
            payload_crc: crc32c::crc32c(payload),
        };
        let mut v = h.encode().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn headers_round_trip() {
        let fh = FileHeader { segment: SegmentId(9), capacity: 1 << 20, created_at: 42 };
        assert_eq!(FileHeader::decode(&fh.encode()), Ok(fh));
        let t = Trailer { segment: SegmentId(9), used: 4096, records: 3, sealed_at: 7 };
        assert_eq!(Trailer::decode(&t.encode()), Ok(t));
    }

    #[test]
    fn zeros_are_not_a_record() {
        assert_eq!(RecordHeader::decode(&[0u8; 100]), Err(DecodeError::BadMagic));
    }

    #[test]
    fn a_flipped_payload_bit_is_detected() {
        let mut r = record([1; 16], b"hello bytes");
        let last = r.len() - 1;
        r[last] ^= 1;
        let h = RecordHeader::decode(&r).unwrap();
        assert_eq!(h.check_payload(&r[RECORD_HEADER_LEN..]), Err(DecodeError::PayloadChecksum));
        assert_eq!(h.check_payload(&r[RECORD_HEADER_LEN + 1..]), Err(DecodeError::Truncated));
    }
}
