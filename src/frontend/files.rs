//! What every API that takes files from people shares: cleaning the file name a client sent,
//! and reading a whole form as the APIs do ([`read_all`]: the multipart fuzz target's view).
//! A form's file part or a raw body goes into the service as a
//! [`crate::service::direct::DirectUpload`].
//!
//! A client's file name is kept as the last component of what it sent (a name with `/` or `\`
//! keeps only what follows the last one: it is never a path); a name with control characters,
//! an empty name, or one over 255 bytes is refused with 400. Names are only ever metadata:
//! stored files are named by attachment id.

use crate::http::multipart::Form;
use crate::service::ServiceError;
use crate::service::upload::BodySource as _;

/// Longest file name kept, in bytes.
pub const MAX_FILE_NAME: usize = 255;

/// The file name to keep for `raw`, or why it is refused.
pub fn clean_file_name(raw: &str) -> Result<String, ServiceError> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if raw.chars().any(char::is_control) {
        return Err(ServiceError::BadParameter("file name must not contain control characters".into()));
    }
    if last.is_empty() || last == "." || last == ".." {
        return Err(ServiceError::BadParameter("file name is missing".into()));
    }
    if last.len() > MAX_FILE_NAME {
        return Err(ServiceError::BadParameter(format!("file name is longer than {MAX_FILE_NAME} bytes")));
    }
    Ok(last.to_string())
}

/// What [`read_all`] saw of one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSummary {
    /// The field name.
    pub name: String,
    /// The cleaned file name, for a part that carries one.
    pub file_name: Option<String>,
    /// Bytes of its body.
    pub len: u64,
}

/// Reads a whole form as the APIs do (file names cleaned, every part read to its end), keeping
/// only what each part was: the fuzz target's and its proptest mirror's view of the parser.
pub async fn read_all(mut form: Form) -> Result<Vec<PartSummary>, ServiceError> {
    let mut parts = Vec::new();
    while let Some(mut part) = form.next_part().await? {
        let name = part.name().to_string();
        let file_name = part.file_name().map(clean_file_name).transpose()?;
        let mut len = 0u64;
        while let Some(c) = part.next_chunk().await? {
            len += c.len() as u64;
        }
        parts.push(PartSummary { name, file_name, len });
    }
    Ok(parts)
}

