//! Column family `control`: teams, projects, apps, API keys, memberships, admin tokens, users,
//! project aliases and registered parents.
//!
//! ```text
//! key:    tag (1 byte) then:
//!   'T' | team id (16)                         → Team (JSON)
//!   'P' | project id (16)                      → Project (JSON)
//!   'A' | app id (16)                          → App (JSON)
//!   'K' | key id (16)                          → ApiKey (JSON; holds the secret's SHA-256, never the secret)
//!   'H' | SHA-256 of key secret (32)           → key id (16)
//!   'M' | team id (16) | user id (UTF-8)       → Role (JSON)
//!   'U' | len(user id) u16 BE | user id | team id (16)  → Role (JSON)
//!   'S' | SHA-256 of admin token (32)          → AdminToken (JSON)
//!   'X' | name (UTF-8)                         → marker value (JSON), e.g. "bootstrapped"
//!   'W' | user id (UTF-8)                      → User (JSON)
//!   'L' | alias kind (1) | name (UTF-8)        → project id (16)
//!   'R' | parent kind (1) | parent id (UTF-8)  → Parent (JSON)
//!   'Q' | project id (16) | parent kind (1) | parent id (UTF-8) → empty (parents by project)
//!   'V' | project id (16)                      → Webhook (JSON; holds its signing secret)
//!   'Y' | project id (16)                      → UploadPolicy (JSON)
//! ```
//! Low-volume, human-inspectable data, so values are JSON. Secrets are looked up by the hash of
//! the presented secret, so the plaintext is never stored.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::{AppId, KeyId, ProjectId, TeamId, UserId};
use crate::model::ParentKind;
use crate::model::control::{AdminToken, AliasKind, ApiKey, App, Parent, Project, Role, Team, User};

use super::{Batch, Index, IndexError};

/// Column family name.
pub const CF: &str = "control";

fn control_key(tag: u8, rest: &[&[u8]]) -> Vec<u8> {
    let mut key = vec![tag];
    for r in rest {
        key.extend_from_slice(r);
    }
    key
}

fn user_team_key(user: &UserId, team: Option<&TeamId>) -> Vec<u8> {
    let len = (user.0.len() as u16).to_be_bytes();
    control_key(b'U', &[&len, user.0.as_bytes(), team.map(|t| t.as_bytes().as_slice()).unwrap_or(&[])])
}

impl Index {
    fn get_json<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, IndexError> {
        match self.get_cf(CF, key)? {
            None => Ok(None),
            Some(v) => {
                serde_json::from_slice(&v).map(Some).map_err(|e| IndexError::Corrupt { cf: CF, what: e.to_string() })
            }
        }
    }

    fn scan_json<T: DeserializeOwned>(&self, prefix: Vec<u8>) -> Result<Vec<(Box<[u8]>, T)>, IndexError> {
        let from = prefix.clone();
        self.scan_prefix(CF, prefix, &from)
            .map(|r| {
                let (k, v) = r?;
                let t = serde_json::from_slice(&v).map_err(|e| IndexError::Corrupt { cf: CF, what: e.to_string() })?;
                Ok((k, t))
            })
            .collect()
    }

    /// A team by id.
    pub fn team(&self, id: &TeamId) -> Result<Option<Team>, IndexError> {
        self.get_json(&control_key(b'T', &[id.as_bytes()]))
    }
    /// All teams.
    pub fn teams(&self) -> Result<Vec<Team>, IndexError> {
        Ok(self.scan_json(vec![b'T'])?.into_iter().map(|(_, t)| t).collect())
    }
    /// A project by id (including soft-deleted ones).
    pub fn project(&self, id: &ProjectId) -> Result<Option<Project>, IndexError> {
        self.get_json(&control_key(b'P', &[id.as_bytes()]))
    }
    /// All projects.
    pub fn projects(&self) -> Result<Vec<Project>, IndexError> {
        Ok(self.scan_json(vec![b'P'])?.into_iter().map(|(_, p)| p).collect())
    }
    /// An app by id.
    pub fn app(&self, id: &AppId) -> Result<Option<App>, IndexError> {
        self.get_json(&control_key(b'A', &[id.as_bytes()]))
    }
    /// All apps.
    pub fn apps(&self) -> Result<Vec<App>, IndexError> {
        Ok(self.scan_json(vec![b'A'])?.into_iter().map(|(_, a)| a).collect())
    }
    /// A key by id.
    pub fn api_key(&self, id: &KeyId) -> Result<Option<ApiKey>, IndexError> {
        self.get_json(&control_key(b'K', &[id.as_bytes()]))
    }
    /// All keys.
    pub fn api_keys(&self) -> Result<Vec<ApiKey>, IndexError> {
        Ok(self.scan_json(vec![b'K'])?.into_iter().map(|(_, a)| a).collect())
    }
    /// The key whose secret hashes to `sha256`.
    pub fn api_key_by_hash(&self, sha256: &[u8; 32]) -> Result<Option<ApiKey>, IndexError> {
        match self.get_cf(CF, &control_key(b'H', &[sha256]))? {
            None => Ok(None),
            Some(v) => match KeyId::from_slice(&v) {
                Some(id) => self.api_key(&id),
                None => Err(IndexError::Corrupt { cf: CF, what: "key hash entry".into() }),
            },
        }
    }
    /// The admin token whose secret hashes to `sha256`.
    pub fn admin_token(&self, sha256: &[u8; 32]) -> Result<Option<AdminToken>, IndexError> {
        self.get_json(&control_key(b'S', &[sha256]))
    }
    /// Every admin token: the SHA-256 of its secret, and its name and creation time.
    pub fn admin_tokens(&self) -> Result<Vec<([u8; 32], AdminToken)>, IndexError> {
        let mut out = Vec::new();
        for (key, t) in self.scan_json(vec![b'S'])? {
            let hash = key.get(1..).and_then(|h| <[u8; 32]>::try_from(h).ok());
            out.push((hash.ok_or_else(|| IndexError::Corrupt { cf: CF, what: "admin token key".into() })?, t));
        }
        Ok(out)
    }
    /// A marker (e.g. `bootstrapped`), if set.
    pub fn marker(&self, name: &str) -> Result<Option<serde_json::Value>, IndexError> {
        self.get_json(&control_key(b'X', &[name.as_bytes()]))
    }

