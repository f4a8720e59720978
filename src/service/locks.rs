//! The upload claims that allow one PUT per attachment at a time in this process, and the
//! slot locks that serialise the reserve-and-commit of uploads into one slot (a session
//! point: at most one live file).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::engine::{BlobResult, UploadGuard};
use crate::ids::AttachmentId;

/// Attachments with a PUT in progress in this process.
#[derive(Default, Clone)]
pub struct InProgress(Arc<Mutex<HashSet<AttachmentId>>>);

/// Held from the start of a PUT until its commit has finished (it travels with the commit job,
/// so a client that disconnects while its upload is being committed cannot let a retry in
/// early). Dropping it releases the attachment.
pub struct UploadClaim {
    set: InProgress,
    id: AttachmentId,
}

impl InProgress {
    /// Claims `id`, or `None` if another upload holds it.
    pub fn claim(&self, id: AttachmentId) -> Option<UploadClaim> {
        let inserted = self.lock().insert(id);
        // Only a successful insert creates a claim: a claim's drop removes the id.
        inserted.then(|| UploadClaim { set: self.clone(), id })
    }

    /// Runs `f` only if `id` is not claimed, holding off new claims while it runs (the orphan
    /// sweep removes files this way, so no upload can start writing one of them meanwhile).
    pub fn with_unclaimed<R>(&self, id: &AttachmentId, f: impl FnOnce() -> R) -> Option<R> {
        let set = self.lock();
        if set.contains(id) { None } else { Some(f()) }
    }

    /// Whether `id` is being uploaded now.
    pub fn contains(&self, id: &AttachmentId) -> bool {
        self.lock().contains(id)
    }

    /// How many uploads are running.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<AttachmentId>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl UploadClaim {
    /// The claimed attachment.
    pub fn id(&self) -> AttachmentId {
        self.id
    }
}

impl Drop for UploadClaim {
    fn drop(&mut self) {
        self.set.lock().remove(&self.id);
    }
}

/// Async locks striped by slot (held across a commit, so they are tokio mutexes).
pub struct SlotLocks(Vec<tokio::sync::Mutex<()>>);

impl Default for SlotLocks {
    fn default() -> Self {
        Self((0..256).map(|_| tokio::sync::Mutex::new(())).collect())
    }
}

impl SlotLocks {
    /// Locks `slot`'s stripe.
    pub async fn lock(&self, slot: &crate::model::ParentRef) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        slot.hash(&mut h);
        self.0[(h.finish() % self.0.len() as u64) as usize].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_per_id_released_on_drop() {
        let set = InProgress::default();
        let id = AttachmentId::random();
        let c = set.claim(id).unwrap();
        assert!(set.claim(id).is_none(), "a second claim fails");
        assert!(set.contains(&id), "and does not release the first");
        drop(c);
        assert!(!set.contains(&id));
        assert!(set.claim(id).is_some());
    }
}

impl UploadGuard for InProgress {
    fn unless_uploading(&self, id: AttachmentId, f: &mut dyn FnMut() -> BlobResult<()>) -> Option<BlobResult<()>> {
        self.with_unclaimed(&id, f)
    }
}
