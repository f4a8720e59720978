//! The control plane on PostgreSQL: [`ControlPlane`] for [`PgCatalog`], over the `control`
//! table (one JSON value per `(kind, k1, k2)`; low volume, human-inspectable with `psql`).
//!
//! ```text
//! kind           k1                      k2                 value
//! team           team id                 ''                 Team
//! project        project id              ''                 Project (quotas and deletion also
//!                                                           copied to project_usage)
//! app            app id                  ''                 App
//! key            key id                  SHA-256 of secret  ApiKey (never the secret)
//! admin_token    SHA-256 of secret       ''                 AdminToken
//! member         team id                 user id            Role
//! marker         name                    ''                 any JSON
//! user           user id                 ''                 User
//! alias          kind tag (3 digits)     value              project id
//! parent         kind tag (3 digits)     parent id          Parent
//! webhook        project id              ''                 Webhook (holds its secret)
//! upload_policy  project id              ''                 UploadPolicy
//! event_link     app id                  client event id    EventLink
//! ```
//! One [`ControlPlane::apply_control`] call is one transaction, serialised with every other
//! replica's by a transaction-scoped advisory lock (the ownership checks of aliases and parents
//! read what they then write). A change to a project's quotas or deletion rewrites its
//! `project_usage` row in the same transaction, which is the row every reserve counts itself
//! into: a reserve sees the change whole or not at all.

use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PgCatalog;
use super::runner::pg_error;
use crate::engine::{CatalogError, CatalogResult, ControlPlane};
use crate::ids::{AppId, ClientEventId, KeyId, ProjectId, TeamId, UserId};
use crate::model::control::{
    AdminToken, AliasKind, ApiKey, App, ControlChange, EventLink, Parent, Project, Role, Team, User,
};
use crate::model::{ParentKind, UploadPolicy, Webhook};

/// The advisory lock control transactions take turns on ("control\0" as a number).
const CONTROL_LOCK: i64 = 0x636f_6e74_726f_6c00;

fn tag(t: u8) -> String {
    format!("{t:03}")
}

/// Values travel as JSON text (`value::text` out, `$n::text::jsonb` in).
fn parse<T: DeserializeOwned>(kind: &str, v: String) -> CatalogResult<T> {
    serde_json::from_str(&v).map_err(|e| CatalogError::Corrupt(format!("control {kind}: {e}")))
}

impl PgCatalog {
    /// The value at `(kind, k1, k2)`.
    fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        kind: &'static str,
        k1: String,
        k2: String,
    ) -> CatalogResult<Option<T>> {
        self.with(move |c| async move {
            let row = c
                .query_opt(
                    "SELECT value::text FROM control WHERE kind = $1 AND k1 = $2 AND k2 = $3",
                    &[&kind, &k1, &k2],
                )
                .await
                .map_err(pg_error)?;
            row.map(|r| parse(kind, r.get(0))).transpose()
        })
    }

    /// Every `(k1, k2, value)` of `kind` matching `filter` (`$2`), in key order.
    fn all<T: DeserializeOwned + Send + 'static>(
        &self,
        kind: &'static str,
        sql: &'static str,
        filter: String,
    ) -> CatalogResult<Vec<(String, String, T)>> {
        self.with(move |c| async move {
            let rows = c.query(sql, &[&kind, &filter]).await.map_err(pg_error)?;
            rows.into_iter().map(|r| Ok((r.get(0), r.get(1), parse(kind, r.get(2))?))).collect()
        })
    }

    fn every<T: DeserializeOwned + Send + 'static>(&self, kind: &'static str) -> CatalogResult<Vec<T>> {
        const SQL: &str = "SELECT k1, k2, value::text FROM control WHERE kind = $1 AND $2 = '' ORDER BY k1, k2";
        Ok(self.all(kind, SQL, String::new())?.into_iter().map(|(_, _, v)| v).collect())
    }
}