    /// Members of a team.
    pub fn members(&self, team: &TeamId) -> Result<Vec<(UserId, Role)>, IndexError> {
        Ok(self
            .scan_json::<Role>(control_key(b'M', &[team.as_bytes()]))?
            .into_iter()
            .map(|(key, role)| (UserId(String::from_utf8_lossy(&key[17..]).into_owned()), role))
            .collect())
    }
    /// The teams a user belongs to, with their role.
    pub fn memberships(&self, user: &UserId) -> Result<Vec<(TeamId, Role)>, IndexError> {
        let prefix = user_team_key(user, None);
        let plen = prefix.len();
        self.scan_json::<Role>(prefix)?
            .into_iter()
            .map(|(key, role)| {
                let team = TeamId::from_slice(&key[plen..])
                    .ok_or(IndexError::Corrupt { cf: CF, what: "membership key".into() })?;
                Ok((team, role))
            })
            .collect()
    }

    /// A project's upload policy.
    pub fn upload_policy(&self, project: &ProjectId) -> Result<Option<crate::model::UploadPolicy>, IndexError> {
        self.get_json(&control_key(b'Y', &[project.as_bytes()]))
    }
    /// A project's webhook.
    pub fn webhook(&self, project: &ProjectId) -> Result<Option<crate::model::Webhook>, IndexError> {
        self.get_json(&control_key(b'V', &[project.as_bytes()]))
    }
    /// A user by id.
    pub fn user(&self, id: &UserId) -> Result<Option<User>, IndexError> {
        self.get_json(&control_key(b'W', &[id.0.as_bytes()]))
    }
    /// The project an alias names.
    pub fn alias(&self, kind: AliasKind, value: &str) -> Result<Option<ProjectId>, IndexError> {
        match self.get_cf(CF, &control_key(b'L', &[&[kind.tag()], value.as_bytes()]))? {
            None => Ok(None),
            Some(v) => {
                ProjectId::from_slice(&v).map(Some).ok_or(IndexError::Corrupt { cf: CF, what: "alias entry".into() })
            }
        }
    }
    /// A registered parent.
    pub fn parent(&self, kind: ParentKind, id: &str) -> Result<Option<Parent>, IndexError> {
        self.get_json(&control_key(b'R', &[&[kind.tag()], id.as_bytes()]))
    }
    /// The parents registered in a project, by kind then id.
    pub fn parents(&self, project: &ProjectId) -> Result<Vec<Parent>, IndexError> {
        let prefix = control_key(b'Q', &[project.as_bytes()]);
        let mut out = Vec::new();
        for row in self.scan_prefix(CF, prefix.clone(), &prefix) {
            let (key, _) = row?;
            let rest = &key[prefix.len()..];
            let (kind, id) = rest.split_first().ok_or(IndexError::Corrupt { cf: CF, what: "parent entry".into() })?;
            let kind = ParentKind::from_tag(*kind).ok_or(IndexError::Corrupt { cf: CF, what: "parent kind".into() })?;
            let id = std::str::from_utf8(id).map_err(|_| IndexError::Corrupt { cf: CF, what: "parent id".into() })?;
            out.extend(self.parent(kind, id)?);
        }
        Ok(out)
    }
}

