//! The control plane's values: teams, projects (the unit of quotas), apps, API keys, team
//! roles, admin tokens, users, project aliases, the host application's parent entities, and
//! the links from an app's client event ids to the host's events.
//!
//! Plain data, stored by every backend as it likes (the local one as JSON in the `control`
//! and `event_links` column families). Secrets never appear here: a key or an admin token is
//! known by the SHA-256 of its secret. Every change is a [`ControlChange`], applied by the
//! catalog atomically and durably, in order.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{AppId, ClientEventId, EndUserId, EventId, IssueId, KeyId, ProjectId, TeamId, UserId};
use crate::model::ParentKind;

/// A team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Its id.
    pub id: TeamId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A project: the unit of quotas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Its id.
    pub id: ProjectId,
    /// The team that owns it.
    pub team_id: TeamId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was soft-deleted; `None` while it is live.
    pub deleted_at: Option<Timestamp>,
    /// Override of the project quota (bytes); `None` = the configured default.
    #[serde(rename = "attachment_project_quota_bytes")]
    pub project_quota_bytes: Option<u64>,
    /// Override of the per-owner quota (bytes); `None` = the configured default.
    #[serde(rename = "attachment_user_quota_bytes")]
    pub user_quota_bytes: Option<u64>,
}

/// An app inside a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Its id.
    pub id: AppId,
    /// The project it belongs to.
    pub project_id: ProjectId,
    /// The team owning that project.
    pub team_id: TeamId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was deleted; `None` while it is live. A deleted app takes no new keys.
    pub deleted_at: Option<Timestamp>,
}

/// What kind of API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Embedded in apps; scoped to one app.
    Client,
    /// Server-side reader; scoped to a team.
    Agent,
    /// Acts as one user in one project (the APIs that name who uploaded).
    User,
}

/// An API key (its secret is stored only as a SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Its id.
    pub id: KeyId,
    /// Client or agent.
    pub kind: KeyKind,
    /// Display name.
    pub name: String,
    /// The team it acts in (a client key's: its app's team).
    pub team_id: TeamId,
    /// The app a client key is scoped to; `None` for agent keys.
    pub app_id: Option<AppId>,
    /// What it may do, e.g. `events:write`.
    pub permissions: Vec<String>,
    /// The first characters of the secret, for recognising it in lists.
    pub secret_prefix: String,
    /// SHA-256 of the secret, hex-encoded.
    pub secret_sha256: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked; `None` while it is not.
    pub revoked_at: Option<Timestamp>,
    /// When it stops authenticating; `None` for never.
    pub expires_at: Option<Timestamp>,
    /// The user a user key acts as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// The project a user key acts in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
}

/// A person known to attachd: who uploaded a file, whose ticket it is. Created and updated by
/// the admin API; JWTs and user keys name them by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Their id (a JWT's `sub`).
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// When first created.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
}

/// Another name a front end gives a project. The discriminants are stored: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum AliasKind {
    /// A catalog space's slug (a string).
    SpaceSlug = 1,
    /// A project number (an integer, in its decimal form).
    ProjectNumber = 2,
}

impl AliasKind {
    /// The stored tag.
    pub fn tag(self) -> u8 {
        self as u8
    }
}

/// An entity of the host application that attachments hang under (a product, a ticket, an
/// asset, a project of the host), registered so that "parent not found" is a real answer. A
/// parent belongs to one attachd project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    /// The project it belongs to.
    pub project_id: ProjectId,
    /// Its kind.
    pub kind: ParentKind,
    /// The host application's id for it (1–255 bytes).
    pub id: String,
    /// Its owner, where the kind has one (a ticket's).
    pub owner: Option<UserId>,
    /// When first registered.
    pub created_at: Timestamp,
    /// When last changed.
    pub updated_at: Timestamp,
}

/// A team role, ranked owner > admin > member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Lowest.
    Member,
    /// Middle.
    Admin,
    /// Highest.
    Owner,
}

/// An admin token (stored hashed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminToken {
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A link from a client event id to the host's ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLink {
    /// The host's event id.
    pub event_id: EventId,
    /// The issue the event belongs to, if known.
    pub issue_id: Option<IssueId>,
    /// The event's end user (an attachment's owner), if known.
    #[serde(default, rename = "user_id")]
    pub owner: Option<EndUserId>,
}

/// One change to the control plane.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlChange {
    /// Creates or replaces a team.
    PutTeam(Team),
    /// Creates or replaces a project (its quotas with it).
    PutProject(Project),
    /// Changes a project's quota overrides, read and written as one step (`Some(None)`: back
    /// to the configured default; `None`: unchanged). A project that does not exist is left so.
    SetQuotas {
        /// The project.
        project: ProjectId,
        /// The project quota override.
        project_bytes: Option<Option<u64>>,
        /// The per-user quota override.
        user_bytes: Option<Option<u64>>,
    },
    /// Marks a project deleted at `at`, unless it already is (read and written as one step).
    DeleteProject {
        /// The project.
        project: ProjectId,
        /// When.
        at: Timestamp,
    },
    /// Creates or replaces an app.
    PutApp(App),
    /// Creates a key, findable by the SHA-256 of its secret.
    PutApiKey {
        /// The key.
        key: ApiKey,
        /// SHA-256 of its secret.
        secret_sha256: [u8; 32],
    },
    /// Rewrites a key's record (revocation), keeping its secret's lookup.
    UpdateApiKey(ApiKey),
    /// Stores an admin token by the SHA-256 of its secret.
    PutAdminToken {
        /// SHA-256 of its secret.
        sha256: [u8; 32],
        /// The token.
        token: AdminToken,
    },
    /// Removes an admin token.
    DeleteAdminToken([u8; 32]),
    /// Sets (or replaces) a member's role in a team.
    PutMember {
        /// The team.
        team: TeamId,
        /// The user.
        user: UserId,
        /// The role.
        role: Role,
    },
    /// Removes a member from a team.
    DeleteMember {
        /// The team.
        team: TeamId,
        /// The user.
        user: UserId,
    },
    /// Sets a named marker (e.g. `bootstrapped`).
    PutMarker {
        /// Its name.
        name: String,
        /// Its value.
        value: serde_json::Value,
    },
    /// Clears a marker.
    DeleteMarker(String),
    /// Creates or replaces a user.
    PutUser(User),
    /// Sets (or with `None` removes) a project's upload policy.
    SetUploadPolicy {
        /// The project.
        project: ProjectId,
        /// The policy.
        policy: Option<super::UploadPolicy>,
    },
    /// Sets (or with `None` removes) a project's webhook.
    SetWebhook {
        /// The project.
        project: ProjectId,
        /// The webhook.
        webhook: Option<super::Webhook>,
    },
    /// Names `project` by `value` of `kind`; refused with a conflict if the name belongs to
    /// another project (re-naming the same project is a no-op).
    PutAlias {
        /// The kind of name.
        kind: AliasKind,
        /// The name.
        value: String,
        /// The project it names.
        project: ProjectId,
    },
    /// Registers or updates a parent; refused with a conflict if the same kind and id are
    /// registered in another project.
    PutParent(Parent),
    /// Unregisters a parent (nothing if it is not registered).
    DeleteParent {
        /// Its kind.
        kind: ParentKind,
        /// Its id.
        id: String,
    },
    /// Records (or replaces) the link of a client event id of an app.
    PutEventLink {
        /// The app.
        app: AppId,
        /// The client event id.
        client_event_id: ClientEventId,
        /// The host's ids.
        link: EventLink,
    },
}
