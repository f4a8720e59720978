//! `attachd admin …`: one subcommand per admin API endpoint, each a thin HTTP call to the
//! running daemon's admin API (`/admin/v1`), printing its JSON reply (exit 1 on an error status).

use crate::client::Method;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{Conn, print_reply};

/// Which registered parent a command names.
#[derive(Debug, Args)]
pub struct ParentArgs {
    /// Project id.
    #[arg(long)]
    project: String,
    /// product, ticket, asset or project.
    #[arg(long)]
    kind: String,
    /// The host application's id for it.
    #[arg(long)]
    id: String,
}

impl ParentArgs {
    /// Its path under `/admin/v1`.
    fn path(&self) -> String {
        format!("projects/{}/parents/{}/{}", self.project, self.kind, enc(&self.id))
    }
}

/// A path segment, percent-encoded (user ids, slugs and parent ids may hold any character).
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `attachd admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// List teams.
    Teams,
    /// Create a team.
    CreateTeam {
        /// Name of the new team.
        #[arg(long)]
        name: String,
    },
    /// List projects.
    Projects,
    /// Create a project.
    CreateProject {
        /// Id of the team that owns the project.
        #[arg(long)]
        team: String,
        /// Name of the new project.
        #[arg(long)]
        name: String,
    },
    /// Soft-delete a project.
    DeleteProject {
        /// Project id.
        id: String,
    },
    /// List apps.
    Apps,
    /// Create an app.
    CreateApp {
        /// Id of the project the app belongs to.
        #[arg(long)]
        project: String,
        /// Name of the new app.
        #[arg(long)]
        name: String,
    },
    /// List keys (never their secrets).
    Keys,
    /// Create a key; prints its secret once.
    CreateKey {
        /// client (app-scoped), agent (team-scoped) or user (acts as a user in a project).
        #[arg(long)]
        kind: String,
        /// User id (required for user keys).
        #[arg(long)]
        user: Option<String>,
        /// Project id (required for user keys).
        #[arg(long)]
        project: Option<String>,
        /// App id (required for client keys).
        #[arg(long)]
        app: Option<String>,
        /// Team id (required for agent keys).
        #[arg(long)]
        team: Option<String>,
        /// Display name (default: "key").
        #[arg(long)]
        name: Option<String>,
        /// Repeat for several (client: events:write; agent: events:read, events:write, projects:write).
        #[arg(long = "permission")]
        permissions: Vec<String>,
    },
    /// Revoke a key.
    RevokeKey {
        /// Key id.
        id: String,
    },
    /// List a team's members.
    Members {
        /// Team id.
        #[arg(long)]
        team: String,
    },
    /// Set a user's role in a team (owner, admin, member).
    SetMember {
        /// Team id.
        #[arg(long)]
        team: String,
        /// User id (a JWT `sub`).
        #[arg(long)]
        user: String,
        /// owner, admin or member.
        #[arg(long)]
        role: String,
    },
    /// Remove a user from a team.
    RemoveMember {
        /// Team id.
        #[arg(long)]
        team: String,
        /// User id (a JWT `sub`).
        #[arg(long)]
        user: String,
    },
    /// Set a project's quota overrides (bytes, any non-negative value; "default" resets).
    SetQuota {
        /// Project id.
        #[arg(long)]
        project: String,
        /// Quota for the whole project in bytes, or "default" (left unchanged when omitted).
        #[arg(long)]
        project_bytes: Option<String>,
        /// Quota for each end user's uploads in the project in bytes, or "default" (left unchanged when omitted).
        #[arg(long)]
        user_bytes: Option<String>,
    },
    /// The content scanner: configured, reachable, and how many files wait for a scan.
    Scanner,
    /// Set a project's webhook URL (`http://…`); prints its signing secret once.
    SetWebhook {
        /// Project id.
        #[arg(long)]
        project: String,
        /// Where notices are POSTed.
        #[arg(long)]
        url: String,
    },
    /// Set a project's limits on signed-URL uploads (unset: the configured defaults).
    SetUploadPolicy {
        /// Project id.
        #[arg(long)]
        project: String,
        /// Largest file, in bytes.
        #[arg(long)]
        max_bytes: Option<u64>,
        /// Allowed MIME types (repeat the flag for each).
        #[arg(long = "allowed-type")]
        allowed_types: Vec<String>,
        /// Lifetime of an upload URL, in seconds.
        #[arg(long)]
        upload_url_ttl_secs: Option<u64>,
    },
    /// Show a project's webhook (without its secret).
    Webhook {
        /// Project id.
        #[arg(long)]
        project: String,
    },
    /// Remove a project's webhook.
    DeleteWebhook {
        /// Project id.
        #[arg(long)]
        project: String,
    },
    /// List admin tokens (never their secrets).
    Tokens,
    /// Create an admin token; prints its secret once. Rotate by creating the new token,
    /// switching to it, then revoking the old one.
    CreateToken {
        /// Name of the new token (1–100 characters).
        #[arg(long)]
        name: String,
    },
    /// Revoke an admin token by id (see `tokens`); the last one cannot be revoked.
    RevokeToken {
        /// Token id (16 hex digits).
        id: String,
    },
    /// Create or update a user (who uploaded, whose ticket it is).
    PutUser {
        /// User id (a JWT `sub`).
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Email address.
        #[arg(long)]
        email: String,
    },
    /// Name a project by a space slug or a project number.
    SetAlias {
        /// Project id.
        #[arg(long)]
        project: String,
        /// space_slug or project_number.
        #[arg(long)]
        kind: String,
        /// The slug or number.
        #[arg(long)]
        value: String,
    },
    /// List the parents registered in a project.
    Parents {
        /// Project id.
        #[arg(long)]
        project: String,
    },
    /// Register (or update) a parent: a product, ticket, asset or project of the host.
    PutParent {
        /// Which parent.
        #[command(flatten)]
        at: ParentArgs,
        /// A ticket's owner (a user id; required for tickets).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Unregister a parent.
    DeleteParent(ParentArgs),
    /// Mint a user JWT signed with the daemon's secret.
    MintJwt {
        /// Subject: the user id the token speaks for.
        #[arg(long)]
        sub: String,
        /// Lifetime in seconds (default: 3600).
        #[arg(long)]
        ttl_secs: Option<u64>,
        /// A `name` claim (the user's display name).
        #[arg(long)]
        name: Option<String>,
        /// An `email` claim.
        #[arg(long)]
        email: Option<String>,
    },
}

