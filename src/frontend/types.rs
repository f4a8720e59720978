//! File types the APIs' allowlists are made of. Seed 001's allowlist is [`by_extension`]:
//! documents (PDF, Word, Excel, PowerPoint), images (PNG, JPEG, GIF, SVG), data (CSV, JSON,
//! XML, Parquet) and archives (ZIP); [`known`] adds plain text (`.txt`), for APIs whose
//! allowlist is configured by MIME type (seed 004). A type is checked twice:
//!
//! 1. by **extension**, before a byte of the file is read: the extension names the type, and
//!    the answer's `mime_type` is that type's (never the client's declaration);
//! 2. by **content**, on the file's first bytes as they arrive (`infer` for binary formats,
//!    our own checks for Parquet's magic and the text formats): a PNG named `.pdf`, or an
//!    executable named `.csv`, is refused before it is stored.
//!
//! Office Open XML files (`.docx`, `.xlsx`, `.pptx`) are ZIP archives, and `infer` recognises
//! their kind only when the right entry comes first: any ZIP is accepted for them. Text formats
//! must be UTF-8 text (a NUL byte, or a signature of a binary format, is a mismatch); SVG and
//! XML must start with markup and SVG must contain an `<svg` element; JSON must start with `{`
//! or `[`.

/// How a file's content is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// `infer` must name one of these MIME types.
    Binary(&'static [&'static str]),
    /// Starts with these bytes.
    Magic(&'static [u8]),
    /// UTF-8 text of this shape.
    Text(TextShape),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextShape {
    Any,
    Json,
    Markup,
    Svg,
}

const ZIP: &[&str] = &["application/zip"];
const OOXML_WORD: &[&str] =
    &["application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip"];
const OOXML_SHEET: &[&str] = &["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/zip"];
const OOXML_SLIDES: &[&str] =
    &["application/vnd.openxmlformats-officedocument.presentationml.presentation", "application/zip"];
/// Legacy Office files are OLE compound documents; `infer` names the kind when it can tell.
const OLE: &[&str] =
    &["application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint", "application/x-ole-storage"];

/// Every allowed extension: its MIME type and how its content is checked.
const TYPES: &[(&str, &str, Content)] = &[
    ("pdf", "application/pdf", Content::Binary(&["application/pdf"])),
    ("doc", "application/msword", Content::Binary(OLE)),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Content::Binary(OOXML_WORD)),
    ("xls", "application/vnd.ms-excel", Content::Binary(OLE)),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Content::Binary(OOXML_SHEET)),
    ("ppt", "application/vnd.ms-powerpoint", Content::Binary(OLE)),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        Content::Binary(OOXML_SLIDES),
    ),
    ("png", "image/png", Content::Binary(&["image/png"])),
    ("jpg", "image/jpeg", Content::Binary(&["image/jpeg"])),
    ("jpeg", "image/jpeg", Content::Binary(&["image/jpeg"])),
    ("gif", "image/gif", Content::Binary(&["image/gif"])),
    ("svg", "image/svg+xml", Content::Text(TextShape::Svg)),
    ("csv", "text/csv", Content::Text(TextShape::Any)),
    ("json", "application/json", Content::Text(TextShape::Json)),
    ("xml", "application/xml", Content::Text(TextShape::Markup)),
    ("parquet", "application/vnd.apache.parquet", Content::Magic(b"PAR1")),
    ("zip", "application/zip", Content::Binary(ZIP)),
];

/// Types outside seed 001's allowlist that other allowlists may name.
const EXTRA: &[(&str, &str, Content)] = &[("txt", "text/plain", Content::Text(TextShape::Any))];

/// An allowed file type, found by a file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    /// The extension, lower case.
    pub extension: &'static str,
    /// Its MIME type.
    pub mime: &'static str,
    content: Content,
}

