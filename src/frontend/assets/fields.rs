//! A record's fields as a client sends them (a JSON object, or a form's text parts), checked
//! against the seed's rules before anything is stored.
//!
//! `title` is required on create: missing, `null` or blank is 422 `Missing parameter title`;
//! over 255 characters is 400 `Title is too long (maximum is 255 characters)`; not a string is
//! 400. `description` (≤ 10,000 characters), `category`, `external_id` and `status` (≤ 255
//! each) are strings or `null`; `tags` is an array of at most 100 strings of 1–255
//! characters. No field may hold control characters but `description` (which may hold line
//! breaks and tabs). Fields the seed does not name are ignored, as the seed's server does
//! (read-only fields such as `id` or `owner` included).

use serde_json::{Map, Value};

use crate::model::Metadata;
use crate::service::ServiceError;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 255;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Longest category, external id, status or tag, in characters.
pub const MAX_SHORT: usize = 255;
/// Most tags.
pub const MAX_TAGS: usize = 100;

/// The fields of a create or an edit; `None`: not sent (an edit leaves it as it was).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// The title.
    pub title: Option<String>,
    /// The description (`Some(None)`: cleared).
    pub description: Option<Option<String>>,
    /// The category.
    pub category: Option<Option<String>>,
    /// The host's own id.
    pub external_id: Option<Option<String>>,
    /// The status label.
    pub status: Option<Option<String>>,
    /// The tags.
    pub tags: Option<Vec<String>>,
}

fn bad(msg: String) -> ServiceError {
    ServiceError::BadParameter(msg)
}

/// Checks one text value of field `name`.
fn text(name: &str, s: &str, max: usize, multiline: bool) -> Result<String, ServiceError> {
    if s.chars().count() > max {
        let mut cap = name.replace('_', " ");
        cap[..1].make_ascii_uppercase();
        return Err(bad(format!("{cap} is too long (maximum is {max} characters)")));
    }
    if s.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(bad(format!("{name} must not contain control characters")));
    }
    Ok(s.to_string())
}

fn title(v: Option<&str>) -> Result<String, ServiceError> {
    match v {
        Some(t) if !t.trim().is_empty() => text("title", t, MAX_TITLE, false),
        _ => Err(ServiceError::MissingParameter("title")),
    }
}

fn optional(v: &Value, name: &str, max: usize) -> Result<Option<String>, ServiceError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(text(name, s, max, name == "description")?)),
        _ => Err(bad(format!("{name} must be a String"))),
    }
}

fn tags(v: &Value) -> Result<Vec<String>, ServiceError> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(bad("tags must be an Array of Strings".into())),
    };
    if items.len() > MAX_TAGS {
        return Err(bad(format!("at most {MAX_TAGS} tags are allowed")));
    }
    items.iter().map(|t| tag(t.as_str().ok_or_else(|| bad("tags must be an Array of Strings".into()))?)).collect()
}

fn tag(t: &str) -> Result<String, ServiceError> {
    if t.is_empty() {
        return Err(bad("a tag must not be empty".into()));
    }
    text("tag", t, MAX_SHORT, false)
}

impl Fields {
    /// The fields of a JSON body; `create`: the title is required. A missing body is `{}`.
    pub fn from_json(body: &Value, create: bool) -> Result<Fields, ServiceError> {
        let empty = Map::new();
        let obj = match body {
            Value::Object(o) => o,
            Value::Null => &empty,
            _ => return Err(ServiceError::BadJson("the body must be a JSON object".into())),
        };
        let mut f = Fields::default();
        match obj.get("title") {
            Some(Value::String(t)) => f.title = Some(title(Some(t))?),
            Some(Value::Null) | None if create => return Err(ServiceError::MissingParameter("title")),
            Some(Value::Null) => return Err(ServiceError::MissingParameter("title")),
            None => {}
            Some(_) => return Err(bad("title must be a String".into())),
        }
        let short = [
            ("description", MAX_DESCRIPTION),
            ("category", MAX_SHORT),
            ("external_id", MAX_SHORT),
            ("status", MAX_SHORT),
        ];
        for (name, max) in short {
            if let Some(v) = obj.get(name) {
                let v = Some(optional(v, name, max)?);
                match name {
                    "description" => f.description = v,
                    "category" => f.category = v,
                    "external_id" => f.external_id = v,
                    _ => f.status = v,
                }
            }
        }
        if let Some(v) = obj.get("tags") {
            f.tags = Some(tags(v)?);
        }
        Ok(f)
    }

