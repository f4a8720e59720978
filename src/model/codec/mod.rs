//! The stored form of an [`Attachment`] record: written as version 2, read as version 1 or 2.
//! Both backends keep records in this form (the local index's `records` family, the
//! `attachments.record` column on PostgreSQL), so a record moves between them unchanged.
//!
//! Version 1 (0.1.0) held seed 000's fields only; it is read into the neutral model (its event
//! ids become parents, its user the owner) and rewritten as version 2 the next time the record
//! changes. Byte tables of both in docs/FORMAT.md. Decoding never panics on arbitrary bytes.
//!
//! ```text
//! v2:  version=2 | flags | id 16 | project 16 | size u64 | created u64 | expires u64 | sha256 32
//!      | [app 16] | [uploaded u64] | [deleted u64] | [location] | [md5 16] | scan | retention
//!      | parents: n u8, (kind u8, 1 uuid 16 | 2 text str)×n | [owner str] | [uploader str]
//!      | filename str | content type str | extras u8 | [title] [description] [category]
//!      | [status] [external id] str each | [edited u64] | tags: n u8, str×n
//!                                                                 (str: u16 BE len, UTF-8)
//! ```

use uuid::Uuid;

pub mod v1;

use crate::clock::Timestamp;
use crate::ids::{AppId, AttachmentId, EndUserId, ProjectId, SegmentId, Sha256Digest, UserId};
use crate::model::{
    Attachment, Digests, Location, Md5Digest, Metadata, ParentId, ParentKind, ParentRef, Retention, ScanState,
};

/// The version [`encode`] writes.
pub const VERSION: u8 = 2;

const F_DEV: u8 = 1;
const F_APP: u8 = 1 << 1;
const F_OWNER: u8 = 1 << 2;
const F_UPLOADER: u8 = 1 << 3;
const F_UPLOADED: u8 = 1 << 4;
const F_DELETED: u8 = 1 << 5;
const F_LOCATION: u8 = 1 << 6;
const F_MD5: u8 = 1 << 7;
/// Extras bit: the edit time (u64) follows the extra strings.
const X_EDITED: u8 = 1 << 5;

/// Encodes a record (version 2).
pub fn encode(rec: &Attachment) -> Vec<u8> {
    let flags = flags(&[
        (rec.is_dev, F_DEV),
        (rec.app_id.is_some(), F_APP),
        (rec.owner.is_some(), F_OWNER),
        (rec.uploader.is_some(), F_UPLOADER),
        (rec.uploaded_at.is_some(), F_UPLOADED),
        (rec.deleted_at.is_some(), F_DELETED),
        (rec.location.is_some(), F_LOCATION),
        (rec.digests.md5.is_some(), F_MD5),
    ]);
    let m = &rec.meta;
    let mut b = Vec::with_capacity(180 + m.original_filename.len() + m.content_type.len());
    b.push(VERSION);
    b.push(flags);
    b.extend_from_slice(rec.id.as_bytes());
    b.extend_from_slice(rec.project_id.as_bytes());
    for n in [rec.size_bytes, rec.created_at.0, rec.expires_at.0] {
        b.extend_from_slice(&n.to_be_bytes());
    }
    b.extend_from_slice(&rec.digests.sha256.0);
    if let Some(a) = rec.app_id {
        b.extend_from_slice(a.as_bytes());
    }
    for t in [rec.uploaded_at, rec.deleted_at].into_iter().flatten() {
        b.extend_from_slice(&t.0.to_be_bytes());
    }
    if let Some(loc) = rec.location {
        put_location(&mut b, loc);
    }
    if let Some(md5) = rec.digests.md5 {
        b.extend_from_slice(&md5.0);
    }
    match &rec.scan {
        ScanState::NotScanned => b.push(0),
        ScanState::Pending => b.push(1),
        ScanState::Clean => b.push(2),
        ScanState::Infected(what) => {
            b.push(3);
            put_str(&mut b, what);
        }
        ScanState::Failed(why) => {
            b.push(4);
            put_str(&mut b, why);
        }
    }
    match rec.retention {
        Retention::Kept => b.push(0),
        Retention::Until(t) => {
            b.push(1);
            b.extend_from_slice(&t.0.to_be_bytes());
        }
    }
    b.push(rec.parents.len().min(u8::MAX as usize) as u8);
    for p in rec.parents.iter().take(u8::MAX as usize) {
        b.push(p.kind.tag());
        match &p.id {
            ParentId::Uuid(u) => {
                b.push(1);
                b.extend_from_slice(u.as_bytes());
            }
            ParentId::Text(s) => {
                b.push(2);
                put_str(&mut b, s);
            }
        }
    }
    for s in [rec.owner.as_ref().map(|o| &o.0), rec.uploader.as_ref().map(|u| &u.0)].into_iter().flatten() {
        put_str(&mut b, s);
    }
    put_str(&mut b, &m.original_filename);
    put_str(&mut b, &m.content_type);
    let extras = [&m.title, &m.description, &m.category, &m.status, &m.external_id];
    let bits = extras.iter().enumerate().fold(0u8, |acc, (i, e)| if e.is_some() { acc | 1 << i } else { acc });
    b.push(bits | if m.edited_at.is_some() { X_EDITED } else { 0 });
    for e in extras.into_iter().flatten() {
        put_str(&mut b, e);
    }
    if let Some(t) = m.edited_at {
        b.extend_from_slice(&t.0.to_be_bytes());
    }
    b.push(m.tags.len().min(u8::MAX as usize) as u8);
    for t in m.tags.iter().take(u8::MAX as usize) {
        put_str(&mut b, t);
    }
    b
}

/// The flags byte: each bit whose condition holds.
fn flags(bits: &[(bool, u8)]) -> u8 {
    bits.iter().filter(|(cond, _)| *cond).fold(0, |acc, (_, f)| acc | f)
}