impl ControlPlane for PgCatalog {
    fn team(&self, id: &TeamId) -> CatalogResult<Option<Team>> {
        self.get("team", id.to_string(), String::new())
    }
    fn teams(&self) -> CatalogResult<Vec<Team>> {
        self.every("team")
    }
    fn project(&self, id: &ProjectId) -> CatalogResult<Option<Project>> {
        self.get("project", id.to_string(), String::new())
    }
    fn projects(&self) -> CatalogResult<Vec<Project>> {
        self.every("project")
    }
    fn app(&self, id: &AppId) -> CatalogResult<Option<App>> {
        self.get("app", id.to_string(), String::new())
    }
    fn apps(&self) -> CatalogResult<Vec<App>> {
        self.every("app")
    }
    fn api_key(&self, id: &KeyId) -> CatalogResult<Option<ApiKey>> {
        const SQL: &str = "SELECT k1, k2, value::text FROM control WHERE kind = $1 AND k1 = $2";
        Ok(self.all("key", SQL, id.to_string())?.into_iter().next().map(|(_, _, v)| v))
    }
    fn api_keys(&self) -> CatalogResult<Vec<ApiKey>> {
        self.every("key")
    }
    fn api_key_by_hash(&self, sha256: &[u8; 32]) -> CatalogResult<Option<ApiKey>> {
        const SQL: &str = "SELECT k1, k2, value::text FROM control WHERE kind = $1 AND k2 = $2";
        Ok(self.all("key", SQL, hex::encode(sha256))?.into_iter().next().map(|(_, _, v)| v))
    }
    fn admin_token(&self, sha256: &[u8; 32]) -> CatalogResult<Option<AdminToken>> {
        self.get("admin_token", hex::encode(sha256), String::new())
    }
    fn admin_tokens(&self) -> CatalogResult<Vec<([u8; 32], AdminToken)>> {
        const SQL: &str = "SELECT k1, k2, value::text FROM control WHERE kind = $1 AND $2 = '' ORDER BY k1";
        self.all("admin_token", SQL, String::new())?
            .into_iter()
            .map(|(k1, _, t)| {
                let mut sha = [0u8; 32];
                hex::decode_to_slice(&k1, &mut sha)
                    .map_err(|_| CatalogError::Corrupt(format!("control admin_token: key {k1:?}")))?;
                Ok((sha, t))
            })
            .collect()
    }
    fn members(&self, team: &TeamId) -> CatalogResult<Vec<(UserId, Role)>> {
        const SQL: &str =
            "SELECT k1, k2, value::text FROM control WHERE kind = $1 AND k1 = $2 ORDER BY k2 COLLATE \"C\"";
        Ok(self.all("member", SQL, team.to_string())?.into_iter().map(|(_, u, r)| (UserId(u), r)).collect())
    }
    fn memberships(&self, user: &UserId) -> CatalogResult<Vec<(TeamId, Role)>> {
        const SQL: &str = "SELECT k1, k2, value::text FROM control WHERE kind = $1 AND k2 = $2 ORDER BY k1";
        self.all("member", SQL, user.0.clone())?
            .into_iter()
            .map(|(t, _, r)| {
                let team = t.parse().map_err(|_| CatalogError::Corrupt(format!("control member: team {t:?}")))?;
                Ok((team, r))
            })
            .collect()
    }
    fn marker(&self, name: &str) -> CatalogResult<Option<serde_json::Value>> {
        self.get("marker", name.to_string(), String::new())
    }
    fn user(&self, id: &UserId) -> CatalogResult<Option<User>> {
        self.get("user", id.0.clone(), String::new())
    }
    fn alias(&self, kind: AliasKind, value: &str) -> CatalogResult<Option<ProjectId>> {
        self.get("alias", tag(kind.tag()), value.to_string())
    }
    fn parent(&self, kind: ParentKind, id: &str) -> CatalogResult<Option<Parent>> {
        self.get("parent", tag(kind.tag()), id.to_string())
    }
    fn parents(&self, project: &ProjectId) -> CatalogResult<Vec<Parent>> {
        const SQL: &str = "SELECT k1, k2, value::text FROM control WHERE kind = $1 AND value->>'project_id' = $2
                           ORDER BY k1, k2 COLLATE \"C\"";
        Ok(self.all("parent", SQL, project.to_string())?.into_iter().map(|(_, _, p)| p).collect())
    }
    fn upload_policy(&self, project: &ProjectId) -> CatalogResult<Option<UploadPolicy>> {
        self.get("upload_policy", project.to_string(), String::new())
    }
    fn webhook(&self, project: &ProjectId) -> CatalogResult<Option<Webhook>> {
        self.get("webhook", project.to_string(), String::new())
    }
    fn event_link(&self, app: &AppId, client_event_id: &ClientEventId) -> CatalogResult<Option<EventLink>> {
        self.get("event_link", app.to_string(), client_event_id.to_string())
    }

    fn export_control(&self) -> CatalogResult<Vec<ControlChange>> {
        let rows: Vec<(String, String, String, String)> = self.with(|c| async move {
            let rows = c
                .query("SELECT kind, k1, k2, value::text FROM control ORDER BY kind, k1, k2", &[])
                .await
                .map_err(pg_error)?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
        })?;
        rows.into_iter().map(|(kind, k1, k2, v)| export_row(&kind, k1, k2, v)).collect()
    }

