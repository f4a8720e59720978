//! Content types as the APIs compare them: the essence (type/subtype) without parameters,
//! trimmed and lowercased. Stored content types stay verbatim; only comparisons use this.

/// `"Application/JSON; charset=utf-8"` → `"application/json"`.
pub fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameters_case_and_spaces_do_not_count() {
        assert_eq!(super::essence(" Application/X-Sh ; charset=utf-8"), "application/x-sh");
        assert_eq!(super::essence(""), "");
        assert_eq!(super::essence(";"), "");
    }
}