/// The properties the `upload_names` fuzz target checks on any string `s` and bytes `data`:
/// routing `s` as a path of the product/ticket, session-point and asset-record APIs, cleaning it as a file
/// name, and checking `data` against the allowlist type its extension names. `Err` says which
/// property broke.
pub fn check_names(s: &str, data: &[u8]) -> Result<(), String> {
    use super::catalog::route::{Route as C, route as catalog_route};
    use super::sessions::route::{MAX_NAME, Route as S, route as session_route};
    let printable = |x: &str, max: usize| !x.is_empty() && x.len() <= max && !x.chars().any(char::is_control);
    for path in [
        s.to_string(),
        format!("/catalog/spaces/{s}/products/{s}/attachments"),
        format!("/issues/tickets/{s}/attachments"),
    ] {
        for m in [hyper::Method::GET, hyper::Method::POST, hyper::Method::DELETE] {
            match catalog_route(&m, &path) {
                Some(C::ListProduct { space, product } | C::UploadProduct { space, product })
                    if !printable(&space, 255) || !printable(&product, 255) =>
                {
                    return Err("a catalog id out of bounds".into());
                }
                Some(C::ListTicket(t) | C::UploadTicket(t)) if !printable(&t, 255) => {
                    return Err("a ticket id out of bounds".into());
                }
                _ => {}
            }
        }
    }
    for path in [
        format!("/api/v2/assets/{s}/attachments"),
        format!("/api/v2/attachments/{s}/file"),
        format!("/api/v2/attachments/{s}"),
    ] {
        use super::assets::route::{Route as A, is_id, route as asset_route};
        for m in [hyper::Method::GET, hyper::Method::POST, hyper::Method::PUT, hyper::Method::PATCH] {
            match asset_route(&m, &path) {
                Some(A::List(_, id) | A::Create(_, id) | A::Get(id) | A::Patch(id) | A::Delete(id))
                | Some(A::Download(id) | A::PutFile(id))
                    if !is_id(&id) =>
                {
                    return Err("a record or parent id out of its alphabet".into());
                }
                _ => {}
            }
        }
    }
    let path = format!("/api/v1/project/42/sessions/{s}/attachments/{s}");
    if let Some(S::Get(slot) | S::Put(slot) | S::Delete(slot)) = session_route(&hyper::Method::PUT, &path) {
        if !printable(&slot.session, MAX_NAME) || slot.session.contains('/') || !printable(&slot.point, MAX_NAME) {
            return Err("a session slot out of bounds".into());
        }
    }
    if let Ok(name) = clean_file_name(s) {
        if !printable(&name, MAX_FILE_NAME) || name.contains(['/', '\\']) {
            return Err("a cleaned file name is a path".into());
        }
        if let Some(t) = super::types::known(&name) {
            let _ = t.matches(data);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Mirror of the `upload_names` fuzz target.
        #[test]
        fn arbitrary_names_and_paths(s in "\\PC{0,300}|[a-z0-9%./\\\\]{0,40}", data in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(check_names(&s, &data), Ok(()));
        }
    }

    #[test]
    fn names_are_last_components_without_control_characters() {
        assert_eq!(clean_file_name("report.pdf").unwrap(), "report.pdf");
        assert_eq!(clean_file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\me\\a b.png").unwrap(), "a b.png");
        assert_eq!(clean_file_name("été.csv").unwrap(), "été.csv");
        for bad in ["", "dir/", "..", "a\nb.pdf", "a\0.pdf", "a\r\n.pdf"] {
            assert!(clean_file_name(bad).is_err(), "{bad:?}");
        }
        assert!(clean_file_name(&format!("{}.pdf", "x".repeat(252))).is_err());
        assert!(clean_file_name(&format!("{}.pdf", "x".repeat(251))).is_ok());
    }
}

#[cfg(test)]
mod form_tests {
    use proptest::prelude::*;

    use super::*;
    use crate::http::multipart::{MAX_TEXT_FIELD, form_of};

    const B: &str = "XyZ";

    fn run(body: Vec<u8>, chunk: usize) -> Result<Vec<PartSummary>, ServiceError> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(read_all(form_of(body, chunk, B, &["file", "comment_id"], 1 << 20)))
    }

    fn part(name: &str, file: Option<&str>, body: &[u8]) -> Vec<u8> {
        let mut v = format!("--{B}\r\nContent-Disposition: form-data; name=\"{name}\"").into_bytes();
        if let Some(f) = file {
            v.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        v.extend_from_slice(b"\r\n\r\n");
        v.extend_from_slice(body);
        v.extend_from_slice(b"\r\n");
        v
    }

    fn end() -> Vec<u8> {
        format!("--{B}--\r\n").into_bytes()
    }

    #[test]
    fn forms_read_whole_whatever_the_chunking() {
        let mut body = part("comment_id", None, b"550e8400-e29b-41d4-a716-446655440000");
        body.extend(part("file", Some("../x/a.pdf"), &[7u8; 10_000]));
        body.extend(end());
        for chunk in [1, 3, 64, 8_192, 1 << 20] {
            let parts = run(body.clone(), chunk).unwrap();
            assert_eq!(parts.len(), 2, "chunk {chunk}");
            assert_eq!(parts[1], PartSummary { name: "file".into(), file_name: Some("a.pdf".into()), len: 10_000 });
        }
    }

    #[test]
    fn hostile_forms_are_client_errors() {
        let huge_header = {
            let mut v = format!("--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"").into_bytes();
            v.extend(std::iter::repeat_n(b'a', 1 << 20));
            v.extend_from_slice(b".pdf\"\r\n\r\nx\r\n");
            v.extend(end());
            v
        };
        let nested = {
            let inner =
                format!("--in\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nx\r\n--in--\r\n");
            let mut v = format!("--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"o.zip\"\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n{inner}\r\n").into_bytes();
            v.extend(end());
            v
        };
        let truncated = part("file", Some("a.pdf"), &[1u8; 5_000]);
        let mut unknown = part("evil", None, b"x");
        unknown.extend(end());
        let mut control = part("file", Some("a\tb.pdf"), b"x");
        control.extend(end());
        let mut oversized_text = part("comment_id", None, &vec![b'1'; (MAX_TEXT_FIELD + 1) as usize]);
        oversized_text.extend(end());
        for (what, body) in [
            ("huge part header", huge_header),
            ("truncated part", truncated),
            ("unknown field", unknown),
            ("control character in a file name", control),
            ("no boundary at all", b"hello".to_vec()),
            ("empty body", Vec::new()),
        ] {
            match run(body, 4_096) {
                Err(e) => assert!(crate::frontend::errors::reply(&e).status.is_client_error(), "{what}: {e:?}"),
                Ok(parts) => assert!(parts.is_empty(), "{what}: {parts:?}"),
            }
        }
        // A nested multipart body is just a file part's bytes: never parsed as parts.
        let parts = run(nested, 100).unwrap();
        assert_eq!((parts.len(), parts[0].file_name.as_deref()), (1, Some("o.zip")));
        // A text field past its bound is refused (read as the APIs read text fields).
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let err = rt.block_on(async {
            let mut f = form_of(oversized_text, 4_096, B, &["comment_id"], 1 << 20);
            let p = f.next_part().await.unwrap().unwrap();
            p.text().await.unwrap_err()
        });
        assert!(matches!(err, ServiceError::BadParameter(ref m) if m.contains("too long")), "{err:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Mirror of the `multipart_form` fuzz target: any bytes, any chunking — the form is
        /// read or refused with a client error, never a panic, and a kept file name is never a
        /// path nor carries control characters.
        #[test]
        fn arbitrary_forms_never_panic(
            prefix in proptest::collection::vec(any::<u8>(), 0..64),
            noise in proptest::collection::vec(any::<u8>(), 0..512),
            chunk in 1usize..300,
            well_formed_start in any::<bool>(),
        ) {
            let mut body = if well_formed_start { part("file", Some("a.pdf"), &prefix) } else { prefix };
            body.extend(noise);
            match run(body, chunk) {
                Err(e) => prop_assert!(crate::frontend::errors::reply(&e).status.is_client_error(), "{e:?}"),
                Ok(parts) => {
                    for p in parts {
                        if let Some(f) = p.file_name {
                            prop_assert!(!f.contains(['/', '\\']) && !f.chars().any(char::is_control) && f.len() <= 255);
                        }
                    }
                }
            }
        }
    }
}
