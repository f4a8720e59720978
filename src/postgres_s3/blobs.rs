//! [`S3Blobs`]: the [`BlobStore`] on an S3-compatible object store, committing through the
//! PostgreSQL catalog.
//!
//! Objects are keyed `<prefix><project>/<YYYY-MM>/<id>`, the layout of the local backend's
//! standalone files, and every record's location is `Standalone { month, crc32c }`, so a local
//! data directory migrates by copying files to keys. The durability order of a commit: the
//! bytes are acknowledged by the object store (a single create-only `PUT`, or a multipart
//! upload completed by the sink), *then* the PostgreSQL transaction moves the record to
//! uploaded, *then* the caller hears 200. A commit that fails after the bytes landed removes
//! them; one that dies with the replica leaves an object the orphan sweep removes.
//!
//! Reads: small bodies (up to one part) are fetched whole and checked against the record's
//! SHA-256; larger ones are streamed in ranged `GET`s and checked against the CRC-32C recorded
//! at upload. With `s3_presign_ttl_secs` set, a download is instead a redirect to a presigned
//! `GET` (`Opened::Elsewhere`) carrying the record's content type and disposition.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::catalog::PgCatalog;
use super::sink::{PART, S3Sink, S3Staged, StagedBody};
use crate::clock::Timestamp;
use crate::engine::{
    Access, BlobError, BlobResult, BlobSink, BlobStore, BodyPlan, BodySize, BoxFuture, Commit, Hold, Opened, RangeRead,
    Verify,
};
use crate::model::{Attachment, Location};

/// The object-store blob store.
pub struct S3Blobs {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) prefix: String,
    pub(super) catalog: Arc<PgCatalog>,
    /// Presigns download `GET`s (with how long they live), when downloads are redirected.
    pub(super) presign: Option<(Arc<object_store::aws::AmazonS3>, std::time::Duration)>,
}

fn store_error(what: &str, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::Missing(format!("{what}: {e}")),
        e => BlobError::Backend(format!("object store: {what}: {e}")),
    }
}

impl S3Blobs {
    /// The key of an attachment's object.
    pub fn key(&self, project: &crate::ids::ProjectId, month: u32, id: &crate::ids::AttachmentId) -> Path {
        Path::from(format!("{}{project}/{:04}-{:02}/{id}", self.prefix, month / 100, month % 100))
    }

    fn key_of(&self, rec: &Attachment) -> BlobResult<Path> {
        match rec.location {
            Some(Location::Standalone { month, .. }) => Ok(self.key(&rec.project_id, month, &rec.id)),
            Some(Location::Segment { .. }) => {
                Err(BlobError::Corrupt(format!("{}: a segment location on the object-store backend", rec.id)))
            }
            None => Err(BlobError::RecordGone),
        }
    }

    fn rt(&self) -> tokio::runtime::Handle {
        self.catalog.runner.handle()
    }
}

/// Writes a single-`PUT` body, create-only; returns whether this call created the object. An
/// object already at the key is accepted when it holds these very bytes (a retry after a commit
/// that died between the two steps, or the same upload through another replica; it is then not
/// this upload's to remove) and replaced when it holds others.
async fn put_single<F: std::future::Future<Output = bool>>(
    store: &dyn ObjectStore,
    key: &Path,
    body: Bytes,
    sha_hex: &str,
    still_pending: impl FnOnce() -> F,
) -> BlobResult<bool> {
    let mut attributes = object_store::Attributes::new();
    attributes.insert(object_store::Attribute::Metadata("sha256".into()), sha_hex.to_string().into());
    let opts = PutOptions { mode: PutMode::Create, attributes, ..Default::default() };
    match store.put_opts(key, PutPayload::from(body.clone()), opts).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let existing = store.get(key).await.map_err(|e| store_error("read an existing object", e))?;
            let bytes = existing.bytes().await.map_err(|e| store_error("read an existing object", e))?;
            if bytes == body {
                return Ok(false);
            }
            // Other bytes at the key: what an attempt that died before its commit left, if the
            // record is still pending now — then replace them; otherwise they are another
            // replica's committed upload of the same attachment.
            if !still_pending().await {
                return Err(BlobError::AlreadyUploaded);
            }
            store.put(key, PutPayload::from(body)).await.map_err(|e| store_error("put", e))?;
            Ok(true)
        }
        Err(e) => Err(store_error("put", e)),
    }
}

