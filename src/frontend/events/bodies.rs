//! The seed-000 API's smaller JSON bodies, parsed into the service's typed requests: the link
//! body (`POST /v1/attachments/link`) into a [`LinkRequest`], and the project PATCH's quota
//! fields (`PATCH /v1/projects/:id`) into a [`QuotaChange`].
//!
//! Each is parsed after the caller is admitted ([`crate::service::Service::authorize`]) and
//! checks its fields in the reference's order, with the reference's messages, so the first
//! error a client sees is the one the reference reports. The PATCH's bounds (1 MiB – 1 TiB) are
//! this API's; the admin API has its own.

use serde_json::{Map, Value};

use crate::service::ServiceError;
use crate::service::link::LinkRequest;
use crate::service::usage::QuotaChange;

/// Smallest quota the project PATCH accepts (1 MiB).
pub const MIN_QUOTA: u64 = 1 << 20;
/// Largest quota the project PATCH accepts (1 TiB).
pub const MAX_QUOTA: u64 = 1 << 40;

fn object(body: &Value) -> Result<&Map<String, Value>, ServiceError> {
    body.as_object().ok_or_else(|| ServiceError::BadJson("Request body must be a JSON object".into()))
}

fn uuid_field<T: std::str::FromStr>(
    obj: &Map<String, Value>,
    name: &str,
    required: bool,
) -> Result<Option<T>, ServiceError> {
    match obj.get(name) {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s)) => {
            s.parse().map(Some).map_err(|_| ServiceError::InvalidRequest(format!("{name} must be a UUID")))
        }
        _ => Err(ServiceError::InvalidRequest(format!("{name} is required and must be a UUID"))),
    }
}

fn required_uuid<T: std::str::FromStr>(obj: &Map<String, Value>, name: &str) -> Result<T, ServiceError> {
    uuid_field(obj, name, true)?
        .ok_or_else(|| ServiceError::InvalidRequest(format!("{name} is required and must be a UUID")))
}

/// The link body: `{"client_event_id": uuid, "event_id": uuid, "issue_id": uuid|null,
/// "user_id": string|null, "app_id": uuid|null}`, checked `user_id` first, then the ids in
/// that order.
pub fn link(body: &Value) -> Result<LinkRequest, ServiceError> {
    let obj = object(body)?;
    let user_id = super::reserve::end_user(obj.get("user_id"))?;
    Ok(LinkRequest {
        client_event_id: required_uuid(obj, "client_event_id")?,
        event_id: required_uuid(obj, "event_id")?,
        issue_id: uuid_field(obj, "issue_id", false)?,
        user_id,
        app_id: uuid_field(obj, "app_id", false)?,
    })
}

/// The project PATCH's quota fields, each an integer in [1 MiB, 1 TiB] or null (back to the
/// default) or absent (unchanged); `attachment_user_quota_bytes` is checked first. Other
/// fields are ignored, as the reference's quota handling ignores them.
pub fn quota_change(body: &Value) -> Result<QuotaChange, ServiceError> {
    let obj = object(body)?;
    let field = |name: &str| -> Result<Option<Option<u64>>, ServiceError> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Number(n)) => {
                let v = n
                    .as_u64()
                    .ok_or_else(|| ServiceError::BadParameter(format!("{name} must be an integer or null")))?;
                if !(MIN_QUOTA..=MAX_QUOTA).contains(&v) {
                    return Err(ServiceError::BadParameter(format!(
                        "{name} must be between {MIN_QUOTA} and {MAX_QUOTA}"
                    )));
                }
                Ok(Some(Some(v)))
            }
            Some(_) => Err(ServiceError::BadParameter(format!("{name} must be an integer or null"))),
        }
    };
    let user = field("attachment_user_quota_bytes")?;
    let project = field("attachment_project_quota_bytes")?;
    Ok(QuotaChange { project, user })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EndUserId;
    use serde_json::json;

    const CE: &str = "550E8400-E29B-41D4-A716-446655440000";
    const EV: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

    fn link_err(v: Value) -> String {
        link(&v).unwrap_err().to_string()
    }

    #[test]
    fn a_link_body_parses_with_optional_fields_absent_or_null() {
        let r = link(&json!({"client_event_id": CE, "event_id": EV, "issue_id": null})).unwrap();
        assert_eq!(r.client_event_id.to_string(), CE.to_lowercase());
        assert_eq!(r.event_id.to_string(), EV);
        assert_eq!((r.issue_id, r.user_id, r.app_id), (None, None, None));
        let r = link(&json!({"client_event_id": CE, "event_id": EV, "issue_id": EV, "user_id": "u", "app_id": EV}))
            .unwrap();
        assert_eq!((r.issue_id.is_some(), r.user_id, r.app_id.is_some()), (true, Some(EndUserId("u".into())), true));
    }

    #[test]
    fn link_errors_come_in_the_reference_order() {
        assert_eq!(link_err(json!([1])), "Request body must be a JSON object");
        assert_eq!(
            link_err(json!({"user_id": "", "event_id": 5})),
            "user_id must be a non-empty string of at most 255 chars"
        );
        assert_eq!(link_err(json!({"event_id": 5})), "client_event_id is required and must be a UUID");
        assert_eq!(link_err(json!({"client_event_id": "x", "event_id": 5})), "client_event_id must be a UUID");
        assert_eq!(
            link_err(json!({"client_event_id": CE, "event_id": null})),
            "event_id is required and must be a UUID"
        );
        assert_eq!(
            link_err(json!({"client_event_id": CE, "event_id": EV, "issue_id": 7})),
            "issue_id is required and must be a UUID"
        );
        assert_eq!(link_err(json!({"client_event_id": CE, "event_id": EV, "app_id": "nope"})), "app_id must be a UUID");
    }

    #[test]
    fn quota_fields_are_bounded_and_null_resets() {
        let c = quota_change(&json!({"attachment_project_quota_bytes": MIN_QUOTA, "name": "ignored"})).unwrap();
        assert_eq!(c, QuotaChange { project: Some(Some(MIN_QUOTA)), user: None });
        let c = quota_change(&json!({"attachment_user_quota_bytes": null})).unwrap();
        assert_eq!(c, QuotaChange { project: None, user: Some(None) });
        let err = |v: Value| quota_change(&v).unwrap_err().to_string();
        assert_eq!(err(json!("x")), "Request body must be a JSON object");
        assert_eq!(
            err(json!({"attachment_project_quota_bytes": MAX_QUOTA + 1})),
            format!("attachment_project_quota_bytes must be between {MIN_QUOTA} and {MAX_QUOTA}")
        );
        assert_eq!(
            err(json!({"attachment_project_quota_bytes": 1.5, "attachment_user_quota_bytes": "big"})),
            "attachment_user_quota_bytes must be an integer or null",
            "the user quota is checked first"
        );
        assert_eq!(
            err(json!({"attachment_project_quota_bytes": -1})),
            "attachment_project_quota_bytes must be an integer or null"
        );
    }
}
