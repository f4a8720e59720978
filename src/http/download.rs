//! Serving a stored attachment's bytes, for any front end's download route: the reference's
//! headers, `Range` (206/416), `ETag` (the SHA-256) with `If-None-Match` (304), streaming a
//! standalone file through a [`ChannelBody`], and X-Accel-Redirect offload. How a download is
//! authorised (a signed token, a session) is the front end's business: it passes a function
//! that opens the download.

use std::future::Future;

use http_body_util::BodyExt;
use hyper::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderMap,
    HeaderValue, IF_NONE_MATCH, LOCATION, RANGE,
};
use hyper::{Method, Request, Response, StatusCode};

use crate::model::Attachment;
use crate::service::ServiceError;
use crate::service::download::{Download, DownloadSource, stream_file};

use super::body::{ChannelBody, RespBody, empty, full};
use super::range::{self, RangeSpec};

/// Serves a download for `req` (GET or HEAD). `open(bytes)` opens it, with its bytes or
/// (`false`) the record alone: a HEAD, or a conditional GET that may be a 304, reads no bytes
/// (nor charges them to the download budget).
pub async fn serve<B, F, Fut>(req: &Request<B>, open: F) -> Result<Response<RespBody>, ServiceError>
where
    F: Fn(bool) -> Fut,
    Fut: Future<Output = Result<Download, ServiceError>>,
{
    let head = req.method() == Method::HEAD;
    let if_none_match = req.headers().get(IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    let mut dl = open(!head && if_none_match.is_none()).await?;
    let etag = format!("\"{}\"", dl.record.digests.sha256.to_hex());
    let mut headers = HeaderMap::new();
    common_headers(&mut headers, &dl.record, &etag);
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        return Ok(respond(StatusCode::NOT_MODIFIED, headers, empty()));
    }
    if if_none_match.is_some() && !head {
        dl = open(true).await?;
    }
    if let DownloadSource::XAccel(uri) = &dl.source {
        // nginx serves the file (and handles Range itself).
        headers.insert("x-accel-redirect", header_value(uri));
        return Ok(respond(StatusCode::OK, headers, empty()));
    }
    if let DownloadSource::Elsewhere(url) = &dl.source {
        // The object store serves the bytes (and Range) at a presigned URL that sets the
        // response's type and disposition; this answer is only valid as long as that URL.
        let mut h = HeaderMap::new();
        h.insert(LOCATION, header_value(url));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(respond(StatusCode::FOUND, h, empty()));
    }
    let size = dl.record.size_bytes;
    let (status, start, end) = match range::parse(req.headers().get(RANGE).and_then(|v| v.to_str().ok()), size) {
        RangeSpec::Full => (StatusCode::OK, 0, size),
        RangeSpec::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeSpec::Unsatisfiable => return Err(ServiceError::RangeNotSatisfiable { size }),
    };
    if status == StatusCode::PARTIAL_CONTENT {
        headers.insert(CONTENT_RANGE, header_value(&format!("bytes {}-{}/{}", start, end - 1, size)));
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(end - start));
    let body = match dl.source {
        DownloadSource::None => empty(),
        DownloadSource::Memory(bytes) => {
            crate::metrics::bytes_downloaded(end - start);
            full(bytes.slice(start as usize..end as usize))
        }
        DownloadSource::File(file) => ChannelBody::new(stream_file(file, start, end)).boxed(),
        DownloadSource::XAccel(_) | DownloadSource::Elsewhere(_) => unreachable!("handled above"),
    };
    Ok(respond(status, headers, body))
}

fn respond(status: StatusCode, headers: HeaderMap, body: RespBody) -> Response<RespBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn common_headers(h: &mut HeaderMap, rec: &Attachment, etag: &str) {
    let ct = HeaderValue::from_str(&rec.meta.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    h.insert(CONTENT_TYPE, ct);
    h.insert(CONTENT_DISPOSITION, header_value(&content_disposition(&rec.meta.original_filename)));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(ETAG, header_value(etag));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
}

/// RFC 6266: `attachment; filename="<safe ASCII>"`, plus `filename*=UTF-8''…` when the name
/// is not plain ASCII. Quotes, backslashes and control characters (CR/LF included) are removed
/// from the plain form, so a filename can never inject a header. Invisible formatting
/// characters (bidirectional overrides such as U+202E, zero-width characters) are removed from
/// both forms, so `invoice\u{202E}fdp.exe` cannot pose as a PDF in a save dialog.
pub fn content_disposition(name: &str) -> String {
    let plain: String = name
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control() && !is_invisible_format(*c))
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let needs_ext = !name.is_ascii() || plain.len() != name.len();
    if needs_ext && !name.is_ascii() {
        let cleaned: String = name.chars().filter(|c| !c.is_control() && !is_invisible_format(*c)).collect();
        let enc = percent_encoding::utf8_percent_encode(&cleaned, RFC5987);
        format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{enc}")
    } else {
        format!("attachment; filename=\"{plain}\"")
    }
}

/// Unicode format characters (category Cf) that change how a name is displayed without being
/// seen: bidi embeddings, overrides and isolates, zero-width joiners and spaces, the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

/// RFC 5987 `attr-char` is ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else is encoded.
const RFC5987: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_table() {
        assert_eq!(content_disposition("crash.log"), "attachment; filename=\"crash.log\"");
        assert_eq!(content_disposition("a\"b\\c\r\nSet-Cookie: x"), "attachment; filename=\"abcSet-Cookie: x\"");
        assert_eq!(
            content_disposition("résumé 📎.pdf"),
            "attachment; filename=\"r_sum_ _.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%F0%9F%93%8E.pdf"
        );
        // A right-to-left override cannot disguise the extension in either form.
        assert_eq!(
            content_disposition("invoice\u{202E}fdp.exe"),
            "attachment; filename=\"invoicefdp.exe\"; filename*=UTF-8''invoicefdp.exe"
        );
        // Every result is a valid header value.
        for n in ["\u{0}\u{7f}x", "日本語.txt", "tab\there", ""] {
            assert!(HeaderValue::from_str(&content_disposition(n)).is_ok(), "{n:?}");
        }
    }
}
