//! Records: a file with names and descriptions that outlive it. A record has a stable id, is
//! created with or without a file (a placeholder), has its names edited, its file attached
//! or replaced, and is soft-deleted like any file (the seed-003 API's asset and project
//! attachments).
//!
//! A record is a slot ([`ParentKind::Record`] with the record's id) that always holds exactly
//! one live attachment: a placeholder holds an empty body with no file name; attaching a file
//! commits a new attachment that inherits the record's parents, names, uploader and creation
//! date and retires the previous one in the same catalog write (`direct.rs`, under the slot's
//! lock). Edits and deletes take the same lock, so an edit is never lost to a concurrent
//! attach and a record never holds two live files. The record's id never names a file: bytes
//! are stored under the attachment's own id.

use bytes::Bytes;

use crate::clock::Timestamp;
use crate::engine::Durability;
use crate::model::{Attachment, Metadata, ParentId, ParentKind, ParentRef};

use super::files::parent_ref;
use super::people::{Person, Reach};
use super::upload::{BodyError, BodySource};
use super::{Result, Service, ServiceError};

/// Bytes of a record id's randomness (20 URL-safe characters).
const ID_BYTES: usize = 15;

/// A new record id: 20 characters of `[A-Za-z0-9_-]`, from 120 random bits.
pub fn new_record_id() -> String {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut raw = [0u8; ID_BYTES];
    ring::rand::SystemRandom::new().fill(&mut raw).expect("the system random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The slot of record `id`.
pub fn record_slot(id: &str) -> ParentRef {
    parent_ref(ParentKind::Record, id)
}

/// The id of the record an attachment holds the file of, if it is a record's.
pub fn record_id(rec: &Attachment) -> Option<&str> {
    match rec.parent(ParentKind::Record) {
        Some(ParentRef { id: ParentId::Text(id), .. }) => Some(id),
        _ => None,
    }
}

/// Whether the record holds no file yet (it was created without one).
pub fn is_placeholder(rec: &Attachment) -> bool {
    rec.meta.original_filename.is_empty()
}

/// The body of a record created without a file.
pub struct NoBody;

impl BodySource for NoBody {
    async fn next_chunk(&mut self) -> std::result::Result<Option<Bytes>, BodyError> {
        Ok(None)
    }
}

impl Service {
    /// The record `id`'s live attachment, in a project `person` reaches; else
    /// `EntityNotFound("attachment")`.
    pub fn record(&self, person: &Person, id: &str) -> Result<(Attachment, Reach)> {
        let not_found = || ServiceError::EntityNotFound("attachment");
        let rec = self.live_in_slot(&record_slot(id), None)?.ok_or_else(not_found)?;
        let reach = self.reach(person, &rec.project_id, not_found())?;
        Ok((rec, reach))
    }

    /// Edits the names of record `id` (which `person` reaches), stamping `edited_at`.
    pub async fn edit_record<F>(&self, person: &Person, id: &str, edit: F) -> Result<Attachment>
    where
        F: FnOnce(&mut Metadata) + Send + 'static,
    {
        let slot = record_slot(id);
        let _guard = self.slot_locks.lock(&slot).await;
        let (old, _) = self.record(person, id)?;
        let mut rec = old.clone();
        edit(&mut rec.meta);
        rec.meta.edited_at = Some(Timestamp::now());
        let new = rec.clone();
        // Under the slot's lock nothing else changes the record but cleanup of deleted ones,
        // which never touches a live one: a lost compare-and-set means it was deleted.
        let done = self.blocking(move |svc| Ok(svc.catalog.update(&old, Some(&new), Durability::Synced)?)).await?;
        if done { Ok(rec) } else { Err(ServiceError::EntityNotFound("attachment")) }
    }

    /// Soft-deletes record `id` if `person` uploaded it or is an admin or owner of its team
    /// (403 otherwise); returns it as deleted.
    pub async fn delete_record(&self, person: &Person, id: &str) -> Result<Attachment> {
        let slot = record_slot(id);
        let _guard = self.slot_locks.lock(&slot).await;
        let (rec, reach) = self.record(person, id)?;
        if rec.uploader.as_ref() != Some(&person.id) && !reach.is_admin() {
            return Err(ServiceError::Forbidden("Only the owner or a team admin can delete this attachment"));
        }
        let aid = rec.id;
        if !self.blocking(move |svc| svc.soft_delete_blocking(aid)).await? {
            return Err(ServiceError::EntityNotFound("attachment"));
        }
        self.catalog.record(aid)?.ok_or(ServiceError::EntityNotFound("attachment"))
    }

    /// A user's email, if registered.
    pub fn email_of(&self, id: &crate::ids::UserId) -> Result<Option<String>> {
        Ok(self.catalog.user(id)?.map(|u| u.email))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_twenty_url_safe_characters_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_record_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 20, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{id}");
        }
    }
}
