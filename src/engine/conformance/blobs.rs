//! What every [`BlobStore`] must do: a body staged in chunks is measured exactly, committed
//! with its record in one step and read back byte for byte at every size (below, at and above
//! any size a backend treats differently); a commit refuses a record that changed since it was
//! read; an aborted body leaves the reservation as it was, so the client's retry succeeds.
//! A body of unknown size (staged before its record is reserved) is measured the same way,
//! MD5 included when asked, wherever its size puts it; a commit that replaces a live record
//! retires it in the same step, and the reserve before it counts the replaced bytes as freed.
//!
//! The store's futures are driven by a runtime made here, as the service's would be.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::engine::{Access, BlobError, BlobResult, BlobStore, BodyPlan, BodySize, Commit, Durability, Opened, Staged};
use crate::ids::Sha256Digest;
use crate::model::Attachment;
use crate::model::example::reservation;

use super::{Fixture, LIMITS};

/// Sizes every store is checked at: tiny, one byte either side of 64 KiB (the suite's fixtures
/// put a backend's small/large boundary there), and several MiB in odd chunks.
pub const SIZES: [u64; 5] = [1, 65_535, 65_536, 65_537, 3 << 20 | 12_345];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Deterministic bytes for a body of `len`.
fn body(len: u64, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// A pending reservation of `payload`, recorded in the catalog.
fn reserve(f: &dyn Fixture, payload: &[u8]) -> Attachment {
    let p = f.project(None, None);
    let mut r = reservation(p, Some("u"), payload.len() as u64, Timestamp::now().0);
    r.digests.sha256 = Sha256Digest(Sha256::digest(payload).into());
    f.catalog().reserve(&r, &LIMITS, None).unwrap();
    r
}

/// Streams `payload` into a sink of `blobs` in chunks of 7,777 bytes.
async fn stage(blobs: &dyn BlobStore, rec: &Attachment, payload: &[u8]) -> Staged {
    stage_as(blobs, rec, payload, BodyPlan::exactly(payload.len() as u64)).await
}

/// As [`stage`], with a plan.
async fn stage_as(blobs: &dyn BlobStore, rec: &Attachment, payload: &[u8], plan: BodyPlan) -> Staged {
    let mut sink = blobs.stage(rec, plan).await.unwrap();
    for chunk in payload.chunks(7_777) {
        sink.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    sink.finish().await.unwrap()
}

/// Commits `staged` for `rec` (replacing nothing).
fn commit(
    rt: &tokio::runtime::Runtime,
    blobs: &dyn BlobStore,
    staged: Staged,
    rec: &Attachment,
) -> BlobResult<Attachment> {
    let commit = Commit { staged, rec: rec.clone(), now: Timestamp::now(), replaces: None, settle: false };
    rt.block_on(blobs.commit_upload(commit, Box::new(())))
}

/// Reads an uploaded record's bytes back whole.
async fn read_back(blobs: &dyn BlobStore, rec: &Attachment) -> Vec<u8> {
    match blobs.open(rec, Access::Body).await.unwrap() {
        Opened::Whole(read) => read().unwrap().to_vec(),
        Opened::Stream(reader, _) => {
            let mut out = Vec::new();
            while (out.len() as u64) < reader.len() {
                out.extend_from_slice(&reader.read_at(out.len() as u64, 100_000).unwrap());
            }
            out
        }
        Opened::Head => panic!("Access::Body opened nothing"),
        Opened::Redirect(to) => panic!("the suite's fixture serves bytes itself, not a redirect to {to}"),
        Opened::Elsewhere(to) => panic!("the suite's fixture serves bytes itself, not a redirect to {to}"),
    }
}

/// Every size: measured exactly, committed with its record, read back byte for byte.
pub fn bodies_round_trip_at_every_size(f: &dyn Fixture) {
    let (rt, blobs, cat) = (runtime(), f.blobs(), f.catalog());
    for (i, size) in SIZES.into_iter().enumerate() {
        let payload = body(size, i as u8);
        let rec = reserve(f, &payload);
        let staged = rt.block_on(stage(&*blobs, &rec, &payload));
        assert_eq!(staged.measured.len, size, "{size}: length measured");
        assert_eq!(staged.measured.sha256, rec.digests.sha256, "{size}: SHA-256 measured");
        let committed = commit(&rt, &*blobs, staged, &rec).unwrap();
        assert!(committed.uploaded_at.is_some() && committed.location.is_some(), "{size}: committed as uploaded");
        assert_eq!(cat.record(rec.id).unwrap().as_ref(), Some(&committed), "{size}: the catalog holds the commit");
        assert_eq!(cat.pending(Some(&rec.project_id)).count, 0, "{size}: no longer pending");
        assert!(rt.block_on(read_back(&*blobs, &committed)) == payload, "{size}: bytes read back differ");
        assert!(matches!(rt.block_on(blobs.open(&committed, Access::Head)), Ok(Opened::Head)));
    }
}

/// A commit refuses a record that was deleted, discarded or already uploaded since it was read.
pub fn commits_refuse_records_that_changed(f: &dyn Fixture) {
    let (rt, blobs, cat) = (runtime(), f.blobs(), f.catalog());
    for size in [10, 200_000] {
        let payload = body(size, 7);
        // Soft-deleted meanwhile.
        let rec = reserve(f, &payload);
        let staged = rt.block_on(stage(&*blobs, &rec, &payload));
        let mut gone = rec.clone();
        gone.deleted_at = Some(Timestamp::now());
        assert!(cat.update(&rec, Some(&gone), Durability::Synced).unwrap());
        let r = commit(&rt, &*blobs, staged, &rec);
        assert!(matches!(r, Err(BlobError::RecordDeleted)), "{size}: deleted meanwhile: {r:?}");
        // Discarded meanwhile.
        let rec = reserve(f, &payload);
        let staged = rt.block_on(stage(&*blobs, &rec, &payload));
        assert!(cat.update(&rec, None, Durability::Synced).unwrap());
        let r = commit(&rt, &*blobs, staged, &rec);
        assert!(matches!(r, Err(BlobError::RecordGone)), "{size}: discarded meanwhile: {r:?}");
        // Uploaded already.
        let rec = reserve(f, &payload);
        let first = rt.block_on(stage(&*blobs, &rec, &payload));
        let second = rt.block_on(stage(&*blobs, &rec, &payload));
        commit(&rt, &*blobs, first, &rec).unwrap();
        let r = commit(&rt, &*blobs, second, &rec);
        assert!(matches!(r, Err(BlobError::AlreadyUploaded)), "{size}: uploaded twice: {r:?}");
        let stored = cat.record(rec.id).unwrap().unwrap();
        assert!(rt.block_on(read_back(&*blobs, &stored)) == payload, "{size}: the first upload's bytes stand");
    }
}

/// An aborted or dropped body changes nothing: the reservation stays pending and a retry
/// commits.
pub fn aborted_bodies_leave_the_reservation_retryable(f: &dyn Fixture) {
    let (rt, blobs, cat) = (runtime(), f.blobs(), f.catalog());
    for size in [10, 200_000] {
        let payload = body(size, 3);
        let rec = reserve(f, &payload);
        rt.block_on(async {
            let mut sink = blobs.stage(&rec, BodyPlan::exactly(size)).await.unwrap();
            sink.write(Bytes::copy_from_slice(&payload[..payload.len() / 2])).await.unwrap();
            sink.abort().await;
            let mut dropped = blobs.stage(&rec, BodyPlan::exactly(size)).await.unwrap();
            dropped.write(Bytes::copy_from_slice(&payload[..1])).await.unwrap();
            drop(dropped);
            drop(stage(&*blobs, &rec, &payload).await);
        });
        assert_eq!(cat.record(rec.id).unwrap().as_ref(), Some(&rec), "{size}: still pending as reserved");
        let staged = rt.block_on(stage(&*blobs, &rec, &payload));
        let committed = commit(&rt, &*blobs, staged, &rec).unwrap();
        assert!(rt.block_on(read_back(&*blobs, &committed)) == payload, "{size}: the retry's bytes");
    }
}

/// A body of unknown size: staged before its record is reserved, measured exactly (MD5 too),
/// then reserved with what was measured and committed, at every size and whatever the bound.
pub fn unsized_bodies_round_trip(f: &dyn Fixture) {
    let (rt, blobs, cat) = (runtime(), f.blobs(), f.catalog());
    for (i, size) in SIZES.into_iter().enumerate() {
        let payload = body(size, 40 + i as u8);
        let p = f.project(None, None);
        for bound in [size, size + 1_000, 64 << 20] {
            let mut rec = reservation(p, Some("u"), 0, Timestamp::now().0);
            let plan = BodyPlan { size: BodySize::AtMost(bound), md5: true };
            let staged = rt.block_on(stage_as(&*blobs, &rec, &payload, plan));
            let m = staged.measured;
            assert_eq!((m.len, m.sha256), (size, Sha256Digest(Sha256::digest(&payload).into())), "{size}/{bound}");
            let md5: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&payload).into();
            assert_eq!(m.md5.map(|d| d.0), Some(md5), "{size}/{bound}: MD5 measured");
            rec.size_bytes = m.len;
            rec.digests.sha256 = m.sha256;
            rec.digests.md5 = m.md5;
            cat.reserve(&rec, &LIMITS, None).unwrap();
            let committed = commit(&rt, &*blobs, staged, &rec).unwrap();
            assert_eq!(committed.digests.md5, m.md5, "{size}/{bound}: the record keeps the MD5");
            assert!(rt.block_on(read_back(&*blobs, &committed)) == payload, "{size}/{bound}: bytes read back differ");
        }
    }
}

/// A commit that replaces a live record soft-deletes it in the same step; the reserve before
/// it sees the replaced bytes as freed (a full quota takes a same-size replacement); a replaced
/// record that is already deleted is left as it was.
pub fn a_commit_retires_the_record_it_replaces(f: &dyn Fixture) {
    let (rt, blobs, cat) = (runtime(), f.blobs(), f.catalog());
    for size in [100, 200_000] {
        let p = f.project(Some(size), None);
        let upload = |seed: u8, replacing: Option<&Attachment>| -> BlobResult<Attachment> {
            let payload = body(size, seed);
            let mut rec = reservation(p, Some("u"), size, Timestamp::now().0 + seed as u64);
            rec.digests.sha256 = Sha256Digest(Sha256::digest(&payload).into());
            cat.reserve(&rec, &LIMITS, replacing)?;
            let staged = rt.block_on(stage(&*blobs, &rec, &payload));
            let commit = Commit { staged, rec, now: Timestamp::now(), replaces: replacing.cloned(), settle: false };
            rt.block_on(blobs.commit_upload(commit, Box::new(())))
        };
        let first = upload(1, None).unwrap();
        assert!(upload(2, None).is_err(), "{size}: the quota holds one file only");
        let second = upload(3, Some(&first)).expect("a replacement of the same size fits the full quota");
        let retired = cat.record(first.id).unwrap().unwrap();
        assert!(retired.deleted_at.is_some(), "{size}: the replaced record is retired by the commit");
        assert!(cat.record(second.id).unwrap().unwrap().deleted_at.is_none(), "{size}: the new one is live");
        assert_eq!(cat.usage(&p, None).unwrap().bytes_u64(), size, "{size}: usage moved by the difference");
        // A record no longer live frees nothing (whatever the caller's stale copy says), and a
        // commit replacing it leaves it as it was.
        let third = upload(4, Some(&second)).unwrap();
        let retired_at = cat.record(second.id).unwrap().unwrap().deleted_at;
        assert!(upload(5, Some(&second)).is_err(), "{size}: the already-replaced record frees nothing twice");
        assert_eq!(cat.record(second.id).unwrap().unwrap().deleted_at, retired_at, "{size}: retired once");
        assert!(cat.record(third.id).unwrap().unwrap().deleted_at.is_none(), "{size}: the newest stays live");
    }
}

/// A settled commit (a reservation for at most N bytes) records the measured size and digests
/// and lowers the usage to them in the same step; the bytes read back. A body larger than the
/// reservation is refused and the reservation left as it was.
pub fn settled_commits_record_what_was_measured(f: &dyn Fixture) {
    let (rt, blobs, cat) = (runtime(), f.blobs(), f.catalog());
    for size in [10u64, 200_000] {
        let p = f.project(None, None);
        let reserved = 300_000;
        let rec = reservation(p, Some("u"), reserved, Timestamp::now().0);
        cat.reserve(&rec, &LIMITS, None).unwrap();
        assert_eq!(cat.usage(&p, None).unwrap().bytes, reserved as i64);
        let payload = body(size, 9);
        let plan = BodyPlan { size: BodySize::AtMost(reserved), md5: true };
        let staged = rt.block_on(stage_as(&*blobs, &rec, &payload, plan));
        let commit = Commit { staged, rec: rec.clone(), now: Timestamp::now(), replaces: None, settle: true };
        let done = rt.block_on(blobs.commit_upload(commit, Box::new(()))).unwrap();
        assert_eq!(done.size_bytes, size, "{size}: the measured size is recorded");
        assert_eq!(done.digests.sha256, Sha256Digest(Sha256::digest(&payload).into()));
        assert!(done.digests.md5.is_some());
        assert_eq!(cat.record(rec.id).unwrap(), Some(done.clone()));
        assert_eq!(cat.usage(&p, None).unwrap().bytes, size as i64, "{size}: usage falls to what was used");
        assert!(rt.block_on(read_back(&*blobs, &done)) == payload);
    }
    let p = f.project(None, None);
    let rec = reservation(p, Some("u"), 100, Timestamp::now().0);
    cat.reserve(&rec, &LIMITS, None).unwrap();
    let staged =
        rt.block_on(stage_as(&*blobs, &rec, &body(101, 1), BodyPlan { size: BodySize::AtMost(1000), md5: false }));
    let commit = Commit { staged, rec: rec.clone(), now: Timestamp::now(), replaces: None, settle: true };
    assert!(rt.block_on(blobs.commit_upload(commit, Box::new(()))).is_err(), "more than reserved");
    assert_eq!(cat.record(rec.id).unwrap(), Some(rec), "the reservation is left as it was");
}
