//! Reserve: admit the caller, check the declared content type, look up the event link, then
//! record the reservation.
//!
//! The request arrives typed ([`ReserveRequest`]); each front end parses its own wire form,
//! after [`Service::authorize`] (the seed-000 API's order of validation is in
//! `frontend/events/reserve.rs`). Quotas and the caps on pending (reserved, not yet uploaded)
//! reservations are checked by the catalog in the same atomic step that records the
//! reservation ([`crate::engine::Catalog::reserve`]), so 200 concurrent reserves against a
//! nearly full quota can never overshoot it.

use crate::clock::Timestamp;
use crate::engine::{CatalogError, ReserveLimits};
use crate::ids::{AppId, AttachmentId, ClientEventId, EndUserId, Sha256Digest};
use crate::model::control::Project;
use crate::model::{Attachment, Digests, Metadata, Retention, ScanState};

use super::auth::{Admitted, Op};
use super::events::event_parents;
use super::{Result, Service, ServiceError};

/// Content types refused with 415 (the reference's list, compared after normalisation).
pub const CONTENT_TYPE_DENYLIST: [&str; 15] = [
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-msi",
    "application/x-executable",
    "application/x-mach-binary",
    "application/x-sharedlib",
    "application/vnd.microsoft.portable-executable",
    "application/x-dosexec",
    "application/x-shellscript",
    "application/x-sh",
    "text/x-shellscript",
    "application/x-python-code",
    "application/java-archive",
    "application/x-java-archive",
    "application/vnd.apple.installer+xml",
];

/// A reserve request in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveRequest {
    /// The event this belongs to.
    pub client_event_id: ClientEventId,
    /// End user (enables the per-user quota).
    pub user_id: Option<EndUserId>,
    /// Display name.
    pub original_filename: String,
    /// Declared MIME type, verbatim.
    pub content_type: String,
    /// Declared size.
    pub size_bytes: u64,
    /// Declared SHA-256.
    pub sha256: Sha256Digest,
    /// Development build.
    pub is_dev: bool,
}

/// Lowercase, cut at `;`, trim, then exact-match against the denylist.
pub fn is_denied(content_type: &str) -> bool {
    let base = crate::model::mime::essence(content_type);
    CONTENT_TYPE_DENYLIST.contains(&base.as_str())
}

impl Service {
    /// Effective (project, per-user) quotas of a project.
    pub fn effective_quotas(&self, p: &Project) -> (u64, u64) {
        (
            p.project_quota_bytes.unwrap_or(self.cfg.default_project_quota),
            p.user_quota_bytes.unwrap_or(self.cfg.default_user_quota),
        )
    }

    /// Reserves an attachment for a client key admitted to [`Op::Reserve`]; returns the
    /// reservation's record.
    pub fn reserve(&self, who: Admitted, input: ReserveRequest) -> Result<Attachment> {
        let (app_id, _) = who.expect(Op::Reserve)?.app_scope()?;
        if is_denied(&input.content_type) {
            return Err(ServiceError::DisallowedContentType(input.content_type));
        }
        let app = self.live_app(&app_id)?;
        let now = Timestamp::now();
        // Held until the record is committed, so a concurrent link of this client event id
        // either is seen here or sees this record (see link.rs).
        let _link_lock = self.link_locks.lock(input.client_event_id.as_bytes());
        let link = self.catalog.event_link(&app.id, &input.client_event_id)?;
        let rec = Attachment {
            id: AttachmentId::random(),
            project_id: app.project_id,
            app_id: Some(app.id),
            parents: event_parents(
                Some(input.client_event_id),
                link.as_ref().map(|l| l.event_id),
                link.as_ref().and_then(|l| l.issue_id),
            ),
            // The reference falls back to the event's user when the SDK sent none.
            owner: input.user_id.or_else(|| link.as_ref().and_then(|l| l.owner.clone())),
            uploader: None,
            meta: Metadata {
                original_filename: input.original_filename,
                content_type: input.content_type,
                ..Default::default()
            },
            size_bytes: input.size_bytes,
            digests: Digests { sha256: input.sha256, md5: None },
            scan: ScanState::NotScanned,
            retention: Retention::Kept,
            is_dev: input.is_dev,
            created_at: now,
            expires_at: now.plus(self.cfg.reservation_ttl),
            uploaded_at: None,
            deleted_at: None,
            location: None,
        };
        self.reserve_checked(&rec, None)?;
        Ok(rec)
    }

    /// A live app (`AppGone` once deleted), from the control cache.
    pub(crate) fn live_app(&self, id: &AppId) -> Result<std::sync::Arc<crate::model::control::App>> {
        self.control.app(&*self.catalog, id)?.filter(|a| a.deleted_at.is_none()).ok_or(ServiceError::AppGone)
    }

    /// The catalog's atomic quota-checked reserve of `rec` (retiring `replacing` in its
    /// commit), with the configured limits and the quota errors every API reports.
    pub(crate) fn reserve_checked(&self, rec: &Attachment, replacing: Option<&Attachment>) -> Result<()> {
        let limits = ReserveLimits {
            default_project_quota: self.cfg.default_project_quota,
            default_user_quota: self.cfg.default_user_quota,
            max_pending_count: self.cfg.max_pending_per_project,
            max_pending_bytes: self.cfg.max_pending_bytes_per_project,
        };
        let size = rec.size_bytes;
        self.catalog.reserve(rec, &limits, replacing).map_err(|e| match e {
            CatalogError::UserQuota { quota, used } => {
                crate::metrics::quota_rejected("user");
                ServiceError::UserQuotaExhausted { quota, used, size }
            }
            CatalogError::ProjectQuota { quota, used } => {
                crate::metrics::quota_rejected("project");
                ServiceError::ProjectQuotaExhausted { quota, used, size }
            }
            other => other.into(),
        })
    }
}
