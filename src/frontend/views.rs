//! Wire shapes more than one front end (or the command line) answers with: the
//! project-with-quotas object the seed-000 `PATCH /v1/projects/:id` and the admin API's project
//! endpoints share (the stored project's fields, then the quotas in force under the reference's
//! names), and an admin token as the admin API and `attachd recover-admin-token` print it.

use serde_json::{Value, json};

use crate::service::admin::AdminTokenView;
use crate::service::usage::ProjectQuotas;

/// An admin token (never its secret) as JSON.
pub fn admin_token(t: &AdminTokenView) -> Value {
    json!({ "id": t.id, "name": t.name, "created_at": t.created_at.to_iso() })
}

/// A project and its effective quotas as JSON.
pub fn project_quotas(p: &ProjectQuotas) -> Value {
    let mut v = json!(p.project);
    v["effective_attachment_project_quota_bytes"] = p.project_bytes.into();
    v["effective_attachment_user_quota_bytes"] = p.user_bytes.into();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::ids::{ProjectId, TeamId};
    use crate::model::control::Project;

    #[test]
    fn the_stored_fields_then_the_quotas_in_force() {
        let project = Project {
            id: ProjectId::random(),
            team_id: TeamId::random(),
            name: "p".into(),
            created_at: Timestamp(1),
            deleted_at: None,
            project_quota_bytes: Some(5),
            user_quota_bytes: None,
        };
        let v = project_quotas(&ProjectQuotas { project, project_bytes: 5, user_bytes: 7 });
        assert_eq!(v["attachment_project_quota_bytes"], 5);
        assert_eq!(v["attachment_user_quota_bytes"], Value::Null);
        assert_eq!(
            (
                v["effective_attachment_project_quota_bytes"].as_u64(),
                v["effective_attachment_user_quota_bytes"].as_u64()
            ),
            (Some(5), Some(7))
        );
    }
}