    /// Adds a form's text part `name` (`tags` and `tags[]` may repeat). Unknown parts are
    /// refused by the form reader before they get here.
    pub fn add_form_field(&mut self, name: &str, value: &str) -> Result<(), ServiceError> {
        let v = |max| Ok::<_, ServiceError>(Some(Some(text(name, value, max, name == "description")?)));
        match name {
            "title" => self.title = Some(title(Some(value))?),
            "description" => self.description = v(MAX_DESCRIPTION)?,
            "category" => self.category = v(MAX_SHORT)?,
            "external_id" => self.external_id = v(MAX_SHORT)?,
            "status" => self.status = v(MAX_SHORT)?,
            "tags" | "tags[]" => {
                let tags = self.tags.get_or_insert_with(Vec::new);
                if tags.len() == MAX_TAGS {
                    return Err(bad(format!("at most {MAX_TAGS} tags are allowed")));
                }
                tags.push(tag(value)?);
            }
            other => return Err(bad(format!("unknown field {other}"))),
        }
        Ok(())
    }

    /// The names a form may carry besides `file`.
    pub const FORM_FIELDS: [&'static str; 7] =
        ["title", "description", "category", "external_id", "status", "tags", "tags[]"];

    /// Requires the title a create needs.
    pub fn require_title(&self) -> Result<(), ServiceError> {
        self.title.as_ref().map(|_| ()).ok_or(ServiceError::MissingParameter("title"))
    }

    /// Writes the sent fields into `meta`.
    pub fn apply(self, meta: &mut Metadata) {
        if let Some(t) = self.title {
            meta.title = Some(t);
        }
        for (sent, slot) in [
            (self.description, &mut meta.description),
            (self.category, &mut meta.category),
            (self.external_id, &mut meta.external_id),
            (self.status, &mut meta.status),
        ] {
            if let Some(v) = sent {
                *slot = v;
            }
        }
        if let Some(tags) = self.tags {
            meta.tags = tags;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn create(v: Value) -> Result<Fields, ServiceError> {
        Fields::from_json(&v, true)
    }

    #[test]
    fn the_seeds_title_rules() {
        assert!(matches!(create(json!({})), Err(ServiceError::MissingParameter("title"))));
        assert!(matches!(create(Value::Null), Err(ServiceError::MissingParameter("title"))));
        assert!(matches!(create(json!({"title": null})), Err(ServiceError::MissingParameter("title"))));
        assert!(matches!(create(json!({"title": "  "})), Err(ServiceError::MissingParameter("title"))));
        let long = format!("Testing too long title: {}", "X".repeat(240));
        match create(json!({ "title": long })) {
            Err(ServiceError::BadParameter(m)) => assert_eq!(m, "Title is too long (maximum is 255 characters)"),
            other => panic!("{other:?}"),
        }
        // 255 characters (not bytes) is the limit.
        assert!(create(json!({ "title": "é".repeat(255) })).is_ok());
        assert!(matches!(create(json!({"title": 7})), Err(ServiceError::BadParameter(_))));
        assert!(matches!(create(json!(["title"])), Err(ServiceError::BadJson(_))));
        // An edit need not send the title, but may not clear it.
        assert_eq!(Fields::from_json(&json!({}), false).unwrap(), Fields::default());
        assert!(matches!(Fields::from_json(&json!({"title": null}), false), Err(ServiceError::MissingParameter(_))));
    }

    #[test]
    fn optional_fields_and_tags() {
        let f = create(json!({
            "title": "t", "description": "two\nlines", "category": null, "tags": ["a", "b"],
            "external_id": "x-1", "status": "done", "owner": "ignored@example.com"
        }))
        .unwrap();
        let mut meta = Metadata { category: Some("old".into()), ..Default::default() };
        f.apply(&mut meta);
        assert_eq!(meta.title.as_deref(), Some("t"));
        assert_eq!(meta.description.as_deref(), Some("two\nlines"));
        assert_eq!(meta.category, None);
        assert_eq!(meta.tags, vec!["a", "b"]);
        assert_eq!(meta.external_id.as_deref(), Some("x-1"));
        assert_eq!(meta.status.as_deref(), Some("done"));
        for bad in [
            json!({"title": "t", "tags": "a,b"}),
            json!({"title": "t", "tags": [1]}),
            json!({"title": "t", "tags": [""]}),
            json!({"title": "t", "tags": vec!["x"; 101]}),
            json!({"title": "t", "category": 3}),
            json!({"title": "t\u{7}"}),
            json!({"title": "t", "status": "a\nb"}),
            json!({"title": "t", "description": "d".repeat(10_001)}),
            json!({"title": "t", "external_id": "e".repeat(256)}),
        ] {
            assert!(matches!(create(bad.clone()), Err(ServiceError::BadParameter(_))), "{bad}");
        }
    }

    #[test]
    fn form_fields() {
        let mut f = Fields::default();
        f.add_form_field("title", "Scan").unwrap();
        f.add_form_field("tags[]", "a").unwrap();
        f.add_form_field("tags", "b").unwrap();
        f.add_form_field("status", "open").unwrap();
        assert_eq!(f.tags, Some(vec!["a".into(), "b".into()]));
        assert!(f.require_title().is_ok());
        assert!(Fields::default().require_title().is_err());
        assert!(f.add_form_field("owner", "x").is_err());
        assert!(matches!(f.add_form_field("title", ""), Err(ServiceError::MissingParameter("title"))));
    }
}
