//! `POST /v1/attachments/link`: the host application tells attachd which event (and issue, and
//! end user) a client event id became, since event ingestion lives outside attachd.
//!
//! Body: `{"client_event_id": uuid, "event_id": uuid, "issue_id": uuid|null, "user_id":
//! string|null, "app_id": uuid|null}`. Every visible, not-deleted attachment of the app with
//! that client event id gets `event_id`/`issue_id` (filter rows moved in the same batch) and,
//! if it has none, `user_id` (its usage moves into that user's bucket, as the reference's
//! backfill does). The link is remembered per app, so attachments reserved later are linked
//! at reserve time. A client key links within its own app; agent keys with `events:write` and
//! member+ users name the app with `app_id`, or link the apps of the matching attachments.
//! A link and a reserve of the same client event id are serialised (`link_locks`), so neither
//! order loses the link.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::engine::Durability;
use crate::ids::{AppId, ClientEventId, EndUserId, EventId, IssueId};
use crate::model::control::Role;
use crate::model::control::{ControlChange, EventLink};
use crate::model::{After, ParentKind, ParentRef};

use super::auth::EVENTS_WRITE;
use super::{Principal, Result, Service, ServiceError};

/// The link endpoint's answer.
#[derive(Debug, Clone, Serialize)]
pub struct LinkResult {
    /// Attachments updated now.
    pub linked: u64,
}

/// A validated link request.
struct LinkInput {
    ce: ClientEventId,
    event_id: EventId,
    issue_id: Option<IssueId>,
    user_id: Option<EndUserId>,
    app_id: Option<AppId>,
}

fn uuid_field<T: std::str::FromStr>(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<T>> {
    match obj.get(name) {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s)) => {
            s.parse().map(Some).map_err(|_| ServiceError::InvalidRequest(format!("{name} must be a UUID")))
        }
        _ => Err(ServiceError::InvalidRequest(format!("{name} is required and must be a UUID"))),
    }
}

fn parse(body: &Value) -> Result<LinkInput> {
    let obj = body.as_object().ok_or_else(|| ServiceError::BadJson("Request body must be a JSON object".into()))?;
    let user_id = match obj.get("user_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 255 && !s.contains('\0') => {
            Some(EndUserId(s.clone()))
        }
        Some(_) => {
            return Err(ServiceError::InvalidRequest("user_id must be a non-empty string of at most 255 chars".into()));
        }
    };
    Ok(LinkInput {
        ce: uuid_field(obj, "client_event_id", true)?.expect("required"),
        event_id: uuid_field(obj, "event_id", true)?.expect("required"),
        issue_id: uuid_field(obj, "issue_id", false)?,
        user_id,
        app_id: uuid_field(obj, "app_id", false)?,
    })
}

impl Service {
    /// Links a client event id to an event (and issue, and user).
    pub async fn link(&self, principal: &Principal, body: &Value) -> Result<LinkResult> {
        principal.require(EVENTS_WRITE)?;
        let input = parse(body)?;
        // Which app's events these are: a client key's own; otherwise the named app, which the
        // caller must be able to see.
        let named_app = match principal {
            Principal::Key(k) if k.app_id.is_some() => {
                if input.app_id.is_some_and(|a| Some(a) != k.app_id) {
                    return Err(ServiceError::BadParameter("app_id must be the key's own app".into()));
                }
                k.app_id
            }
            _ => match input.app_id {
                Some(a) => {
                    let app = self.catalog.app(&a)?.filter(|x| x.deleted_at.is_none());
                    match app {
                        Some(x) if principal.can_see(x.team_id, x.id) => Some(a),
                        _ => return Err(ServiceError::EntityNotFound("App")),
                    }
                }
                None => None,
            },
        };
        let principal = principal.clone();
        self.blocking(move |svc| svc.link_blocking(&principal, named_app, input)).await
    }

    fn link_blocking(&self, principal: &Principal, named_app: Option<AppId>, input: LinkInput) -> Result<LinkResult> {
        let _link_lock = self.link_locks.lock(input.ce.as_bytes());
        let rows: Vec<_> = self
            .catalog
            .list_parent(&ParentRef::uuid(ParentKind::ClientEvent, input.ce.0), After::Start)
            .collect::<std::result::Result<_, _>>()?;
        let mut linked = 0u64;
        let mut apps: BTreeSet<AppId> = named_app.into_iter().collect();
        for (row, _) in rows {
            let Some(app) = self.link_one(principal, named_app, &input, row.id)? else { continue };
            apps.extend(app);
            linked += 1;
        }
        if !apps.is_empty() {
            let link = EventLink { event_id: input.event_id, issue_id: input.issue_id, user_id: input.user_id };
            let changes = apps
                .iter()
                .map(|&app| ControlChange::PutEventLink { app, client_event_id: input.ce, link: link.clone() })
                .collect();
            self.catalog.apply_control(changes)?;
        }
        Ok(LinkResult { linked })
    }

    /// Links one attachment (if the caller may), retrying when another change won the race.
    /// Returns its app when it was linked.
    fn link_one(
        &self,
        principal: &Principal,
        named_app: Option<AppId>,
        input: &LinkInput,
        id: crate::ids::AttachmentId,
    ) -> Result<Option<Option<AppId>>> {
        loop {
            let Some(old) = self.catalog.record(id)?.filter(|r| r.deleted_at.is_none()) else { return Ok(None) };
            if named_app.is_some_and(|a| Some(a) != old.app_id) {
                return Ok(None);
            }
            let Some(project) = self.catalog.project(&old.project_id)? else { return Ok(None) };
            if !principal.can_see_app(project.team_id, old.app_id)
                || principal.require_role(project.team_id, Role::Member).is_err()
            {
                return Ok(None);
            }
            let mut rec = old.clone();
            rec.set_parent(ParentKind::Event, Some(ParentRef::uuid(ParentKind::Event, input.event_id.0)));
            if let Some(issue) = input.issue_id {
                rec.set_parent(ParentKind::Issue, Some(ParentRef::uuid(ParentKind::Issue, issue.0)));
            }
            // An attachment reserved without a user takes the event's (and counts in its quota).
            if rec.owner.is_none() {
                rec.owner.clone_from(&input.user_id);
            }
            if self.catalog.update(&old, Some(&rec), Durability::Logged)? {
                return Ok(Some(rec.app_id));
            }
        }
    }
}
