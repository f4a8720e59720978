//! Linking: the host application tells attachd which event (and issue, and end user) a client
//! event id became, since event ingestion lives outside attachd.
//!
//! Every visible, not-deleted attachment of the app with that client event id gets the event
//! and issue as parents (filter rows moved in the same batch) and, if it has none, the end user
//! as owner (its usage moves into that user's bucket, as the reference's backfill does). The
//! link is remembered per app, so attachments reserved later are linked at reserve time. A
//! client key links within its own app; agent keys with `events:write` and member+ users name
//! the app, or link the apps of the matching attachments. A link and a reserve of the same
//! client event id are serialised (`link_locks`), so neither order loses the link. The request
//! arrives typed ([`LinkRequest`]) from a front end that admitted the caller ([`Op::Link`]).

use std::collections::BTreeSet;

use crate::engine::Durability;
use crate::ids::{AppId, ClientEventId, EndUserId, EventId, IssueId};
use crate::model::control::Role;
use crate::model::control::{ControlChange, EventLink};
use crate::model::{After, ParentKind, ParentRef};

use super::auth::{Admitted, Op};
use super::{Principal, Result, Service, ServiceError};

/// A link request in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// The client-generated event id the attachments were reserved under.
    pub client_event_id: ClientEventId,
    /// The host application's id for that event.
    pub event_id: EventId,
    /// Its issue, if any.
    pub issue_id: Option<IssueId>,
    /// Its end user, given to attachments reserved without one.
    pub user_id: Option<EndUserId>,
    /// The app whose events these are (a client key's own app when it is one).
    pub app_id: Option<AppId>,
}

impl Service {
    /// Links a client event id to an event (and issue, and user) for a caller admitted to
    /// [`Op::Link`]; returns how many attachments were linked now.
    pub async fn link(&self, who: Admitted, input: LinkRequest) -> Result<u64> {
        let principal = who.expect(Op::Link)?;
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

    fn link_blocking(&self, principal: &Principal, named_app: Option<AppId>, input: LinkRequest) -> Result<u64> {
        let _link_lock = self.link_locks.lock(input.client_event_id.as_bytes());
        let rows: Vec<_> = self
            .catalog
            .list_parent(&ParentRef::uuid(ParentKind::ClientEvent, input.client_event_id.0), After::Start)
            .collect::<std::result::Result<_, _>>()?;
        let mut linked = 0u64;
        let mut apps: BTreeSet<AppId> = named_app.into_iter().collect();
        for (row, _) in rows {
            let Some(app) = self.link_one(principal, named_app, &input, row.id)? else { continue };
            apps.extend(app);
            linked += 1;
        }
        if !apps.is_empty() {
            let link = EventLink { event_id: input.event_id, issue_id: input.issue_id, owner: input.user_id };
            let changes = apps
                .iter()
                .map(|&app| ControlChange::PutEventLink {
                    app,
                    client_event_id: input.client_event_id,
                    link: link.clone(),
                })
                .collect();
            self.commit_control(changes)?;
        }
        Ok(linked)
    }

    /// Links one attachment (if the caller may), retrying when another change won the race.
    /// Returns its app when it was linked.
    fn link_one(
        &self,
        principal: &Principal,
        named_app: Option<AppId>,
        input: &LinkRequest,
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
