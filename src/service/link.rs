//! `POST /v1/attachments/link`: the host application tells attachd which event (and issue) a
//! client event id became, since event ingestion lives outside attachd.
//!
//! Body: `{"client_event_id": uuid, "event_id": uuid, "issue_id": uuid | null}`. Every visible,
//! not-deleted attachment carrying that client event id gets `event_id`/`issue_id` (filter
//! rows moved in the same batch), and the link is remembered so attachments reserved later
//! are linked at reserve time. Scope: a client key links within its app; agent keys with
//! `events:write` and users (member+) within their teams.

use serde::Serialize;
use serde_json::Value;

use crate::ids::{ClientEventId, EventId, IssueId};
use crate::index::control::Role;
use crate::index::filters::Filter;
use crate::index::links::EventLink;
use crate::index::listing::After;

use super::auth::EVENTS_WRITE;
use super::{Principal, Result, Service, ServiceError};

/// The link endpoint's answer.
#[derive(Debug, Clone, Serialize)]
pub struct LinkResult {
    /// Attachments updated now.
    pub linked: u64,
}

fn uuid_field<T: std::str::FromStr>(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<T>> {
    match obj.get(name) {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| ServiceError::InvalidRequest(format!("{name} must be a UUID"))),
        _ => Err(ServiceError::InvalidRequest(format!(
            "{name} is required and must be a UUID"
        ))),
    }
}

impl Service {
    /// Links a client event id to an event (and issue).
    pub async fn link(&self, principal: &Principal, body: &Value) -> Result<LinkResult> {
        principal.require(EVENTS_WRITE)?;
        let obj = body
            .as_object()
            .ok_or_else(|| ServiceError::BadJson("Request body must be a JSON object".into()))?;
        let ce: ClientEventId = uuid_field(obj, "client_event_id", true)?.expect("required");
        let event_id: EventId = uuid_field(obj, "event_id", true)?.expect("required");
        let issue_id: Option<IssueId> = uuid_field(obj, "issue_id", false)?;
        let principal = principal.clone();
        self.blocking(move |svc| {
            let rows: Vec<_> = svc
                .index
                .list_filter(Filter::EventClientId(ce.0), After::Start)
                .collect::<std::result::Result<_, _>>()?;
            let mut linked = 0u64;
            let mut link_app = None;
            for (row, _) in rows {
                let _g = svc.record_locks.lock(row.id.as_bytes());
                let Some(mut rec) = svc.index.record(row.id)?.filter(|r| r.deleted_at.is_none())
                else {
                    continue;
                };
                let Some(project) = svc.index.project(&rec.project_id)? else {
                    continue;
                };
                if !principal.can_see(project.team_id, rec.app_id)
                    || principal
                        .require_role(project.team_id, Role::Member)
                        .is_err()
                {
                    continue;
                }
                let mut batch = svc.index.batch();
                batch.delete_filters(&rec);
                rec.event_id = Some(event_id);
                rec.issue_id = issue_id.or(rec.issue_id);
                batch.put_filters(&rec);
                batch.put_record(&rec);
                batch.commit(false)?;
                link_app = Some(rec.app_id);
                linked += 1;
            }
            let app = match &principal {
                Principal::Key(k) => k.app_id.or(link_app),
                Principal::User { .. } => link_app,
            };
            if let Some(app_id) = app {
                let mut batch = svc.index.batch();
                batch.put_event_link(
                    &ce,
                    &EventLink {
                        app_id,
                        event_id,
                        issue_id,
                    },
                );
                batch.commit(true)?;
            }
            Ok(LinkResult { linked })
        })
        .await
    }
}
