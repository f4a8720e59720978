//! Seed 003 (asset and project attachment records) against the real binary: every status the
//! seed names (401, 404 with its bodies, 422 and 400 title rules), the exact field set,
//! placeholders, edits, attaching and replacing a record's file (its id, names and creation
//! date stay; concurrent replaces and edits lose nothing and leave one live file), the size
//! limit and quotas while streaming with nothing left behind, the delete rule, and records
//! with files of both storage tiers through kill -9.

use md5::Digest as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Opts, data, json_of};
use crate::people::{Form, World, png, staged_files};

const ASSET: &str = "/api/v2/assets/asset-1/attachments";
const PROJECT: &str = "/api/v2/projects/hostproj-1/attachments";

/// The seed's fields, in its order.
const FIELDS: [&str; 18] = [
    "id",
    "external_id",
    "parent_id",
    "project_id",
    "owner",
    "title",
    "description",
    "category",
    "tags",
    "ai_tags",
    "status",
    "media_type",
    "original_filename",
    "drop_folder_id",
    "md5_sum",
    "created_date",
    "modification_date",
    "deleted",
];

async fn call(w: &World, m: Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = w.d.http.request(m, w.d.url(path)).header("x-api-key", key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    json_of(r.send().await.unwrap()).await
}

async fn create(w: &World, path: &str, key: &str, body: Value) -> Value {
    let (s, v) = call(w, Method::POST, path, key, Some(body)).await;
    assert_eq!(s, 200, "{v}");
    v["asset"].clone()
}

async fn put_file(w: &World, id: &str, key: &str, name: &str, ct: &str, body: Vec<u8>) -> (u16, Value) {
    let url = w.d.url(&format!("/api/v2/attachments/{id}/file?filename={name}"));
    json_of(w.d.http.put(url).header("x-api-key", key).header("content-type", ct).body(body).send().await.unwrap())
        .await
}

async fn file_of(w: &World, id: &str, key: &str) -> (u16, Vec<u8>) {
    let r = w.d.http.get(w.d.url(&format!("/api/v2/attachments/{id}/file"))).header("x-api-key", key);
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn records_are_created_edited_given_files_and_deleted() {
    let w = World::new().await;
    let (s, v) = call(&w, Method::GET, ASSET, &w.ann, None).await;
    assert_eq!((s, v), (200, json!({"attachments": []})));
    let rec = create(&w, ASSET, &w.ann, json!({"title": "sample attachment"})).await;
    let keys: Vec<&str> = rec.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = FIELDS.to_vec();
    want.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, want, "exactly the seed's fields");
    // In the seed's order, as sent.
    let r = w.d.http.get(w.d.url(&format!("/api/v2/attachments/{}", id(&rec)))).header("x-api-key", &w.ann);
    let text = r.send().await.unwrap().text().await.unwrap();
    let at: Vec<usize> = FIELDS.iter().map(|f| text.find(&format!("\"{f}\":")).unwrap()).collect();
    assert!(at.windows(2).all(|p| p[0] < p[1]), "fields out of the seed's order: {text}");
    let rid = id(&rec);
    assert_eq!(rid.len(), 20, "{rid}");
    assert_eq!(rec["parent_id"], "asset-1");
    assert_eq!(rec["project_id"], Value::Null);
    assert_eq!(rec["owner"], "ann@example.com");
    assert_eq!((rec["status"].clone(), rec["media_type"].clone()), (json!("open"), json!("placeholder")));
    assert_eq!((rec["tags"].clone(), rec["ai_tags"].clone()), (json!([]), json!([])));
    for f in ["external_id", "description", "category", "original_filename", "drop_folder_id", "md5_sum", "deleted"] {
        assert_eq!(rec[f], Value::Null, "{f}");
    }
    assert_eq!(rec["created_date"], rec["modification_date"]);
    assert_eq!(file_of(&w, &rid, &w.ann).await.0, 404, "a placeholder has no file");
    // The project's records are another list.
    let p = create(&w, PROJECT, &w.dan, json!({"title": "plan", "tags": ["q3"], "external_id": "x-9"})).await;
    assert_eq!((p["parent_id"].clone(), p["owner"].clone()), (json!("hostproj-1"), json!("dan@example.com")));
    let (_, list) = call(&w, Method::GET, ASSET, &w.dan, None).await;
    assert_eq!(list["attachments"], json!([rec.clone()]));

    // Edit, then attach a file: the id, names and creation date stay.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let body = json!({"description": "front view", "tags": ["a", "b"], "status": "approved"});
    let (s, e) = call(&w, Method::PATCH, &format!("/api/v2/attachments/{rid}"), &w.dan, Some(body)).await;
    assert_eq!(s, 200, "{e}");
    let e = &e["asset"];
    assert_eq!((e["title"].clone(), e["description"].clone()), (json!("sample attachment"), json!("front view")));
    assert_eq!((e["tags"].clone(), e["status"].clone()), (json!(["a", "b"]), json!("approved")));
    assert!(e["modification_date"].as_str() > e["created_date"].as_str(), "{e}");
    let img = png(20_000, 1);
    let (s, f) = put_file(&w, &rid, &w.ann, "front.png", "image/png", img.clone()).await;
    assert_eq!(s, 200, "{f}");
    let f = &f["asset"];
    assert_eq!((f["id"].clone(), f["created_date"].clone()), (json!(rid), rec["created_date"].clone()));
    assert_eq!((f["media_type"].clone(), f["original_filename"].clone()), (json!("image"), json!("front.png")));
    assert_eq!((f["md5_sum"].clone(), f["description"].clone()), (json!(md5_hex(&img)), json!("front view")));
    assert_eq!(file_of(&w, &rid, &w.ann).await, (200, img));
    // Replace it by a file of the large tier, as a form.
    let big = data(3_000_000, 2);
    let form = Form::default().file("file", "scan.pdf", "application/pdf", &big).end();
    let r = w.d.http.put(w.d.url(&format!("/api/v2/attachments/{rid}/file"))).header("x-api-key", &w.ann);
    let (s, g) = json_of(r.header("content-type", Form::content_type()).body(form).send().await.unwrap()).await;
    assert_eq!(s, 200, "{g}");
    assert_eq!((g["asset"]["media_type"].clone(), g["asset"]["id"].clone()), (json!("document"), json!(rid)));
    assert!(file_of(&w, &rid, &w.dan).await.1 == big);
    let usage = w.d.usage(None).await;
    assert_eq!((usage["used_bytes"].clone(), usage["file_count"].clone()), (json!(3_000_000), json!(2)), "{usage}");
    let (_, one) = call(&w, Method::GET, &format!("/api/v2/attachments/{rid}"), &w.dan, None).await;
    assert_eq!(one, g);

    // A form creates a record with its file in one request.
    let form = Form::default()
        .text("title", "with file")
        .text("tags[]", "x")
        .text("tags[]", "y")
        .file("file", "notes.txt", "text/plain", b"hello")
        .end();
    let r = w.d.http.post(w.d.url(ASSET)).header("x-api-key", &w.ann).header("content-type", Form::content_type());
    let (s, h) = json_of(r.body(form).send().await.unwrap()).await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(
        (h["asset"]["tags"].clone(), h["asset"]["md5_sum"].clone()),
        (json!(["x", "y"]), json!(md5_hex(b"hello")))
    );
    let (_, list) = call(&w, Method::GET, ASSET, &w.ann, None).await;
    let ids: Vec<String> = list["attachments"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, vec![id(&h["asset"]), rid.clone()], "newest first");

    // Delete: the record comes back with `deleted` set, then is gone.
    let (s, d) = call(&w, Method::DELETE, &format!("/api/v2/attachments/{rid}"), &w.ann, None).await;
    assert_eq!(s, 200, "{d}");
    assert!(d["asset"]["deleted"].is_string(), "{d}");
    let (s, v) = call(&w, Method::GET, &format!("/api/v2/attachments/{rid}"), &w.ann, None).await;
    assert_eq!((s, v["error"].clone()), (404, json!("attachment not found")));
    assert_eq!(file_of(&w, &rid, &w.ann).await.0, 404);
    let (_, list) = call(&w, Method::GET, ASSET, &w.ann, None).await;
    assert_eq!(list["attachments"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_statuses_and_bodies() {
    let w = World::new().await;
    let title = json!({"title": "sample attachment"});
    for (path, want) in [
        ("/api/v2/assets/nope/attachments", "asset not found"),
        ("/api/v2/projects/nope/attachments", "project not found"),
        ("/api/v2/assets/a.b/attachments", "asset not found"),
        ("/api/v2/projects/prod-1/attachments", "project not found"),
        ("/api/v2/assets/hostproj-1/attachments", "asset not found"),
    ] {
        for m in [Method::GET, Method::POST] {
            let (s, v) = call(&w, m.clone(), path, &w.ann, Some(title.clone())).await;
            assert_eq!((s, v["error"].as_str()), (404, Some(want)), "{m} {path}: {v}");
        }
    }
    let (s, v) = call(&w, Method::POST, ASSET, &w.ann, Some(json!({}))).await;
    assert_eq!((s, v["error"].as_str()), (422, Some("Missing parameter title")), "{v}");
    let (s, v) = call(&w, Method::POST, PROJECT, &w.ann, Some(json!({"title": null}))).await;
    assert_eq!((s, v["error"].as_str()), (422, Some("Missing parameter title")), "{v}");
    let r = w.d.http.post(w.d.url(ASSET)).header("x-api-key", &w.ann).send().await.unwrap();
    assert_eq!(json_of(r).await.0, 422, "no body at all");
    let long = format!("Testing too long title: {}", "X".repeat(260));
    let (s, v) = call(&w, Method::POST, ASSET, &w.ann, Some(json!({ "title": long }))).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("Title is too long (maximum is 255 characters)")), "{v}");
    let (s, _) = call(&w, Method::POST, ASSET, &w.ann, Some(json!({"title": 5}))).await;
    assert_eq!(s, 400);
    let r = w.d.http.post(w.d.url(ASSET)).header("x-api-key", &w.ann).header("content-type", "text/plain");
    assert_eq!(json_of(r.body("title=x").send().await.unwrap()).await.0, 415);
    // 401: no key, a wrong one, a JWT, the bearer header instead.
    let r = w.d.http.get(w.d.url(ASSET)).send().await.unwrap();
    assert_eq!(json_of(r).await.0, 401);
    for key in ["attachd_user_bogus", w.carl.as_str(), ""] {
        assert_eq!(call(&w, Method::GET, ASSET, key, None).await.0, 401, "{key}");
    }
    let r = w.d.http.get(w.d.url(ASSET)).bearer_auth(&w.ann).send().await.unwrap();
    assert_eq!(json_of(r).await.0, 401);
    // Records of an asset out of the key's project are not found.
    let (_, other) = w.d.admin(Method::GET, "projects", None).await;
    let other = other["projects"].as_array().unwrap().iter().find(|p| p["name"] == "other").unwrap()["id"].clone();
    let (s, k) =
        w.d.admin(Method::POST, "keys", Some(json!({"kind": "user", "user_id": "carl", "project_id": other}))).await;
    assert_eq!(s, 201, "{k}");
    let carl_other = k["secret"].as_str().unwrap();
    assert_eq!(call(&w, Method::GET, ASSET, carl_other, None).await.0, 404);
    let rec = create(&w, ASSET, &w.ann, title.clone()).await;
    let one = format!("/api/v2/attachments/{}", id(&rec));
    assert_eq!(call(&w, Method::GET, &one, carl_other, None).await.0, 404);
    for (m, path) in [(Method::GET, "/api/v2/attachments/nope"), (Method::PATCH, "/api/v2/attachments/a%2Fb")] {
        let (s, v) = call(&w, m, path, &w.ann, Some(json!({}))).await;
        assert_eq!((s, v["error"].as_str()), (404, Some("attachment not found")), "{path}");
    }
    for bad in ["a.b", "a%20b", &"x".repeat(65)] {
        let path = format!("projects/{}/parents/asset/{bad}", w.project);
        assert_eq!(w.d.admin(Method::PUT, &path, None).await.0, 400, "an asset id seed 003 could never reach: {bad}");
    }
    let (s, v) = call(&w, Method::PATCH, &one, &w.ann, Some(json!({"title": null}))).await;
    assert_eq!((s, v["error"].as_str()), (422, Some("Missing parameter title")));
    let (s, v) = call(&w, Method::PATCH, &one, &w.ann, Some(json!({"tags": "a"}))).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(call(&w, Method::PUT, &one, &w.ann, None).await.0, 405);
    // Nothing above stored anything but the one record.
    let (_, list) = call(&w, Method::GET, ASSET, &w.ann, None).await;
    assert_eq!(list["attachments"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_and_quotas_refuse_while_streaming_and_keep_nothing() {
    let w = World::with(Opts::default().set("apis.assets", "max_upload_bytes = 100000")).await;
    let rec = create(&w, ASSET, &w.ann, json!({"title": "t"})).await;
    let rid = id(&rec);
    let (s, v) = put_file(&w, &rid, &w.ann, "a.bin", "application/octet-stream", data(100_001, 1)).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("payload_too_large")), "{v}");
    let form =
        Form::default().text("title", "big").file("file", "big.bin", "application/octet-stream", &data(100_001, 2));
    let r = w.d.http.post(w.d.url(ASSET)).header("x-api-key", &w.ann).header("content-type", Form::content_type());
    let (s, v) = json_of(r.body(form.end()).send().await.unwrap()).await;
    assert_eq!(s, 413, "{v}");
    let form =
        Form::default().text("title", "big").file("file", "big.bin", "application/octet-stream", &data(300_000, 2));
    let r = w.d.http.post(w.d.url(ASSET)).header("x-api-key", &w.ann).header("content-type", Form::content_type());
    let (s, v) = json_of(r.body(form.end()).send().await.unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("payload_too_large")), "well past the limit: {v}");
    // A form whose file arrives before a title that is too long: nothing is kept.
    let form = Form::default()
        .file("file", "a.bin", "application/octet-stream", &data(5_000, 3))
        .text("title", &"x".repeat(256));
    let r = w.d.http.post(w.d.url(ASSET)).header("x-api-key", &w.ann).header("content-type", Form::content_type());
    assert_eq!(json_of(r.body(form.end()).send().await.unwrap()).await.0, 400);
    let form = Form::default().file("file", "a.bin", "application/octet-stream", &data(5_000, 3)).text("owner", "me");
    let r = w.d.http.post(w.d.url(ASSET)).header("x-api-key", &w.ann).header("content-type", Form::content_type());
    assert_eq!(json_of(r.body(form.end()).send().await.unwrap()).await.0, 400, "an unknown form field");
    // A project quota: the file that would pass it is refused mid-stream.
    let (s, _) =
        w.d.admin(Method::PUT, &format!("projects/{}/quota", w.project), Some(json!({"project_bytes": 50_000}))).await;
    assert_eq!(s, 200);
    assert_eq!(put_file(&w, &rid, &w.ann, "a.bin", "application/octet-stream", data(40_000, 4)).await.0, 200);
    let (s, v) = put_file(&w, &rid, &w.ann, "b.bin", "application/octet-stream", data(60_000, 5)).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("quota_exhausted")), "{v}");
    // Replacing 40,000 bytes by 45,000 fits: the replaced file is credited.
    assert_eq!(put_file(&w, &rid, &w.ann, "c.bin", "application/octet-stream", data(45_000, 6)).await.0, 200);
    assert_eq!(staged_files(&w.d), 0, "refused uploads leave nothing staged");
    let usage = w.d.usage(None).await;
    assert_eq!((usage["used_bytes"].clone(), usage["file_count"].clone()), (json!(45_000), json!(1)), "{usage}");
    let (_, list) = call(&w, Method::GET, ASSET, &w.ann, None).await;
    assert_eq!(list["attachments"].as_array().unwrap().len(), 1, "no refused create left a record");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_replaces_and_edits_lose_nothing() {
    let opts = Opts::default().set("cleanup", "soft_delete_grace_secs = 0");
    let mut w = World::with(opts).await;
    let rid = id(&create(&w, ASSET, &w.ann, json!({"title": "original"})).await);
    let bodies: Vec<Vec<u8>> =
        (0..12).map(|i| data(if i % 4 == 0 { 1_500_000 } else { 500 + i * 31 }, i as u64)).collect();
    let path = format!("/api/v2/attachments/{rid}");
    let puts = bodies.iter().map(|b| put_file(&w, &rid, &w.ann, "f.bin", "application/octet-stream", b.clone()));
    let edits = (0..12).map(|i| call(&w, Method::PATCH, &path, &w.dan, Some(json!({ "title": format!("edit {i}") }))));
    let (puts, edits) =
        futures_util::future::join(futures_util::future::join_all(puts), futures_util::future::join_all(edits)).await;
    for (s, v) in puts.iter().chain(edits.iter()) {
        assert_eq!(*s, 200, "{v}");
    }
    let before = check(&w, &rid, &bodies).await;
    w.d.kill_and_restart().await;
    assert_eq!(check(&w, &rid, &bodies).await, before, "the same record after kill -9");
    w.d.cleanup().await;
    assert_eq!(check(&w, &rid, &bodies).await, before, "cleanup keeps the live file");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_or_an_admin_deletes_and_records_survive_kill_and_restart() {
    let mut w = World::new().await;
    let (s, k) =
        w.d.admin(Method::POST, "keys", Some(json!({"kind": "user", "user_id": "bob", "project_id": w.project}))).await;
    assert_eq!(s, 201, "{k}");
    let bob = k["secret"].as_str().unwrap().to_string();
    let small = data(3_000, 1);
    let large = data(3_000_000, 2);
    let a = id(&create(&w, ASSET, &w.ann, json!({"title": "small"})).await);
    let b = id(&create(&w, PROJECT, &w.ann, json!({"title": "large"})).await);
    assert_eq!(put_file(&w, &a, &w.ann, "s.bin", "application/octet-stream", small.clone()).await.0, 200);
    assert_eq!(put_file(&w, &b, &w.dan, "l.bin", "application/octet-stream", large.clone()).await.0, 200);
    let (s, v) = call(&w, Method::DELETE, &format!("/api/v2/attachments/{a}"), &w.dan, None).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "a member who is not the owner: {v}");
    let (_, before_a) = call(&w, Method::GET, &format!("/api/v2/attachments/{a}"), &w.ann, None).await;
    let (_, before_b) = call(&w, Method::GET, &format!("/api/v2/attachments/{b}"), &w.ann, None).await;
    w.d.kill_and_restart().await;
    assert_eq!(call(&w, Method::GET, &format!("/api/v2/attachments/{a}"), &w.ann, None).await.1, before_a);
    assert_eq!(call(&w, Method::GET, &format!("/api/v2/attachments/{b}"), &w.ann, None).await.1, before_b);
    assert_eq!(file_of(&w, &a, &w.ann).await, (200, small));
    assert!(file_of(&w, &b, &w.ann).await.1 == large);
    assert_eq!(call(&w, Method::DELETE, &format!("/api/v2/attachments/{a}"), &bob, None).await.0, 200, "an admin");
    assert_eq!(call(&w, Method::DELETE, &format!("/api/v2/attachments/{b}"), &w.ann, None).await.0, 200, "the owner");
    assert_eq!(call(&w, Method::DELETE, &format!("/api/v2/attachments/{b}"), &w.ann, None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_can_move_under_a_prefix_or_be_switched_off() {
    let w =
        World::with(Opts::default().set("apis.assets", "prefix = \"/dam\"").set("apis.sessions", "enabled = false"))
            .await;
    assert_eq!(call(&w, Method::GET, ASSET, &w.ann, None).await.0, 404);
    let (s, _) = call(&w, Method::GET, &format!("/dam{ASSET}"), &w.ann, None).await;
    assert_eq!(s, 200);
    let r = w.d.http.get(w.d.url("/api/v1/project/42/sessions/s/attachments/p")).bearer_auth(&w.ann);
    assert_eq!(r.send().await.unwrap().status(), 404, "the sessions API is off");
}

/// The record holds one of `bodies`, whole, as its one live file, and an edit's title; returns
/// which title and which file.
async fn check(w: &World, rid: &str, bodies: &[Vec<u8>]) -> (String, usize) {
    let (_, rec) = call(w, Method::GET, &format!("/api/v2/attachments/{rid}"), &w.ann, None).await;
    let title = rec["asset"]["title"].as_str().unwrap().to_string();
    assert!(title.starts_with("edit "), "an edit was lost to a replace: {rec}");
    let (_, got) = file_of(w, rid, &w.ann).await;
    let winner = bodies.iter().position(|b| *b == got).expect("one of the files, whole");
    let usage = w.d.usage(None).await;
    assert_eq!(usage["file_count"], 1, "one live file: {usage}");
    assert_eq!(usage["used_bytes"], bodies[winner].len() as u64);
    (title, winner)
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_get_4xx_json_and_keep_nothing() {
    use crate::hostile::{raw, req};
    let w = World::with(Opts::default().set("apis.assets", "max_upload_bytes = 100000")).await;
    let rid = id(&create(&w, ASSET, &w.ann, json!({"title": "target"})).await);
    let key = || ("x-api-key", w.ann.clone());
    let json_ct = || ("content-type", "application/json".to_string());
    let form_ct = || ("content-type", Form::content_type());
    let one = format!("/api/v2/attachments/{rid}");
    let file = format!("{one}/file");
    let mut deep = vec![b'['; 5000];
    deep.extend(vec![b']'; 5000]);
    let mut truncated =
        Form::default().text("title", "t").file("file", "a.bin", "application/octet-stream", &data(3000, 1)).0;
    truncated.truncate(truncated.len() - 10);
    let huge_header = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nX-Filler: {f}\r\n\r\nx\r\n--{b}--\r\n",
        b = crate::people::BOUNDARY,
        f = "a".repeat(1 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("invalid JSON", req("POST", ASSET, &[key(), json_ct()], b"{nope"), 400),
        ("nesting bomb", req("POST", ASSET, &[key(), json_ct()], &deep), 400),
        ("array body", req("POST", ASSET, &[key(), json_ct()], b"[]"), 400),
        ("non-UTF-8 JSON", req("POST", ASSET, &[key(), json_ct()], b"{\"title\":\"\xff\xfe\"}"), 400),
        ("oversized JSON", req("POST", ASSET, &[key(), json_ct()], &vec![b' '; 1_100_000]), 413),
        ("title with a NUL", req("POST", ASSET, &[key(), json_ct()], b"{\"title\":\"a\\u0000b\"}"), 400),
        ("form cut short", req("POST", ASSET, &[key(), form_ct()], &truncated), 400),
        ("huge part header", req("POST", ASSET, &[key(), form_ct()], huge_header.as_bytes()), 413),
        (
            "a text part of 100 KB",
            req("POST", ASSET, &[key(), form_ct()], &Form::default().text("tags[]", &"t".repeat(100_000)).end()),
            400,
        ),
        (
            "form without boundary",
            req("PUT", &file, &[key(), ("content-type", "multipart/form-data".into())], b"x"),
            400,
        ),
        (
            "raw multipart/mixed",
            req("PUT", &file, &[key(), ("content-type", "multipart/mixed; boundary=x".into())], b"x"),
            400,
        ),
        (
            "file name with control characters",
            req("PUT", &format!("{file}?filename=a%0Db"), &[key(), ("content-type", "text/plain".into())], b"x"),
            400,
        ),
        ("Content-Length past the limit", req("PUT", &file, &[key(), ("content-length", "5000000".into())], b""), 413),
        ("PATCH as text", req("PATCH", &one, &[key(), ("content-type", "text/plain".into())], b"title=x"), 415),
        ("key with non-ASCII bytes", req("GET", ASSET, &[("x-api-key", "attachd_user_\u{ff}".into())], b""), 401),
        ("NUL in an id", req("GET", "/api/v2/attachments/a%00b", &[key()], b""), 404),
        ("dot-dot id", req("GET", "/api/v2/assets/..%2F..%2Fetc/attachments", &[key()], b""), 404),
    ];
    for (name, bytes, want) in &cases {
        let (status, body) = raw(&w.d.addr, bytes, false).await;
        assert_eq!(status, *want, "{name}: {body}");
        assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()), "{name}: no JSON error: {body}");
    }
    // A file name that is a path keeps only its last component.
    let r = w.d.http.put(w.d.url(&format!("{file}?filename=..%2F..%2Fetc%2Fpasswd"))).header("x-api-key", &w.ann);
    let (s, v) = json_of(r.header("content-type", "text/plain").body("hi").send().await.unwrap()).await;
    assert_eq!((s, v["asset"]["original_filename"].as_str()), (200, Some("passwd")), "{v}");
    assert_eq!(w.d.http.get(w.d.url("/health")).send().await.unwrap().status(), 200);
    assert_eq!(staged_files(&w.d), 0);
    let (_, list) = call(&w, Method::GET, ASSET, &w.ann, None).await;
    assert_eq!(list["attachments"].as_array().unwrap().len(), 1, "no hostile request made a record");
    let (_, f) = w.d.admin(Method::POST, "fsck", None).await;
    assert_eq!(f["ok"], true, "{f}");
}