    fn control_version(&self) -> CatalogResult<u64> {
        self.with(|c| async move {
            let row = c.query_one("SELECT version FROM control_version", &[]).await.map_err(pg_error)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    fn apply_control(&self, changes: Vec<ControlChange>) -> CatalogResult<()> {
        self.with(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CONTROL_LOCK]).await.map_err(pg_error)?;
            let mut w = Writer { tx: &tx, projects: HashMap::new() };
            for change in changes {
                w.apply(change).await?;
            }
            tx.execute("UPDATE control_version SET version = version + 1", &[]).await.map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)
        })
    }
}

/// One `control` row as the change that recreates it.
fn export_row(kind: &str, k1: String, k2: String, v: String) -> CatalogResult<ControlChange> {
    let bad = |what: &str| CatalogError::Corrupt(format!("control {kind} {k1:?}: {what}"));
    let sha = |hex_text: &str| -> CatalogResult<[u8; 32]> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut out).map_err(|_| bad("hash"))?;
        Ok(out)
    };
    Ok(match kind {
        "team" => ControlChange::PutTeam(parse(kind, v)?),
        "project" => ControlChange::PutProject(parse(kind, v)?),
        "app" => ControlChange::PutApp(parse(kind, v)?),
        "key" => ControlChange::PutApiKey { key: parse(kind, v)?, secret_sha256: sha(&k2)? },
        "admin_token" => ControlChange::PutAdminToken { sha256: sha(&k1)?, token: parse(kind, v)? },
        "member" => ControlChange::PutMember {
            team: k1.parse().map_err(|_| bad("team id"))?,
            user: UserId(k2),
            role: parse(kind, v)?,
        },
        "marker" => ControlChange::PutMarker { name: k1, value: parse(kind, v)? },
        "user" => ControlChange::PutUser(parse(kind, v)?),
        "alias" => {
            let tag: u8 = k1.parse().map_err(|_| bad("alias kind"))?;
            let kind = [AliasKind::SpaceSlug, AliasKind::ProjectNumber]
                .into_iter()
                .find(|k| k.tag() == tag)
                .ok_or_else(|| bad("alias kind"))?;
            ControlChange::PutAlias { kind, value: k2, project: parse("alias", v)? }
        }
        "parent" => ControlChange::PutParent(parse(kind, v)?),
        "webhook" => {
            let w: Webhook = parse(kind, v)?;
            ControlChange::SetWebhook { project: w.project_id, webhook: Some(w) }
        }
        "upload_policy" => ControlChange::SetUploadPolicy {
            project: k1.parse().map_err(|_| bad("project id"))?,
            policy: Some(parse(kind, v)?),
        },
        "event_link" => ControlChange::PutEventLink {
            app: k1.parse().map_err(|_| bad("app id"))?,
            client_event_id: k2.parse().map_err(|_| bad("client event id"))?,
            link: parse(kind, v)?,
        },
        other => return Err(CatalogError::Corrupt(format!("control: unknown kind {other:?}"))),
    })
}

/// One control transaction's writes.
struct Writer<'a, 't> {
    tx: &'a tokio_postgres::Transaction<'t>,
    /// Projects as this call has left them so far: a change reads an earlier one's result.
    projects: HashMap<ProjectId, Project>,
}