impl Batch<'_> {
    fn put_json<T: Serialize>(&mut self, key: &[u8], v: &T) {
        let bytes = serde_json::to_vec(v).expect("control values always serialize");
        self.put(CF, key, &bytes);
    }
    /// Writes a team.
    pub fn put_team(&mut self, t: &Team) {
        self.put_json(&control_key(b'T', &[t.id.as_bytes()]), t);
    }
    /// Writes a project.
    pub fn put_project(&mut self, p: &Project) {
        self.put_json(&control_key(b'P', &[p.id.as_bytes()]), p);
    }
    /// Writes an app.
    pub fn put_app(&mut self, a: &App) {
        self.put_json(&control_key(b'A', &[a.id.as_bytes()]), a);
    }
    /// Writes a key and its hash lookup entry.
    pub fn put_api_key(&mut self, key: &ApiKey, secret_sha256: &[u8; 32]) {
        self.put_json(&control_key(b'K', &[key.id.as_bytes()]), key);
        self.put(CF, &control_key(b'H', &[secret_sha256]), key.id.as_bytes());
    }
    /// Rewrites a key's record (revocation) without touching its hash entry.
    pub fn update_api_key(&mut self, key: &ApiKey) {
        self.put_json(&control_key(b'K', &[key.id.as_bytes()]), key);
    }
    /// Stores an admin token by its hash.
    pub fn put_admin_token(&mut self, sha256: &[u8; 32], t: &AdminToken) {
        self.put_json(&control_key(b'S', &[sha256]), t);
    }
    /// Removes an admin token (revocation).
    pub fn delete_admin_token(&mut self, sha256: &[u8; 32]) {
        self.delete(CF, &control_key(b'S', &[sha256]));
    }
    /// Sets (or replaces) a member's role.
    pub fn put_member(&mut self, team: &TeamId, user: &UserId, role: Role) {
        self.put_json(&control_key(b'M', &[team.as_bytes(), user.0.as_bytes()]), &role);
        self.put_json(&user_team_key(user, Some(team)), &role);
    }
    /// Sets a marker.
    pub fn put_marker(&mut self, name: &str, v: &serde_json::Value) {
        self.put_json(&control_key(b'X', &[name.as_bytes()]), v);
    }
    /// Clears a marker.
    pub fn delete_marker(&mut self, name: &str) {
        self.delete(CF, &control_key(b'X', &[name.as_bytes()]));
    }

    /// Removes a member.
    pub fn delete_member(&mut self, team: &TeamId, user: &UserId) {
        self.delete(CF, &control_key(b'M', &[team.as_bytes(), user.0.as_bytes()]));
        self.delete(CF, &user_team_key(user, Some(team)));
    }

    /// Writes a user.
    pub fn put_user(&mut self, u: &User) {
        self.put_json(&control_key(b'W', &[u.id.0.as_bytes()]), u);
    }
    /// Sets or removes a project's upload policy.
    pub fn set_upload_policy(&mut self, project: &ProjectId, p: Option<&crate::model::UploadPolicy>) {
        let key = control_key(b'Y', &[project.as_bytes()]);
        match p {
            Some(p) => self.put_json(&key, p),
            None => self.delete(CF, &key),
        }
    }
    /// Sets or removes a project's webhook.
    pub fn set_webhook(&mut self, project: &ProjectId, w: Option<&crate::model::Webhook>) {
        let key = control_key(b'V', &[project.as_bytes()]);
        match w {
            Some(w) => self.put_json(&key, w),
            None => self.delete(CF, &key),
        }
    }
    /// Names a project by an alias.
    pub fn put_alias(&mut self, kind: AliasKind, value: &str, project: &ProjectId) {
        self.put(CF, &control_key(b'L', &[&[kind.tag()], value.as_bytes()]), project.as_bytes());
    }
    /// Writes a parent and its entry under its project.
    pub fn put_parent(&mut self, p: &Parent) {
        self.put_json(&control_key(b'R', &[&[p.kind.tag()], p.id.as_bytes()]), p);
        self.put(CF, &control_key(b'Q', &[p.project_id.as_bytes(), &[p.kind.tag()], p.id.as_bytes()]), &[]);
    }
    /// Removes a parent and its entry under its project.
    pub fn delete_parent(&mut self, p: &Parent) {
        self.delete(CF, &control_key(b'R', &[&[p.kind.tag()], p.id.as_bytes()]));
        self.delete(CF, &control_key(b'Q', &[p.project_id.as_bytes(), &[p.kind.tag()], p.id.as_bytes()]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::temp_index;

    #[test]
    fn memberships_are_indexed_both_ways() {
        let (_d, idx) = temp_index();
        let (t1, t2) = (TeamId::random(), TeamId::random());
        let alice = UserId("alice".into());
        let al = UserId("al".into());
        let mut b = idx.batch();
        b.put_member(&t1, &alice, Role::Owner);
        b.put_member(&t2, &alice, Role::Member);
        b.put_member(&t1, &al, Role::Admin);
        b.commit(false).unwrap();
        let mut m = idx.memberships(&alice).unwrap();
        m.sort();
        let mut want = vec![(t1, Role::Owner), (t2, Role::Member)];
        want.sort();
        assert_eq!(m, want);
        // "al" is a prefix of "alice" but must not see alice's teams.
        assert_eq!(idx.memberships(&al).unwrap(), vec![(t1, Role::Admin)]);
        assert_eq!(idx.members(&t1).unwrap().len(), 2);
        let mut b = idx.batch();
        b.delete_member(&t2, &alice);
        b.commit(false).unwrap();
        assert_eq!(idx.memberships(&alice).unwrap().len(), 1);
    }
}
