//! Shared set-up for the APIs people upload through (seeds 001–003): a daemon with users,
//! team roles, user keys, JWTs, aliases and registered parents, and a multipart body builder.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Daemon, Opts};

/// A daemon and the people and parents the tests use.
pub struct World {
    pub d: Daemon,
    /// The bootstrap project (space slug `analytics`, project number 42); a second project of
    /// the same team has space `other` and number 43.
    pub project: String,
    /// Ann: a member; her user key for `project`.
    pub ann: String,
    /// Bob: a team admin; a JWT.
    pub bob: String,
    /// Carl: a member; a JWT.
    pub carl: String,
    /// Dan: a member who owns ticket T-1; his user key.
    pub dan: String,
    /// Eve: a JWT of someone in no team.
    pub eve: String,
}

impl World {
    pub async fn new() -> Self {
        Self::with(Opts::default()).await
    }

    pub async fn with(opts: Opts) -> Self {
        Self::on(Daemon::start_with(opts).await).await
    }

    /// The world set up on a running daemon.
    pub async fn on(d: Daemon) -> Self {
        let (_, v) = d.admin(Method::GET, "projects", None).await;
        let project = v["projects"][0]["id"].as_str().unwrap().to_string();
        let team = v["projects"][0]["team_id"].as_str().unwrap().to_string();
        let (s, p) = d.admin(Method::POST, &format!("teams/{team}/projects"), Some(json!({"name": "other"}))).await;
        assert_eq!(s, 201, "{p}");
        let other = p["id"].as_str().unwrap().to_string();
        for (p, slug, n) in [(&project, "analytics", 42), (&other, "other", 43)] {
            ok(d.admin(Method::PUT, &format!("projects/{p}/aliases/space_slug/{slug}"), None).await);
            ok(d.admin(Method::PUT, &format!("projects/{p}/aliases/project_number/{n}"), None).await);
        }
        for (u, name, role) in [
            ("ann", "Ann Archer", "member"),
            ("bob", "Bob Boss", "admin"),
            ("carl", "Carl C", "member"),
            ("dan", "Dan D", "member"),
        ] {
            ok(d.admin(
                Method::PUT,
                &format!("users/{u}"),
                Some(json!({"name": name, "email": format!("{u}@example.com")})),
            )
            .await);
            ok(d.admin(Method::PUT, &format!("teams/{team}/members/{u}"), Some(json!({"role": role}))).await);
        }
        ok(d.admin(Method::PUT, "users/eve", Some(json!({"name": "Eve", "email": "eve@example.com"}))).await);
        for (kind, id, body) in [
            ("product", "prod-1", None),
            ("product", "prod-2", None),
            ("ticket", "T-1", Some(json!({"owner": "dan"}))),
            ("asset", "asset-1", None),
            ("project", "hostproj-1", None),
        ] {
            ok(d.admin(Method::PUT, &format!("projects/{project}/parents/{kind}/{id}"), body).await);
        }
        ok(d.admin(Method::PUT, &format!("projects/{other}/parents/product/prod-other"), None).await);
        let key = |u: &'static str, p: String| {
            let d = &d;
            async move {
                let (s, k) =
                    d.admin(Method::POST, "keys", Some(json!({"kind": "user", "user_id": u, "project_id": p}))).await;
                assert_eq!(s, 201, "{k}");
                k["secret"].as_str().unwrap().to_string()
            }
        };
        let ann = key("ann", project.clone()).await;
        let dan = key("dan", project.clone()).await;
        let jwt = |u: &'static str| {
            let d = &d;
            async move {
                let (s, t) = d.admin(Method::POST, "jwt", Some(json!({"sub": u}))).await;
                assert_eq!(s, 200, "{t}");
                t["token"].as_str().unwrap().to_string()
            }
        };
        let (bob, carl, eve) = (jwt("bob").await, jwt("carl").await, jwt("eve").await);
        Self { d, project, ann, bob, carl, dan, eve }
    }
}

fn ok((s, v): (u16, Value)) {
    assert!(s == 200 || s == 201, "{s}: {v}");
}

/// A `multipart/form-data` body under boundary [`BOUNDARY`].
#[derive(Default)]
pub struct Form(pub Vec<u8>);

pub const BOUNDARY: &str = "----attachd-test-boundary-7MA4YWxkTrZu0gW";

impl Form {
    pub fn file(mut self, field: &str, name: &str, content_type: &str, data: &[u8]) -> Self {
        self.0.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        self.0.extend_from_slice(data);
        self.0.extend_from_slice(b"\r\n");
        self
    }

    pub fn text(mut self, field: &str, value: &str) -> Self {
        self.0.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
        self
    }

    pub fn end(mut self) -> Vec<u8> {
        self.0.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.0
    }

    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }
}

/// A small valid PDF-looking body of `len` bytes (the magic, then filler).
pub fn pdf(len: usize, seed: u64) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    b.extend(crate::harness::data(len.saturating_sub(b.len()), seed));
    b.truncate(len.max(15));
    b
}

/// A PNG-looking body of `len` bytes.
pub fn png(len: usize, seed: u64) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    b.extend(crate::harness::data(len.saturating_sub(b.len()), seed));
    b
}

/// Files staged in the data directory's temporary area (what a refused upload must not leave).
pub fn staged_files(d: &Daemon) -> usize {
    std::fs::read_dir(d.data.join("blobs/.tmp")).map(|r| r.count()).unwrap_or(0)
}
