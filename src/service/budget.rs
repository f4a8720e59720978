//! Memory budgets: a fixed number of bytes that request bodies and response chunks may hold at
//! once, so memory stays bounded whatever clients do.
//!
//! Two budgets exist (config `server.upload_memory_bytes`, `server.download_memory_bytes`).
//! A small upload takes its declared size (plus a fixed charge for its record and queue entry)
//! before it reads a byte and keeps it until the group commit has written it, so bytes waiting
//! in the commit queue stay counted even when their client has gone; a large upload takes
//! what the blob store says its streaming sink holds at most (`BlobStore::buffered`). A
//! download takes each chunk's size before the chunk is read and releases it when hyper has
//! written the chunk to the socket and dropped it. A request that finds its budget exhausted is refused at once
//! with a retryable 503 (`server_busy`): waiting would let memory pile up in queues instead.
//! Invariant: every byte a request holds in memory on behalf of its body is covered by a
//! permit, and every permit is released exactly when those bytes are freed.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ServiceError;

/// Fixed charge per small upload on top of its payload: the record, the queue entry, buffers.
pub const UPLOAD_OVERHEAD: u64 = 4 << 10;

/// A pool of bytes.
#[derive(Clone)]
pub struct MemoryBudget {
    sem: Arc<Semaphore>,
    total: u64,
    /// Metric label of refusals ("upload", "download").
    what: &'static str,
    /// The 503's message when the pool is spent.
    busy: &'static str,
}

/// Bytes taken from a [`MemoryBudget`], returned on drop.
#[derive(Debug)]
pub struct MemoryPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl MemoryBudget {
    /// A budget of `total` bytes; refusals are counted as `what` and answered with `busy`.
    pub fn new(total: u64, what: &'static str, busy: &'static str) -> Self {
        let permits = usize::try_from(total).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        Self { sem: Arc::new(Semaphore::new(permits)), total, what, busy }
    }

    /// Takes `bytes` now, or refuses the request: a retryable 503 `server_busy`, counted in
    /// `attachd_shed_total`.
    pub fn take_or_shed(&self, bytes: u64) -> Result<MemoryPermit, ServiceError> {
        self.try_take(bytes).ok_or_else(|| {
            crate::metrics::shed(self.what);
            ServiceError::Busy(self.busy)
        })
    }

    /// Takes `bytes` now, or `None` when the budget cannot cover them.
    pub fn try_take(&self, bytes: u64) -> Option<MemoryPermit> {
        if bytes == 0 {
            return Some(MemoryPermit { _permit: None });
        }
        let n = u32::try_from(bytes).ok()?;
        self.sem.clone().try_acquire_many_owned(n).ok().map(|p| MemoryPermit { _permit: Some(p) })
    }

    /// Takes `bytes`, waiting until they are free.
    pub async fn take(&self, bytes: u64) -> MemoryPermit {
        if bytes == 0 {
            return MemoryPermit { _permit: None };
        }
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        let p = self.sem.clone().acquire_many_owned(n).await.expect("budgets are never closed");
        MemoryPermit { _permit: Some(p) }
    }

    /// Bytes taken now.
    pub fn in_use(&self) -> u64 {
        self.total.saturating_sub(self.sem.available_permits() as u64)
    }

    /// The budget's size.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// Bytes that keep their permit alive: when the last clone of the `Bytes` is dropped (hyper
/// has written it), the budget gets the bytes back.
pub fn charged(data: Bytes, permit: MemoryPermit) -> Bytes {
    struct Owned(Bytes, #[allow(dead_code)] MemoryPermit);
    impl AsRef<[u8]> for Owned {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    Bytes::from_owner(Owned(data, permit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_come_back_when_the_bytes_are_dropped() {
        let b = MemoryBudget::new(1000, "test", "test budget spent");
        let p = b.try_take(600).unwrap();
        assert_eq!(b.in_use(), 600);
        assert!(b.try_take(500).is_none(), "over budget");
        let bytes = charged(Bytes::from(vec![7u8; 600]), p);
        let clone = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(b.in_use(), 600, "a clone still holds the bytes");
        assert_eq!(clone.as_ref(), &[7u8; 10]);
        drop(clone);
        assert_eq!(b.in_use(), 0);
        assert!(b.try_take(1000).is_some());
        assert!(b.try_take(0).is_some());
        assert!(b.try_take(1 << 40).is_none(), "more than a budget can ever hold");
    }

    #[tokio::test]
    async fn take_waits_for_released_bytes() {
        let b = MemoryBudget::new(100, "test", "test budget spent");
        let p = b.try_take(100).unwrap();
        let b2 = b.clone();
        let waiter = tokio::spawn(async move { b2.take(50).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(p);
        let got = waiter.await.unwrap();
        assert_eq!(b.in_use(), 50);
        drop(got);
    }
}