impl Writer<'_, '_> {
    async fn put<T: Serialize>(&self, kind: &str, k1: String, k2: String, v: &T) -> CatalogResult<()> {
        let v = serde_json::to_string(v).map_err(|e| CatalogError::Backend(format!("encode {kind}: {e}")))?;
        self.tx
            .execute(
                "INSERT INTO control (kind, k1, k2, value) VALUES ($1, $2, $3, $4::text::jsonb)
                 ON CONFLICT (kind, k1, k2) DO UPDATE SET value = excluded.value",
                &[&kind, &k1, &k2, &v],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn delete(&self, kind: &str, k1: String, k2: String) -> CatalogResult<()> {
        self.tx
            .execute("DELETE FROM control WHERE kind = $1 AND k1 = $2 AND k2 = $3", &[&kind, &k1, &k2])
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn get<T: DeserializeOwned>(&self, kind: &'static str, k1: String, k2: String) -> CatalogResult<Option<T>> {
        let row = self
            .tx
            .query_opt("SELECT value::text FROM control WHERE kind = $1 AND k1 = $2 AND k2 = $3", &[&kind, &k1, &k2])
            .await
            .map_err(pg_error)?;
        row.map(|r| parse(kind, r.get(0))).transpose()
    }

    async fn project(&self, id: &ProjectId) -> CatalogResult<Option<Project>> {
        match self.projects.get(id) {
            Some(p) => Ok(Some(p.clone())),
            None => self.get("project", id.to_string(), String::new()).await,
        }
    }

    /// Writes a project and the copy of its quotas and deletion on its usage row.
    async fn put_project(&mut self, p: Project) -> CatalogResult<()> {
        self.put("project", p.id.to_string(), String::new(), &p).await?;
        let q = |v: Option<u64>| v.map(super::rows::size);
        self.tx
            .execute(
                "INSERT INTO project_usage (project_id, project_quota, user_quota, deleted) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (project_id) DO UPDATE
                     SET project_quota = $2, user_quota = $3, deleted = $4",
                &[&p.id.0, &q(p.project_quota_bytes), &q(p.user_quota_bytes), &p.deleted_at.is_some()],
            )
            .await
            .map_err(pg_error)?;
        self.projects.insert(p.id, p);
        Ok(())
    }

    async fn apply(&mut self, change: ControlChange) -> CatalogResult<()> {
        match change {
            ControlChange::PutTeam(t) => self.put("team", t.id.to_string(), String::new(), &t).await,
            ControlChange::PutProject(p) => self.put_project(p).await,
            ControlChange::SetQuotas { project, project_bytes, user_bytes } => {
                let Some(mut p) = self.project(&project).await? else { return Ok(()) };
                if let Some(v) = project_bytes {
                    p.project_quota_bytes = v;
                }
                if let Some(v) = user_bytes {
                    p.user_quota_bytes = v;
                }
                self.put_project(p).await
            }
            ControlChange::DeleteProject { project, at } => {
                match self.project(&project).await?.filter(|p| p.deleted_at.is_none()) {
                    Some(mut p) => {
                        p.deleted_at = Some(at);
                        self.put_project(p).await
                    }
                    None => Ok(()),
                }
            }
            ControlChange::PutApp(a) => self.put("app", a.id.to_string(), String::new(), &a).await,
            ControlChange::PutApiKey { key, secret_sha256 } => {
                self.put("key", key.id.to_string(), hex::encode(secret_sha256), &key).await
            }
            ControlChange::UpdateApiKey(key) => {
                let v = serde_json::to_string(&key).map_err(|e| CatalogError::Backend(format!("encode key: {e}")))?;
                self.tx
                    .execute(
                        "UPDATE control SET value = $2::text::jsonb WHERE kind = 'key' AND k1 = $1",
                        &[&key.id.to_string(), &v],
                    )
                    .await
                    .map_err(pg_error)?;
                Ok(())
            }
            ControlChange::PutAdminToken { sha256, token } => {
                self.put("admin_token", hex::encode(sha256), String::new(), &token).await
            }
            ControlChange::DeleteAdminToken(sha256) => {
                self.delete("admin_token", hex::encode(sha256), String::new()).await
            }
            ControlChange::PutMember { team, user, role } => self.put("member", team.to_string(), user.0, &role).await,
            ControlChange::DeleteMember { team, user } => self.delete("member", team.to_string(), user.0).await,
            ControlChange::PutMarker { name, value } => self.put("marker", name, String::new(), &value).await,
            ControlChange::DeleteMarker(name) => self.delete("marker", name, String::new()).await,
            ControlChange::PutUser(u) => self.put("user", u.id.0.clone(), String::new(), &u).await,
            ControlChange::SetWebhook { project, webhook } => match webhook {
                Some(w) => self.put("webhook", project.to_string(), String::new(), &w).await,
                None => self.delete("webhook", project.to_string(), String::new()).await,
            },
            ControlChange::SetUploadPolicy { project, policy } => match policy {
                Some(p) => self.put("upload_policy", project.to_string(), String::new(), &p).await,
                None => self.delete("upload_policy", project.to_string(), String::new()).await,
            },
            ControlChange::PutAlias { kind, value, project } => {
                let owner: Option<ProjectId> = self.get("alias", tag(kind.tag()), value.clone()).await?;
                if owner.is_some_and(|o| o != project) {
                    let what = match kind {
                        AliasKind::SpaceSlug => "space slug",
                        AliasKind::ProjectNumber => "project number",
                    };
                    return Err(CatalogError::Conflict(format!("{what} {value:?} already names another project")));
                }
                self.put("alias", tag(kind.tag()), value, &project).await
            }
            ControlChange::PutParent(p) => {
                let before: Option<Parent> = self.get("parent", tag(p.kind.tag()), p.id.clone()).await?;
                if let Some(old) = before.filter(|old| old.project_id != p.project_id) {
                    return Err(CatalogError::Conflict(format!(
                        "{:?} {:?} belongs to another project ({})",
                        old.kind, old.id, old.project_id
                    )));
                }
                self.put("parent", tag(p.kind.tag()), p.id.clone(), &p).await
            }
            ControlChange::DeleteParent { kind, id } => self.delete("parent", tag(kind.tag()), id).await,
            ControlChange::PutEventLink { app, client_event_id, link } => {
                self.put("event_link", app.to_string(), client_event_id.to_string(), &link).await
            }
        }
    }
}
