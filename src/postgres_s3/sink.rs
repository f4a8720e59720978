//! [`S3Sink`]: an upload's body on its way to the object store, measured as it streams.
//!
//! A body no larger than one part (`PART` bytes) is held in memory and written with a single
//! create-only `PUT` at commit, so an upload refused at commit never reaches the store. A
//! larger one becomes a multipart upload as soon as its first part is full: each full part is
//! sent while the next arrives (at most two in flight, so memory stays bounded at three
//! parts), the last part is sent at finish and the upload completed, and a failed or abandoned
//! body aborts its multipart upload. A completed object no record points at (the commit then
//! failed, or the replica died) is removed by the orphan sweep.
//!
//! SHA-256, CRC-32C and (when asked) MD5 are computed on the way; the object store is sent
//! SHA-256 checksums of what it receives and verifies them (the client is built with them).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use md5::Digest as _;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};
use sha2::Digest as _;

use crate::engine::{BlobError, BlobResult, BlobSink, BodyPlan, BoxFuture, Measured, Staged};
use crate::ids::Sha256Digest;
use crate::model::Md5Digest;

/// Size of one multipart part (and the most a single-`PUT` body holds in memory).
pub const PART: usize = 8 << 20;
/// Parts in flight at once.
const IN_FLIGHT: usize = 2;

/// Where a staged body is.
pub enum StagedBody {
    /// In memory, to be `PUT` at commit.
    Single(Bytes),
    /// Already an object at its key (a completed multipart upload); removed if dropped
    /// uncommitted.
    Object(ObjectGuard),
}

/// The staged body of a sink, with its key and checksum.
pub struct S3Staged {
    /// The object's key.
    pub key: Path,
    /// `YYYYMM` of the key's month directory.
    pub month: u32,
    /// CRC-32C of the whole body.
    pub crc32c: u32,
    /// The bytes.
    pub body: StagedBody,
}

/// An object written ahead of its commit: deleted when dropped unless [`ObjectGuard::keep`]
/// was called.
pub struct ObjectGuard {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) key: Option<Path>,
    pub(super) rt: tokio::runtime::Handle,
}

impl ObjectGuard {
    /// The object is committed: keep it.
    pub fn keep(mut self) {
        self.key = None;
    }
}

impl Drop for ObjectGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let store = self.store.clone();
            self.rt.spawn(async move {
                if let Err(e) = store.delete(&key).await {
                    tracing::warn!(%key, error = %e, "could not remove an uncommitted object; the orphan sweep will");
                }
            });
        }
    }
}

/// The sink (see the module docs).
pub struct S3Sink {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) catalog: Arc<super::PgCatalog>,
    pub(super) id: crate::ids::AttachmentId,
    pub(super) rt: tokio::runtime::Handle,
    pub(super) key: Path,
    pub(super) month: u32,
    pub(super) plan: BodyPlan,
    pub(super) sha: sha2::Sha256,
    pub(super) md5: Option<md5::Md5>,
    pub(super) crc: u32,
    pub(super) len: u64,
    pub(super) buf: BytesMut,
    pub(super) upload: Option<Box<dyn MultipartUpload>>,
    pub(super) parts: VecDeque<tokio::task::JoinHandle<object_store::Result<()>>>,
}

fn store_error(what: &str, e: object_store::Error) -> BlobError {
    BlobError::Backend(format!("object store: {what}: {e}"))
}

impl S3Sink {
    async fn send_part(&mut self, part: Bytes) -> BlobResult<()> {
        if self.upload.is_none() {
            // Every request runs on the backend's runtime, whose connections outlive callers.
            let (store, key) = (self.store.clone(), self.key.clone());
            let up = self
                .rt
                .spawn(async move { store.put_multipart(&key).await })
                .await
                .map_err(|e| BlobError::Backend(format!("multipart task: {e}")))?
                .map_err(|e| store_error("start a multipart upload", e))?;
            self.upload = Some(up);
        }
        let fut = self.upload.as_mut().expect("started above").put_part(PutPayload::from(part));
        self.parts.push_back(self.rt.spawn(fut));
        while self.parts.len() > IN_FLIGHT {
            self.wait_one().await?;
        }
        Ok(())
    }

