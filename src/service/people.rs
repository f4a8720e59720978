//! People: the callers of the APIs that name who uploaded a file (product and ticket files,
//! asset records), and what they may reach.
//!
//! A person is authenticated by a user JWT (`sub`, with `name` and `email` claims) or by a
//! user-bound API key (`attachd_user_…`, issued by the admin API for one user in one
//! project). Their display name and email come from the user registered through the admin API
//! when there is one, else from the JWT's claims. A JWT reaches the projects of the teams the
//! user is a member of; a user key reaches its own project only. Anything out of reach is
//! "not found", so existence never leaks; roles (for delete rules) are the user's team roles.

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::ids::{ProjectId, TeamId, UserId};
use crate::model::control::{ApiKey, KeyKind, Project, Role};

use super::auth::{ADMIN_TOKEN_PREFIX, USER_KEY_PREFIX, secret_hash};
use super::{Result, Service, ServiceError};

/// An authenticated person.
#[derive(Debug, Clone)]
pub struct Person {
    /// Their user id.
    pub id: UserId,
    /// Display name (the registered user's, the JWT's `name`, or the id).
    pub name: String,
    /// Email, if known.
    pub email: Option<String>,
    /// How they authenticated, and so what they reach.
    pub via: Via,
}

/// How a person authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// A user JWT: the teams they are a member of.
    Jwt {
        /// Memberships.
        teams: Vec<(TeamId, Role)>,
    },
    /// A user-bound key, for one project.
    Key {
        /// The key.
        key: Arc<ApiKey>,
        /// Its project.
        project: ProjectId,
    },
}

/// A project a person reached, with their role on its team (`None`: a user key whose user is
/// not a member of the team).
#[derive(Debug, Clone)]
pub struct Reach {
    /// The project.
    pub project: Project,
    /// The person's team role.
    pub role: Option<Role>,
}

impl Reach {
    /// Whether the person is an admin or owner of the project's team.
    pub fn is_admin(&self) -> bool {
        self.role.is_some_and(|r| r >= Role::Admin)
    }
}

impl Service {
    /// Authenticates a person by a user JWT or a user-bound key. Other keys (seed-000 client
    /// and agent keys, admin tokens) are not people: 401.
    pub fn authenticate_person(&self, token: &str) -> Result<Person> {
        if token.is_empty() {
            return Err(ServiceError::MissingAuth);
        }
        let now = Timestamp::now();
        if token.starts_with(USER_KEY_PREFIX) {
            let key = self.control.key(&*self.catalog, &secret_hash(token))?.ok_or(ServiceError::InvalidApiKey)?;
            if key.kind != KeyKind::User || key.revoked_at.is_some() {
                return Err(ServiceError::InvalidApiKey);
            }
            if key.expires_at.is_some_and(|e| e <= now) {
                return Err(ServiceError::ApiKeyExpired);
            }
            let (Some(user), Some(project)) = (key.user_id.clone(), key.project_id) else {
                return Err(ServiceError::InvalidApiKey);
            };
            let stored = self.catalog.user(&user)?.ok_or(ServiceError::InvalidApiKey)?;
            return Ok(Person {
                id: user,
                name: stored.name,
                email: Some(stored.email),
                via: Via::Key { key, project },
            });
        }
        if token.starts_with(ADMIN_TOKEN_PREFIX) || token.starts_with("owl_") {
            return Err(ServiceError::InvalidApiKey);
        }
        let identity = self.jwt.verify_identity(token, now.as_secs()).ok_or(ServiceError::InvalidJwt)?;
        let stored = self.catalog.user(&identity.id)?;
        let name = stored.as_ref().map(|u| u.name.clone()).or(identity.name).unwrap_or_else(|| identity.id.0.clone());
        let email = stored.map(|u| u.email).or(identity.email);
        let teams = self.catalog.memberships(&identity.id)?;
        Ok(Person { id: identity.id, name, email, via: Via::Jwt { teams } })
    }

    /// The live project `id` if `person` reaches it, with their role; else `not_found`.
    pub fn reach(&self, person: &Person, id: &ProjectId, not_found: ServiceError) -> Result<Reach> {
        let project = self.control.project(&*self.catalog, id)?.filter(|p| p.deleted_at.is_none());
        let Some(project) = project else { return Err(not_found) };
        let role = match &person.via {
            Via::Jwt { teams } => match teams.iter().find(|(t, _)| *t == project.team_id) {
                Some((_, r)) => Some(*r),
                None => return Err(not_found),
            },
            Via::Key { project: p, .. } if p != id => return Err(not_found),
            Via::Key { .. } => {
                let teams = self.catalog.memberships(&person.id)?;
                teams.into_iter().find(|(t, _)| *t == project.team_id).map(|(_, r)| r)
            }
        };
        Ok(Reach { project: (*project).clone(), role })
    }

    /// A user's display name: the registered user's, else the id.
    pub fn display_name(&self, id: &UserId) -> Result<String> {
        Ok(self.catalog.user(id)?.map_or_else(|| id.0.clone(), |u| u.name))
    }

    /// Registers a JWT person not yet known, from their claims (when they carry a name and
    /// an email), so listings name them later; a registered user is left as the admin API
    /// set them.
    pub fn remember(&self, person: &Person) -> Result<()> {
        let (Via::Jwt { .. }, Some(email)) = (&person.via, &person.email) else { return Ok(()) };
        if person.name == person.id.0 || self.catalog.user(&person.id)?.is_some() {
            return Ok(());
        }
        match self.put_user(person.id.clone(), person.name.clone(), email.clone()) {
            Ok(_) => Ok(()),
            // Claims that are not a valid profile are not stored; the upload goes on.
            Err(ServiceError::BadParameter(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The project a user key is bound to (for the APIs whose paths name no project).
    pub fn key_project(&self, person: &Person) -> Option<ProjectId> {
        match &person.via {
            Via::Key { project, .. } => Some(*project),
            Via::Jwt { .. } => None,
        }
    }
}