/// Appends a location: its tag, then its fields (the same layout in both versions).
fn put_location(b: &mut Vec<u8>, loc: Location) {
    match loc {
        Location::Segment { segment, offset } => {
            b.push(1);
            b.extend_from_slice(&segment.0.to_be_bytes());
            b.extend_from_slice(&offset.to_be_bytes());
        }
        Location::Standalone { month, crc32c: None } => {
            b.push(2);
            b.extend_from_slice(&month.to_be_bytes());
        }
        Location::Standalone { month, crc32c: Some(crc) } => {
            b.push(3);
            b.extend_from_slice(&month.to_be_bytes());
            b.extend_from_slice(&crc.to_be_bytes());
        }
    }
}

/// Decodes a record of either version.
pub fn decode(b: &[u8]) -> Result<Attachment, String> {
    let rec = match b.first() {
        Some(1) => v1::decode(b)?,
        Some(2) => decode_v2(b)?,
        Some(v) => return Err(format!("unsupported record version {v}")),
        None => return Err("empty record".into()),
    };
    Ok(rec)
}

fn decode_v2(b: &[u8]) -> Result<Attachment, String> {
    let mut r = Reader { b, at: 1 };
    let flags = r.u8()?;
    let has = |f: u8| flags & f != 0;
    let id = AttachmentId::from_bytes(r.arr()?);
    let project_id = ProjectId::from_bytes(r.arr()?);
    let (size_bytes, created_at, expires_at) = (r.u64()?, Timestamp(r.u64()?), Timestamp(r.u64()?));
    let sha256 = Sha256Digest(r.arr()?);
    let app_id = if has(F_APP) { Some(AppId::from_bytes(r.arr()?)) } else { None };
    let uploaded_at = if has(F_UPLOADED) { Some(Timestamp(r.u64()?)) } else { None };
    let deleted_at = if has(F_DELETED) { Some(Timestamp(r.u64()?)) } else { None };
    let location = if has(F_LOCATION) { Some(r.location()?) } else { None };
    let md5 = if has(F_MD5) { Some(Md5Digest(r.arr()?)) } else { None };
    let scan = match r.u8()? {
        0 => ScanState::NotScanned,
        1 => ScanState::Pending,
        2 => ScanState::Clean,
        3 => ScanState::Infected(r.string()?),
        4 => ScanState::Failed(r.string()?),
        t => return Err(format!("unknown scan state {t}")),
    };
    let retention = match r.u8()? {
        0 => Retention::Kept,
        1 => Retention::Until(Timestamp(r.u64()?)),
        t => return Err(format!("unknown retention {t}")),
    };
    let mut parents = Vec::new();
    for _ in 0..r.u8()? {
        let kind = ParentKind::from_tag(r.u8()?).ok_or("unknown parent kind")?;
        let id = match r.u8()? {
            1 => ParentId::Uuid(Uuid::from_bytes(r.arr()?)),
            2 => ParentId::Text(r.string()?),
            t => return Err(format!("unknown parent id tag {t}")),
        };
        parents.push(ParentRef { kind, id });
    }
    let owner = if has(F_OWNER) { Some(EndUserId(r.string()?)) } else { None };
    let uploader = if has(F_UPLOADER) { Some(UserId(r.string()?)) } else { None };
    let mut meta = Metadata { original_filename: r.string()?, content_type: r.string()?, ..Default::default() };
    let extras = r.u8()?;
    for (i, slot) in
        [&mut meta.title, &mut meta.description, &mut meta.category, &mut meta.status, &mut meta.external_id]
            .into_iter()
            .enumerate()
    {
        if extras & (1 << i) != 0 {
            *slot = Some(r.string()?);
        }
    }
    if extras & !(X_EDITED | 0x1f) != 0 {
        return Err(format!("unknown extras bits {extras:#04x}"));
    }
    if extras & X_EDITED != 0 {
        meta.edited_at = Some(Timestamp(r.u64()?));
    }
    for _ in 0..r.u8()? {
        meta.tags.push(r.string()?);
    }
    r.finish()?;
    Ok(Attachment {
        id,
        project_id,
        app_id,
        parents,
        owner,
        uploader,
        meta,
        size_bytes,
        digests: Digests { sha256, md5 },
        scan,
        retention,
        is_dev: has(F_DEV),
        created_at,
        expires_at,
        uploaded_at,
        deleted_at,
        location,
    })
}

/// Appends `s` with its u16 length, cut (at a character boundary) to 65,535 bytes.
fn put_str(b: &mut Vec<u8>, s: &str) {
    let mut len = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    b.extend_from_slice(&(len as u16).to_be_bytes());
    b.extend_from_slice(&s.as_bytes()[..len]);
}

/// A cursor over a stored record.
struct Reader<'a> {
    pub b: &'a [u8],
    pub at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("truncated record")?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.arr()?))
    }
    pub fn string(&mut self) -> Result<String, String> {
        let len = u16::from_be_bytes(self.arr()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }
    pub fn location(&mut self) -> Result<Location, String> {
        Ok(match self.u8()? {
            1 => Location::Segment { segment: SegmentId(self.u64()?), offset: self.u64()? },
            2 => Location::Standalone { month: u32::from_be_bytes(self.arr()?), crc32c: None },
            3 => Location::Standalone {
                month: u32::from_be_bytes(self.arr()?),
                crc32c: Some(u32::from_be_bytes(self.arr()?)),
            },
            t => return Err(format!("unknown location tag {t}")),
        })
    }
    pub fn finish(&self) -> Result<(), String> {
        if self.at != self.b.len() { Err("trailing bytes".into()) } else { Ok(()) }
    }
}