impl S3Blobs {
    /// Makes a staged body an object at its key (overwriting: a migration that runs again
    /// writes the same bytes) and returns its location, with no record involved: how a
    /// migration places bytes before it imports their record.
    pub async fn place(&self, staged: crate::engine::Staged) -> BlobResult<Location> {
        let inner = staged
            .inner
            .downcast::<S3Staged>()
            .map_err(|_| BlobError::Backend("a body staged by another store".into()))?;
        let S3Staged { key, month, crc32c, body } = *inner;
        match body {
            StagedBody::Single(bytes) => {
                self.store.put(&key, PutPayload::from(bytes)).await.map_err(|e| store_error("put", e))?;
            }
            StagedBody::Object(guard) => guard.keep(),
        }
        Ok(Location::Standalone { month, crc32c: Some(crc32c) })
    }
}

impl BlobStore for S3Blobs {
    fn buffered(&self, size: BodySize) -> u64 {
        // One part in the buffer and up to two in flight.
        size.bound().min(3 * PART as u64) + 4096
    }

    fn has_room_for(&self, _size: u64) -> bool {
        true
    }

    fn stage<'a>(&'a self, rec: &'a Attachment, plan: BodyPlan) -> BoxFuture<'a, BlobResult<Box<dyn BlobSink>>> {
        Box::pin(async move {
            let month = Timestamp::now().year_month();
            use sha2::Digest as _;
            let sink = S3Sink {
                store: self.store.clone(),
                catalog: self.catalog.clone(),
                id: rec.id,
                rt: self.rt(),
                key: self.key(&rec.project_id, month, &rec.id),
                month,
                plan,
                sha: sha2::Sha256::new(),
                md5: plan.md5.then(<md5::Md5 as md5::Digest>::new),
                crc: 0,
                len: 0,
                buf: bytes::BytesMut::with_capacity(plan.size.bound().min(PART as u64) as usize),
                upload: None,
                parts: Default::default(),
            };
            Ok(Box::new(sink) as Box<dyn BlobSink>)
        })
    }