    async fn wait_one(&mut self) -> BlobResult<()> {
        if let Some(h) = self.parts.pop_front() {
            h.await
                .map_err(|e| BlobError::Backend(format!("part task: {e}")))?
                .map_err(|e| store_error("upload a part", e))?;
        }
        Ok(())
    }

    fn measured(&self) -> Measured {
        let sha: [u8; 32] = self.sha.clone().finalize().into();
        Measured {
            len: self.len,
            sha256: Sha256Digest(sha),
            md5: self.md5.clone().map(|m| Md5Digest(m.finalize().into())),
        }
    }
}

impl BlobSink for S3Sink {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, BlobResult<()>> {
        Box::pin(async move {
            self.len += chunk.len() as u64;
            if self.len > self.plan.size.bound() {
                return Err(BlobError::Backend("a body longer than its plan".into()));
            }
            use sha2::Digest as _;
            self.sha.update(&chunk);
            if let Some(m) = self.md5.as_mut() {
                m.update(&chunk);
            }
            self.crc = crc32c::crc32c_append(self.crc, &chunk);
            self.buf.extend_from_slice(&chunk);
            while self.buf.len() >= PART {
                let part = self.buf.split_to(PART).freeze();
                self.send_part(part).await?;
            }
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, BlobResult<Staged>> {
        Box::pin(async move {
            let measured = self.measured();
            let rest = std::mem::take(&mut self.buf).freeze();
            let body = match self.upload.is_some() {
                false => StagedBody::Single(rest),
                true => {
                    if !rest.is_empty() {
                        self.send_part(rest).await?;
                    }
                    while !self.parts.is_empty() {
                        self.wait_one().await?;
                    }
                    let mut up = self.upload.take().expect("a multipart upload");
                    // Completing replaces whatever is at the key: if the attachment was uploaded
                    // meanwhile (through another replica), its object is there — leave it be.
                    // An object at the key of a record still pending (or of none yet: a
                    // migration) is an orphan of an attempt that died before its commit:
                    // replacing it is right.
                    let (store, key, catalog, id) =
                        (self.store.clone(), self.key.clone(), self.catalog.clone(), self.id);
                    let taken = self
                        .rt
                        .spawn(async move {
                            store.head(&key).await.is_ok()
                                && match catalog.record_async(id).await {
                                    Ok(Some(r)) => !r.is_pending(),
                                    Ok(None) => false,
                                    Err(_) => true,
                                }
                        })
                        .await
                        .unwrap_or(true);
                    if taken {
                        let _ = self.rt.spawn(async move { up.abort().await }).await;
                        return Err(BlobError::InProgress);
                    }
                    let done = self.rt.spawn(async move {
                        let r = up.complete().await;
                        if r.is_err() {
                            let _ = up.abort().await;
                        }
                        r
                    });
                    done.await
                        .map_err(|e| BlobError::Backend(format!("multipart task: {e}")))?
                        .map_err(|e| store_error("complete a multipart upload", e))?;
                    StagedBody::Object(ObjectGuard {
                        store: self.store.clone(),
                        key: Some(self.key.clone()),
                        rt: self.rt.clone(),
                    })
                }
            };
            let inner = S3Staged { key: self.key.clone(), month: self.month, crc32c: self.crc, body };
            Ok(Staged { measured, inner: Box::new(inner) })
        })
    }

    fn abort(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            for h in self.parts.drain(..) {
                h.abort();
            }
            if let Some(mut up) = self.upload.take() {
                let key = self.key.clone();
                let _ = self
                    .rt
                    .spawn(async move {
                        if let Err(e) = up.abort().await {
                            tracing::warn!(%key, error = %e, "could not abort a multipart upload");
                        }
                    })
                    .await;
            }
        })
    }
}

impl Drop for S3Sink {
    fn drop(&mut self) {
        if let Some(mut up) = self.upload.take() {
            let key = self.key.clone();
            self.rt.spawn(async move {
                if let Err(e) = up.abort().await {
                    tracing::warn!(%key, error = %e, "could not abort a multipart upload");
                }
            });
        }
    }
}