/// The allowed type of `file_name`, by its extension (case-insensitive), or `None`.
pub fn by_extension(file_name: &str) -> Option<FileType> {
    let (_, ext) = file_name.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    TYPES.iter().find(|(e, _, _)| *e == ext).map(|&(extension, mime, content)| FileType { extension, mime, content })
}

/// The type of `file_name` by its extension among every type attachd can check, or `None`.
pub fn known(file_name: &str) -> Option<FileType> {
    by_extension(file_name).or_else(|| {
        let (_, ext) = file_name.rsplit_once('.')?;
        let ext = ext.to_ascii_lowercase();
        EXTRA.iter().find(|(e, _, _)| *e == ext).map(|&(extension, mime, content)| FileType {
            extension,
            mime,
            content,
        })
    })
}

/// Whether attachd can check files of MIME type `mime` (some extension names it).
pub fn checkable(mime: &str) -> bool {
    TYPES.iter().chain(EXTRA).any(|(_, m, _)| *m == mime)
}

impl FileType {
    /// Whether `head` (a file's first bytes; all of it if shorter) can be of this type.
    pub fn matches(&self, head: &[u8]) -> bool {
        match self.content {
            Content::Binary(kinds) => infer::get(head).is_some_and(|k| kinds.contains(&k.mime_type())),
            Content::Magic(m) => head.starts_with(m),
            Content::Text(shape) => is_text(head) && shape_ok(shape, head),
        }
    }
}

/// UTF-8 text without NULs and not a known binary format (a multi-byte character cut at the
/// end of the head is fine).
fn is_text(head: &[u8]) -> bool {
    if head.contains(&0) || infer::get(head).is_some_and(|k| !k.mime_type().starts_with("text/")) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > head.len(),
    }
}

fn shape_ok(shape: TextShape, head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    match shape {
        TextShape::Any => true,
        TextShape::Json => t.starts_with('{') || t.starts_with('['),
        TextShape::Markup => t.starts_with('<'),
        TextShape::Svg => t.starts_with('<') && t.contains("<svg"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n";
    const ZIPPED: &[u8] = b"PK\x03\x04\x14\0\0\0\x08\0";
    const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0";

    #[test]
    fn extensions_pick_types_case_insensitively() {
        assert_eq!(by_extension("report.PDF").unwrap().mime, "application/pdf");
        assert_eq!(by_extension("a.b.jpeg").unwrap().mime, "image/jpeg");
        assert!(by_extension("run.exe").is_none() && by_extension("noext").is_none() && by_extension("x.").is_none());
        assert_eq!(TYPES.len(), 17);
    }

    #[test]
    fn content_must_match_the_extension() {
        let t = |n: &str| by_extension(n).unwrap();
        assert!(t("a.png").matches(PNG) && !t("a.pdf").matches(PNG) && !t("a.jpg").matches(PNG));
        assert!(t("a.pdf").matches(PDF) && !t("a.png").matches(PDF));
        assert!(t("a.zip").matches(ZIPPED) && t("a.docx").matches(ZIPPED) && !t("a.pdf").matches(ZIPPED));
        assert!(t("a.csv").matches(b"id,name\n1,\xc3\xa9t\xc3\xa9\n") && !t("a.csv").matches(ELF));
        assert!(!t("a.csv").matches(b"a,b\0c") && !t("a.csv").matches(PNG) && !t("a.csv").matches(b"\xff\xfe\xfd x"));
        assert!(t("a.csv").matches(b"caf\xc3"), "a character cut at the end of the head is fine");
        assert!(t("a.json").matches(b" \n{\"a\": 1}") && !t("a.json").matches(b"hello"));
        assert!(t("a.svg").matches(b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"));
        assert!(!t("a.svg").matches(b"<html><body>no</body></html>") && t("a.xml").matches(b"<a/>"));
        assert!(t("a.parquet").matches(b"PAR1\x15\x04") && !t("a.parquet").matches(b"PAR2"));
        assert!(!t("a.png").matches(b""), "an empty head matches no binary type");
    }
}
