//! `multipart/form-data` bodies, streamed part by part (`multer`), for every front end that
//! takes form uploads.
//!
//! The request body is read through [`HyperBody`] (so the idle timeout and least-rate rules of
//! every upload hold here too) and parsed by `multer` under constraints: only the fields the
//! route names, a bound on the whole stream, a small bound on each text field. A file part is
//! handed to the service as a [`BodySource`] and streamed into the blob store as it arrives:
//! nothing is buffered whole. Malformed bodies (no boundary, truncated parts, bad headers,
//! unknown or oversized fields) are 400s saying what is wrong; a client that goes away or
//! stalls is the same error as on any upload.

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;

use crate::service::ServiceError;
use crate::service::upload::{BodyError, BodySource};

use super::HttpConfig;
use super::body::HyperBody;

/// Longest value of a text field.
pub const MAX_TEXT_FIELD: u64 = 64 << 10;
/// The names of file parts (the seeds'): the only parts not bounded by [`MAX_TEXT_FIELD`].
pub const FILE_FIELDS: [&str; 2] = ["file", "attachment"];

/// Bytes a form may add around its file parts (boundaries, part headers, text fields).
pub const FORM_OVERHEAD: u64 = 256 << 10;

/// Why the request stream stopped, carried through `multer` to be told apart from its own
/// parse errors.
#[derive(Debug)]
pub struct StreamStopped(pub BodyError);

impl std::fmt::Display for StreamStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request body stopped: {:?}", self.0)
    }
}

impl std::error::Error for StreamStopped {}

/// A form being read.
pub struct Form {
    inner: multer::Multipart<'static>,
    max_file: u64,
}

/// One part of a form, being read.
pub struct Part {
    inner: multer::Field<'static>,
    max_file: u64,
}

/// Whether a request's `Content-Type` is `multipart/form-data` (with any parameters).
pub fn is_form(req: &Request<Incoming>) -> bool {
    content_type(req).is_some_and(|ct| crate::model::mime::essence(ct) == "multipart/form-data")
}

fn content_type(req: &Request<Incoming>) -> Option<&str> {
    req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// Starts reading `req` as a form taking only `fields`, of at most `max_file` bytes per file
/// part (the whole stream at most that plus [`FORM_OVERHEAD`]). Not a form, or no boundary:
/// 400.
pub fn read_form(
    req: Request<Incoming>,
    cfg: &HttpConfig,
    fields: &[&str],
    max_file: u64,
) -> Result<Form, ServiceError> {
    let ct = content_type(&req).unwrap_or("");
    if crate::model::mime::essence(ct) != "multipart/form-data" {
        return Err(ServiceError::BadParameter("the body must be multipart/form-data".into()));
    }
    let boundary = multer::parse_boundary(ct)
        .map_err(|_| ServiceError::BadParameter("multipart/form-data without a valid boundary".into()))?;
    let body = HyperBody::new(req.into_body(), cfg);
    let chunks = stream::unfold(body, |mut body| async move {
        match body.next_chunk().await {
            Ok(Some(c)) => Some((Ok::<Bytes, StreamStopped>(c), body)),
            Ok(None) => None,
            Err(e) => Some((Err(StreamStopped(e)), body)),
        }
    });
    Ok(Form::from_stream(chunks, boundary, fields, max_file))
}

impl Form {
    /// A form read from `chunks` (the request body, or a fuzzer's bytes) under `boundary`,
    /// with the constraints of [`read_form`].
    pub fn from_stream<S>(chunks: S, boundary: String, fields: &[&str], max_file: u64) -> Self
    where
        S: Stream<Item = Result<Bytes, StreamStopped>> + Send + 'static,
    {
        // Every part is a text field of at most MAX_TEXT_FIELD bytes but the file parts (the
        // seeds name them `file` and `attachment`), whose limit is the service's: a 413 the
        // moment a file passes it, nothing kept. multer never limits them itself (it checks
        // whole chunks and would refuse first, as a malformed form); the whole stream stays
        // bounded.
        let mut limits =
            multer::SizeLimit::new().whole_stream(max_file.saturating_add(FORM_OVERHEAD)).per_field(MAX_TEXT_FIELD);
        for f in FILE_FIELDS.iter().filter(|f| fields.contains(f)) {
            limits = limits.for_field(*f, u64::MAX);
        }
        let constraints = multer::Constraints::new().allowed_fields(fields.to_vec()).size_limit(limits);
        let inner = multer::Multipart::with_constraints(Box::pin(chunks) as PinnedStream, boundary, constraints);
        Form { inner, max_file }
    }
}

type PinnedStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, StreamStopped>> + Send>>;

impl Form {
    /// The next part, or `None` after the last.
    pub async fn next_part(&mut self) -> Result<Option<Part>, ServiceError> {
        match self.inner.next_field().await {
            Ok(f) => Ok(f.map(|inner| Part { inner, max_file: self.max_file })),
            Err(e) => Err(form_error(e)),
        }
    }
}

impl Part {
    /// The field name.
    pub fn name(&self) -> &str {
        self.inner.name().unwrap_or("")
    }

    /// The file name the client sent, if any.
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// The part's declared content type, if any.
    pub fn content_type(&self) -> Option<String> {
        self.inner.content_type().map(|m| m.essence_str().to_string())
    }

    /// A text field's value (bounded by the form's constraints).
    pub async fn text(self) -> Result<String, ServiceError> {
        let name = self.name().to_string();
        self.inner.text().await.map_err(|e| match e {
            multer::Error::FieldSizeExceeded { .. } => ServiceError::BadParameter(format!("field {name} is too long")),
            other => form_error(other),
        })
    }
}

impl BodySource for Part {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        let max_file = self.max_file;
        self.inner.chunk().await.map_err(|e| match stopped(&e) {
            Some(stop) => stop,
            // The form passed its bound while a file streamed: the file is too large.
            None if matches!(e, multer::Error::StreamSizeExceeded { .. }) => BodyError::TooLarge(max_file),
            // A malformed or truncated part ends the upload: nothing is kept.
            None => {
                tracing::debug!(error = %e, "multipart body ended badly");
                BodyError::Malformed
            }
        })
    }
}

fn stopped(e: &multer::Error) -> Option<BodyError> {
    match e {
        multer::Error::StreamReadFailed(inner) => inner.downcast_ref::<StreamStopped>().map(|s| s.0),
        _ => None,
    }
}

/// A parse error as the client's 400 (or the stream's own end).
fn form_error(e: multer::Error) -> ServiceError {
    if let Some(stop) = stopped(&e) {
        return stop.into();
    }
    if let multer::Error::StreamSizeExceeded { limit } = e {
        return ServiceError::BodyTooLarge(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    ServiceError::BadParameter(match e {
        multer::Error::UnknownField { field_name } => {
            format!("unknown form field {:?}", field_name.unwrap_or_default())
        }
        multer::Error::FieldSizeExceeded { field_name, .. } => {
            format!("form field {:?} is too long", field_name.unwrap_or_default())
        }
        other => format!("malformed multipart body: {other}"),
    })
}

/// `body` in chunks of `chunk` bytes, as a form under `boundary` taking `fields`.
pub fn form_of(body: Vec<u8>, chunk: usize, boundary: &str, fields: &[&str], max_file: u64) -> Form {
    let chunks: Vec<Result<Bytes, StreamStopped>> =
        body.chunks(chunk.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Form::from_stream(stream::iter(chunks), boundary.to_string(), fields, max_file)
}