fn quota_value(s: &Option<String>) -> Result<Option<Value>, String> {
    match s.as_deref() {
        None => Ok(None),
        Some("default") | Some("null") => Ok(Some(Value::Null)),
        Some(n) => n.parse::<u64>().map(|n| Some(json!(n))).map_err(|_| format!("not a byte count: {n}")),
    }
}

/// Runs an admin command; returns the process exit code.
pub async fn admin(conn: &Conn, what: &AdminCmd) -> Result<i32, String> {
    let (url, token) = conn.resolve()?;
    let token = token.ok_or("no admin token: pass --token or set ATTACHD_ADMIN_TOKEN")?;
    let a = |p: &str| format!("{url}/admin/v1/{p}");
    let (method, path, body) = match what {
        AdminCmd::Teams => (Method::GET, a("teams"), None),
        AdminCmd::CreateTeam { name } => (Method::POST, a("teams"), Some(json!({"name": name}))),
        AdminCmd::Projects => (Method::GET, a("projects"), None),
        AdminCmd::CreateProject { team, name } => {
            (Method::POST, a(&format!("teams/{team}/projects")), Some(json!({"name": name})))
        }
        AdminCmd::DeleteProject { id } => (Method::DELETE, a(&format!("projects/{id}")), None),
        AdminCmd::Apps => (Method::GET, a("apps"), None),
        AdminCmd::CreateApp { project, name } => {
            (Method::POST, a(&format!("projects/{project}/apps")), Some(json!({"name": name})))
        }
        AdminCmd::Keys => (Method::GET, a("keys"), None),
        AdminCmd::CreateKey { kind, user, project, app, team, name, permissions } => {
            let mut b = json!({"kind": kind, "app_id": app, "team_id": team, "name": name});
            if user.is_some() || project.is_some() {
                b = json!({"kind": kind, "user_id": user, "project_id": project, "name": name});
            }
            if !permissions.is_empty() {
                b["permissions"] = json!(permissions);
            }
            (Method::POST, a("keys"), Some(b))
        }
        AdminCmd::RevokeKey { id } => (Method::DELETE, a(&format!("keys/{id}")), None),
        AdminCmd::Members { team } => (Method::GET, a(&format!("teams/{team}/members")), None),
        AdminCmd::SetMember { team, user, role } => {
            (Method::PUT, a(&format!("teams/{team}/members/{}", enc(user))), Some(json!({"role": role})))
        }
        AdminCmd::RemoveMember { team, user } => {
            (Method::DELETE, a(&format!("teams/{team}/members/{}", enc(user))), None)
        }
        AdminCmd::SetQuota { project, project_bytes, user_bytes } => {
            let mut b = json!({});
            if let Some(v) = quota_value(project_bytes)? {
                b["project_bytes"] = v;
            }
            if let Some(v) = quota_value(user_bytes)? {
                b["user_bytes"] = v;
            }
            (Method::PUT, a(&format!("projects/{project}/quota")), Some(b))
        }
        AdminCmd::Scanner => (Method::GET, a("scanner"), None),
        AdminCmd::SetWebhook { project, url } => {
            (Method::PUT, a(&format!("projects/{project}/webhook")), Some(json!({"url": url})))
        }
        AdminCmd::SetUploadPolicy { project, max_bytes, allowed_types, upload_url_ttl_secs } => {
            let types = (!allowed_types.is_empty()).then_some(allowed_types);
            let body =
                json!({"max_bytes": max_bytes, "allowed_types": types, "upload_url_ttl_secs": upload_url_ttl_secs});
            (Method::PUT, a(&format!("projects/{project}/upload-policy")), Some(body))
        }
        AdminCmd::Webhook { project } => (Method::GET, a(&format!("projects/{project}/webhook")), None),
        AdminCmd::DeleteWebhook { project } => (Method::DELETE, a(&format!("projects/{project}/webhook")), None),
        AdminCmd::Tokens => (Method::GET, a("tokens"), None),
        AdminCmd::CreateToken { name } => (Method::POST, a("tokens"), Some(json!({"name": name}))),
        AdminCmd::RevokeToken { id } => (Method::DELETE, a(&format!("tokens/{id}")), None),
        AdminCmd::PutUser { id, name, email } => {
            (Method::PUT, a(&format!("users/{}", enc(id))), Some(json!({"name": name, "email": email})))
        }
        AdminCmd::SetAlias { project, kind, value } => {
            (Method::PUT, a(&format!("projects/{project}/aliases/{kind}/{}", enc(value))), None)
        }
        AdminCmd::Parents { project } => (Method::GET, a(&format!("projects/{project}/parents")), None),
        AdminCmd::PutParent { at, owner } => (Method::PUT, a(&at.path()), owner.as_ref().map(|o| json!({"owner": o}))),
        AdminCmd::DeleteParent(at) => (Method::DELETE, a(&at.path()), None),
        AdminCmd::MintJwt { sub, ttl_secs, name, email } => {
            let body = json!({"sub": sub, "ttl_secs": ttl_secs, "name": name, "email": email});
            (Method::POST, a("jwt"), Some(body))
        }
    };
    print_reply(crate::client::call(method, &path, Some(&token), body.as_ref()).await?)
}