    fn commit_upload(&self, commit: Commit, hold: Hold) -> BoxFuture<'static, BlobResult<Attachment>> {
        let (store, catalog) = (self.store.clone(), self.catalog.clone());
        let task = self.rt().spawn(async move {
            let _hold = hold;
            let Commit { staged, rec, now, replaces, settle } = commit;
            let m = staged.measured;
            let inner = staged
                .inner
                .downcast::<S3Staged>()
                .map_err(|_| BlobError::Backend("a body staged by another store".into()))?;
            let S3Staged { key, month, crc32c, body } = *inner;
            // Refuse what the catalog will refuse before any byte reaches the store.
            let current = catalog.record_async(rec.id).await?.ok_or(BlobError::RecordGone)?;
            if let Err(refused) = super::commit::check_pending(&current, settle.then_some(m.len)) {
                // The same attachment committed through another replica names this very key:
                // its object is not ours to remove.
                if let StagedBody::Object(guard) = body {
                    if current.location.and_then(|l| l.standalone_month()) == Some(month) {
                        guard.keep();
                    }
                }
                return Err(refused);
            }
            let guard = match body {
                StagedBody::Single(bytes) => {
                    let pending =
                        || async { matches!(catalog.record_async(rec.id).await, Ok(Some(r)) if r.is_pending()) };
                    let created = put_single(&*store, &key, bytes, &m.sha256.to_hex(), pending).await?;
                    let key = created.then(|| key.clone());
                    super::sink::ObjectGuard { store: store.clone(), key, rt: tokio::runtime::Handle::current() }
                }
                StagedBody::Object(g) => g,
            };
            let location = Location::Standalone { month, crc32c: Some(crc32c) };
            let committed =
                super::commit::commit_uploaded(&catalog, rec.id, location, now, settle.then_some(m), replaces).await;
            // Never remove an object a record points at: a refused commit may have lost to the
            // same upload through another replica, whose record names this very key.
            let pointed_at = match &committed {
                Ok(_) => true,
                Err(_) => match catalog.record_async(rec.id).await {
                    Ok(Some(r)) => r.location.is_some_and(|l| l.standalone_month() == Some(month)),
                    Ok(None) => false,
                    Err(_) => true,
                },
            };
            if pointed_at {
                guard.keep();
            }
            committed
        });
        Box::pin(async move { task.await.map_err(|e| BlobError::Backend(format!("commit task: {e}")))? })
    }

    fn open<'a>(&'a self, rec: &'a Attachment, access: Access) -> BoxFuture<'a, BlobResult<Opened>> {
        Box::pin(async move {
            let key = self.key_of(rec)?;
            if access == Access::Head {
                return Ok(Opened::Head);
            }
            if let (Access::Body, Some((signer, ttl))) = (access, &self.presign) {
                return presigned(signer, &key, rec, *ttl).await.map(Opened::Elsewhere);
            }
            let (store, rt, len) = (self.store.clone(), self.rt(), rec.size_bytes);
            if len <= PART as u64 {
                let sha = rec.digests.sha256;
                let name = key.to_string();
                return Ok(Opened::Whole(Box::new(move || {
                    let bytes = super::runner::wait_on(&rt, async move {
                        let got = store.get(&key).await.map_err(|e| store_error("get", e))?;
                        got.bytes().await.map_err(|e| store_error("get", e))
                    })?;
                    use sha2::Digest as _;
                    let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
                    if bytes.len() as u64 != len || digest != sha.0 {
                        return Err(BlobError::Corrupt(format!("object {name} does not match its record")));
                    }
                    Ok(bytes)
                })));
            }
            let verify = match rec.location {
                Some(Location::Standalone { crc32c: Some(c), .. }) => Verify::Crc32c(c),
                _ => Verify::Sha256(rec.digests.sha256),
            };
            let (s, k) = (store.clone(), key.clone());
            let head = rt
                .spawn(async move { s.head(&k).await })
                .await
                .map_err(|e| BlobError::Backend(format!("head task: {e}")))?
                .map_err(|e| store_error("head", e))?;
            if head.size != len {
                return Err(BlobError::Corrupt(format!("object {key} is {} bytes, expected {len}", head.size)));
            }
            Ok(Opened::Stream(Box::new(Ranged { store, rt, key, len }), verify))
        })
    }

    fn remove(&self, rec: &Attachment) -> BlobResult<u64> {
        let key = self.key_of(rec)?;
        let store = self.store.clone();
        self.catalog.runner.run(async move {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(store_error("delete", e)),
            }
        })?;
        Ok(rec.size_bytes)
    }
}

/// A presigned `GET` of `key` that answers with the record's content type and an attachment
/// disposition naming its file (RFC 6266 `filename*`), so the store serves it as attachd would.
async fn presigned(
    signer: &object_store::aws::AmazonS3,
    key: &Path,
    rec: &Attachment,
    ttl: std::time::Duration,
) -> BlobResult<String> {
    use object_store::signer::{Method, SignedUrlOptions, Signer};
    const NAME: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');
    let name = percent_encoding::utf8_percent_encode(&rec.meta.original_filename, NAME).to_string();
    let content_type =
        if rec.meta.content_type.is_empty() { "application/octet-stream" } else { &rec.meta.content_type };
    let opts = SignedUrlOptions::new().with_query([
        ("response-content-type", content_type.to_string()),
        ("response-content-disposition", format!("attachment; filename*=UTF-8''{name}")),
    ]);
    let url = signer.signed_url_opts(Method::GET, key, ttl, &opts).await.map_err(|e| store_error("presign", e))?;
    Ok(url.to_string())
}

/// Ranged reads of one object (blocking; run off the async threads).
struct Ranged {
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Handle,
    key: Path,
    len: u64,
}

impl RangeRead for Ranged {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, max: usize) -> BlobResult<Bytes> {
        let end = self.len.min(offset.saturating_add(max as u64));
        if offset >= end {
            return Ok(Bytes::new());
        }
        let (store, key) = (self.store.clone(), self.key.clone());
        super::runner::wait_on(&self.rt, async move {
            store.get_range(&key, offset..end).await.map_err(|e| store_error("get range", e))
        })
    }
}
