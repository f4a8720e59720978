//! Seed 001 (product and ticket files) against the real binary: every status the seed names
//! and every rule of the issue — auth, parent 404s, the allowlist by extension and content,
//! the size limit up front and while streaming, quota refusal mid-stream with nothing left
//! behind, delete rules, crash and restart with files of both storage tiers, prefix and
//! switch-off.

use reqwest::Method;
use serde_json::Value;

use crate::harness::{Opts, json_of};
use crate::people::{Form, World, pdf, png, staged_files};

const PRODUCT: &str = "/catalog/spaces/analytics/products/prod-1/attachments";
const TICKET: &str = "/issues/tickets/T-1/attachments";

async fn post(w: &World, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = w.d.http.post(w.d.url(path)).bearer_auth(token).header("content-type", Form::content_type()).body(body);
    json_of(r.send().await.unwrap()).await
}

async fn send(w: &World, m: Method, path: &str, token: &str) -> (u16, Value) {
    json_of(w.d.http.request(m, w.d.url(path)).bearer_auth(token).send().await.unwrap()).await
}

async fn upload(w: &World, path: &str, token: &str, name: &str, data: &[u8]) -> Value {
    let (s, v) = post(w, path, token, Form::default().file("file", name, "application/pdf", data).end()).await;
    assert_eq!(s, 201, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn product_and_ticket_files_round_trip() {
    let w = World::new().await;
    let body = pdf(5_000, 1);
    let a = upload(&w, PRODUCT, &w.ann, "data_dictionary.pdf", &body).await;
    assert_eq!(a["file_name"], "data_dictionary.pdf");
    assert_eq!((a["file_size"].as_u64(), a["mime_type"].as_str()), (Some(5_000), Some("application/pdf")));
    assert_eq!(
        (a["uploaded_by"]["id"].as_str(), a["uploaded_by"]["full_name"].as_str()),
        (Some("ann"), Some("Ann Archer"))
    );
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(a.as_object().unwrap().len(), 6, "exactly the seed's fields: {a}");
    let b = upload(&w, PRODUCT, &w.bob, "chart.png", &png(300_000, 2)).await;
    assert_eq!(
        (b["mime_type"].as_str(), b["uploaded_by"]["full_name"].as_str()),
        (Some("image/png"), Some("Bob Boss"))
    );

    let (s, list) = send(&w, Method::GET, PRODUCT, &w.carl).await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [b["id"].as_str().unwrap(), a["id"].as_str().unwrap()], "newest first");
    let (s, other) = send(&w, Method::GET, "/catalog/spaces/analytics/products/prod-2/attachments", &w.ann).await;
    assert_eq!((s, other), (200, serde_json::json!([])));

    // Product download: a signed URL, then the bytes behind it (ranges, sandbox headers).
    let (s, dl) =
        send(&w, Method::GET, &format!("/catalog/attachments/{}/download", a["id"].as_str().unwrap()), &w.carl).await;
    assert_eq!(s, 200, "{dl}");
    assert_eq!((dl["file_name"].as_str(), dl.as_object().unwrap().len()), (Some("data_dictionary.pdf"), 3));
    let url = dl["download_url"].as_str().unwrap();
    assert!(url.contains("/catalog/attachments/download?t="), "{url}");
    let r = w.d.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-security-policy"], "sandbox");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-type"], "application/pdf");
    assert!(h["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert!(r.bytes().await.unwrap() == body);
    let r = w.d.http.get(url).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap() == body[10..20]);
    let r = w.d.http.get(format!("{url}x")).send().await.unwrap();
    assert_eq!(r.status(), 401, "a tampered URL");

    // Ticket files: upload (a JWT), list, the bytes themselves.
    let big = pdf(2_000_000, 3);
    let t = upload(&w, TICKET, &w.bob, "trace.pdf", &big).await;
    let (s, list) = send(&w, Method::GET, TICKET, &w.dan).await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(1)));
    let r = w.d.http.get(w.d.url(&format!("/issues/attachments/{}", t["id"].as_str().unwrap()))).bearer_auth(&w.ann);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-security-policy"], "sandbox");
    assert_eq!(r.headers()["etag"].to_str().unwrap().len(), 66);
    assert!(r.bytes().await.unwrap() == big);
    let r = w.d.http.head(w.d.url(&format!("/issues/attachments/{}", t["id"].as_str().unwrap()))).bearer_auth(&w.ann);
    assert_eq!(r.send().await.unwrap().headers()["content-length"], "2000000");
    // A ticket's file is not a product's, nor the reverse.
    let (s, _) =
        send(&w, Method::GET, &format!("/catalog/attachments/{}/download", t["id"].as_str().unwrap()), &w.bob).await;
    assert_eq!(s, 404);
    let (s, _) = send(&w, Method::GET, &format!("/issues/attachments/{}", a["id"].as_str().unwrap()), &w.bob).await;
    assert_eq!(s, 404);
    // A comment id rides along on ticket uploads.
    let form = Form::default().text("comment_id", "550e8400-e29b-41d4-a716-446655440000").file(
        "file",
        "n.csv",
        "text/csv",
        b"a,b\n1,2\n",
    );
    let (s, v) = post(&w, TICKET, &w.dan, form.end()).await;
    assert_eq!((s, v["mime_type"].as_str()), (201, Some("text/csv")), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_and_parents_are_checked() {
    let w = World::new().await;
    let form = || Form::default().file("file", "a.pdf", "application/pdf", &pdf(100, 1)).end();
    let r = w.d.http.post(w.d.url(PRODUCT)).header("content-type", Form::content_type()).body(form());
    let (s, v) = json_of(r.send().await.unwrap()).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("unauthorized")), "{v}");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()));
    for bad in ["nonsense", "attachd_user_0000", &w.d.client_key(), &w.d.agent_key(), &w.d.admin_token()] {
        let (s, v) = post(&w, PRODUCT, bad, form()).await;
        assert_eq!(s, 401, "{bad}: {v}");
    }
    for (path, token, what) in [
        ("/catalog/spaces/nope/products/prod-1/attachments", &w.ann, "unknown space"),
        ("/catalog/spaces/analytics/products/nope/attachments", &w.ann, "unknown product"),
        ("/catalog/spaces/analytics/products/prod-other/attachments", &w.bob, "another project's product"),
        ("/catalog/spaces/other/products/prod-other/attachments", &w.ann, "a key of another project"),
        (PRODUCT, &w.eve, "a person in no team"),
        ("/issues/tickets/nope/attachments", &w.ann, "unknown ticket"),
        (TICKET, &w.eve, "a ticket out of reach"),
    ] {
        let (s, v) = post(&w, path, token, form()).await;
        assert_eq!(s, 404, "upload, {what}: {v}");
        let (s, v) = send(&w, Method::GET, path, token).await;
        assert_eq!(s, 404, "list, {what}: {v}");
    }
    // A JWT reaches every project of its team: the other project's product, through its space.
    let (s, v) = post(&w, "/catalog/spaces/other/products/prod-other/attachments", &w.bob, form()).await;
    assert_eq!(s, 201, "{v}");
    // Revoked: the key no longer authenticates.
    let (_, keys) = w.d.admin(Method::GET, "keys", None).await;
    let ann_key = keys["keys"].as_array().unwrap().iter().find(|k| k["user_id"] == "ann").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(w.d.admin(Method::DELETE, &format!("keys/{ann_key}"), None).await.0, 200);
    assert_eq!(post(&w, PRODUCT, &w.ann, form()).await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn forms_and_types_are_checked_before_anything_is_kept() {
    let w = World::new().await;
    let p = || pdf(2_000, 5);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Form::default().end(), "the file field is required"),
        (Form::default().file("file", "empty.pdf", "application/pdf", b"").end(), "the file is empty"),
        (Form::default().file("upload", "a.pdf", "application/pdf", &p()).end(), "unknown form field \"upload\""),
        (
            Form::default().text("note", "x").file("file", "a.pdf", "application/pdf", &p()).end(),
            "unknown form field \"note\"",
        ),
        (
            Form::default()
                .file("file", "a.pdf", "application/pdf", &p())
                .text("comment_id", "550e8400-e29b-41d4-a716-446655440000")
                .end(),
            "unknown form field \"comment_id\"",
        ),
        (
            Form::default().file("file", "run.exe", "application/octet-stream", b"MZ\x90\0").end(),
            "file type not allowed",
        ),
        (Form::default().file("file", "noext", "application/pdf", &p()).end(), "file type not allowed"),
        (
            Form::default().file("file", "photo.pdf", "application/pdf", &png(5_000, 1)).end(),
            "file content does not match its extension .pdf",
        ),
        (
            Form::default().file("file", "data.csv", "text/csv", b"\x7fELF\x02\x01\x01\0\0\0").end(),
            "file content does not match its extension .csv",
        ),
        (
            Form::default().file("file", "a\tb.pdf", "application/pdf", &p()).end(),
            "file name must not contain control characters",
        ),
        (Form::default().file("file", "a\x01b.pdf", "application/pdf", &p()).end(), "malformed multipart body"),
        (Form::default().file("file", "x.pdf.exe", "application/pdf", &p()).end(), "file type not allowed"),
        (
            Form::default().file("file", &format!("{}.pdf", "x".repeat(300)), "application/pdf", &p()).end(),
            "longer than 255",
        ),
        (
            Form::default()
                .file("file", "a.pdf", "application/pdf", &p())
                .file("file", "b.pdf", "application/pdf", &p())
                .end(),
            "only one file",
        ),
        (b"--nope\r\n\r\n".to_vec(), "malformed multipart body"),
        (Form::default().file("file", "a.pdf", "application/pdf", &p()).0, "malformed multipart body"),
    ];
    for (body, want) in cases {
        let (s, v) = post(&w, PRODUCT, &w.ann, body).await;
        assert_eq!(s, 400, "{want}: {v}");
        assert!(v["detail"].as_str().unwrap().contains(want), "{want}: {v}");
    }
    // Not a form at all, or a form without a boundary.
    for ct in ["application/pdf", "multipart/form-data", "text/plain"] {
        let r = w.d.http.post(w.d.url(PRODUCT)).bearer_auth(&w.ann).header("content-type", ct).body(p());
        let (s, v) = json_of(r.send().await.unwrap()).await;
        assert_eq!(s, 400, "{ct}: {v}");
    }
    // A comment id that is not a UUID.
    let form = Form::default().text("comment_id", "42").file("file", "a.pdf", "application/pdf", &p());
    let (s, v) = post(&w, TICKET, &w.dan, form.end()).await;
    assert_eq!((s, v["detail"].as_str()), (400, Some("comment_id must be a UUID")));
    // A path in the file name keeps its last component only.
    let form = Form::default().file("file", "../../etc/passwd.pdf", "application/pdf", &p());
    let (s, v) = post(&w, PRODUCT, &w.ann, form.end()).await;
    assert_eq!((s, v["file_name"].as_str()), (201, Some("passwd.pdf")), "{v}");
    // Nothing of the refused uploads is kept: one file listed, nothing staged, usage of one.
    let (_, list) = send(&w, Method::GET, PRODUCT, &w.ann).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(staged_files(&w.d), 0);
    assert_eq!(w.d.usage(None).await["used_bytes"], 2_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn size_limits_and_quotas_refuse_while_streaming() {
    let opts = Opts::default().set("apis.catalog", "max_upload_bytes = 1000000");
    let w = World::with(opts).await;
    let too_big = Form::default().file("file", "big.pdf", "application/pdf", &pdf(1_000_001, 1)).end();
    // Content-Length far over the limit: refused before a byte of the body is sent.
    let head = format!(
        "POST {PRODUCT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: {}\r\nContent-Length: 3000000\r\n\r\n",
        w.ann,
        Form::content_type()
    );
    let (s, v) = crate::hostile::raw(&w.d.addr, head.as_bytes(), false).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("payload_too_large")), "{v}");
    // Within the form's allowance, but the file passes the limit while streaming.
    let (s, v) = post(&w, PRODUCT, &w.ann, too_big.clone()).await;
    assert_eq!(s, 413, "{v}");
    // The same without a Content-Length (chunked).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = too_big.chunks(65_536).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = w.d.http.post(w.d.url(PRODUCT)).bearer_auth(&w.ann).header("content-type", Form::content_type()).body(body);
    let (s, v) = json_of(r.send().await.unwrap()).await;
    assert_eq!(s, 413, "chunked: {v}");
    // Well past the limit (but within the form's allowance up front): 413 the moment the file
    // passes it, whatever the size of the chunk that does.
    for len in [1_100_000, 1_200_000] {
        let big = Form::default().file("file", "big.pdf", "application/pdf", &pdf(len, 9)).end();
        let (s, v) = post(&w, PRODUCT, &w.ann, big.clone()).await;
        assert_eq!((s, v["code"].as_str()), (413, Some("payload_too_large")), "{len}: {v}");
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.chunks(100_000).map(|c| Ok(c.to_vec())).collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let r = w.d.http.post(w.d.url(PRODUCT)).bearer_auth(&w.ann).header("content-type", Form::content_type());
        let (s, v) = json_of(r.body(body).send().await.unwrap()).await;
        assert_eq!((s, v["code"].as_str()), (413, Some("payload_too_large")), "chunked {len}: {v}");
    }
    // Exactly at the limit: taken.
    let at = Form::default().file("file", "at.pdf", "application/pdf", &pdf(1_000_000, 2)).end();
    assert_eq!(post(&w, PRODUCT, &w.ann, at).await.0, 201);
    // A user quota: the upload that would pass it is refused mid-stream, nothing kept.
    let (s, v) =
        w.d.admin(
            Method::PUT,
            &format!("projects/{}/quota", w.project),
            Some(serde_json::json!({"user_bytes": 1_500_000})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let over = Form::default().file("file", "b.pdf", "application/pdf", &pdf(600_000, 3)).end();
    let (s, v) = post(&w, PRODUCT, &w.ann, over.clone()).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("user_quota_exhausted")), "{v}");
    // Another user still has room.
    assert_eq!(post(&w, PRODUCT, &w.bob, over).await.0, 201);
    assert_eq!(staged_files(&w.d), 0, "refused uploads leave nothing staged");
    assert_eq!(w.d.usage(None).await["used_bytes"], 1_600_000);
    assert_eq!(w.d.usage(Some("ann")).await["user_used_bytes"], 1_000_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_rules_follow_the_seed() {
    let w = World::new().await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let a = id(&upload(&w, PRODUCT, &w.ann, "a.pdf", &pdf(100, 1)).await);
    let b = id(&upload(&w, PRODUCT, &w.ann, "b.pdf", &pdf(100, 2)).await);
    let path = |x: &str| format!("/catalog/attachments/{x}");
    let (s, v) = send(&w, Method::DELETE, &path(&a), &w.carl).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "a member who did not upload it: {v}");
    let (s, v) = send(&w, Method::DELETE, &path(&a), &w.ann).await;
    assert_eq!((s, v["message"].as_str()), (200, Some("Attachment deleted successfully")), "the uploader");
    assert_eq!(send(&w, Method::DELETE, &path(&b), &w.bob).await.0, 200, "a team admin");
    assert_eq!(send(&w, Method::DELETE, &path(&b), &w.bob).await.0, 404, "already deleted");
    assert_eq!(send(&w, Method::DELETE, &path(&b), &w.eve).await.0, 404, "out of reach");
    let (_, list) = send(&w, Method::GET, PRODUCT, &w.ann).await;
    assert_eq!(list, serde_json::json!([]));
    assert_eq!(send(&w, Method::GET, &format!("{}/download", path(&a)), &w.ann).await.0, 404);

    let t1 = id(&upload(&w, TICKET, &w.carl, "c.pdf", &pdf(100, 3)).await);
    let t2 = id(&upload(&w, TICKET, &w.carl, "d.pdf", &pdf(100, 4)).await);
    let tpath = |x: &str| format!("/issues/attachments/{x}");
    assert_eq!(
        send(&w, Method::DELETE, &tpath(&t1), &w.bob).await.0,
        403,
        "an admin who neither uploaded nor owns the ticket"
    );
    assert_eq!(send(&w, Method::DELETE, &path(&t1), &w.carl).await.0, 404, "a ticket file on the product route");
    assert_eq!(send(&w, Method::DELETE, &tpath(&t1), &w.dan).await.0, 200, "the ticket's owner");
    assert_eq!(send(&w, Method::DELETE, &tpath(&t2), &w.carl).await.0, 200, "the uploader");
    assert_eq!(send(&w, Method::GET, &tpath(&t2), &w.carl).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_of_both_tiers_survive_kill_and_restart() {
    let mut w = World::new().await;
    let small = pdf(3_000, 7);
    let large = pdf(3_000_000, 8);
    let s = upload(&w, PRODUCT, &w.ann, "small.pdf", &small).await;
    let l = upload(&w, TICKET, &w.ann, "large.pdf", &large).await;
    w.d.kill_and_restart().await;
    let (st, list) = send(&w, Method::GET, PRODUCT, &w.ann).await;
    assert_eq!((st, list[0]["id"].clone()), (200, s["id"].clone()));
    let (_, dl) =
        send(&w, Method::GET, &format!("/catalog/attachments/{}/download", s["id"].as_str().unwrap()), &w.ann).await;
    assert!(w.d.http.get(dl["download_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap() == small);
    let r = w.d.http.get(w.d.url(&format!("/issues/attachments/{}", l["id"].as_str().unwrap()))).bearer_auth(&w.ann);
    assert!(r.send().await.unwrap().bytes().await.unwrap() == large);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_can_move_under_a_prefix_or_be_switched_off() {
    let w =
        World::with(Opts::default().set("apis.catalog", "prefix = \"/files\"").set("apis.events", "enabled = false"))
            .await;
    let form = Form::default().file("file", "a.pdf", "application/pdf", &pdf(100, 1)).end();
    assert_eq!(post(&w, PRODUCT, &w.ann, form.clone()).await.0, 404);
    let v = {
        let (s, v) = post(&w, &format!("/files{PRODUCT}"), &w.ann, form).await;
        assert_eq!(s, 201, "{v}");
        v
    };
    let (_, dl) =
        send(&w, Method::GET, &format!("/files/catalog/attachments/{}/download", v["id"].as_str().unwrap()), &w.ann)
            .await;
    let url = dl["download_url"].as_str().unwrap();
    assert!(url.contains("/files/catalog/attachments/download?t="), "{url}");
    assert_eq!(w.d.http.get(url).send().await.unwrap().status(), 200);
    let (s, _) = w.d.get(&w.d.client_key(), "/v1/attachments").await;
    assert_eq!(s, 404, "the events API is off");
}
