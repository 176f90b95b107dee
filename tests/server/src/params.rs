//! Parameter validation and encoding shared by the endpoints.

use std::collections::HashMap;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

/// Query encoding for URLs we build: everything but `A-Za-z0-9-_.~` is escaped.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The query parameters of a request, read the way the backend validates them; an `Err` is the
/// message of the 400 answer.
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    pub fn of(query: Option<&str>) -> Query {
        Query(query_map(query))
    }

    /// The value, unless it is missing or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("{name} must not be blank"))
    }

    pub fn uuid(&self, name: &str) -> Result<String, String> {
        self.get(name)
            .and_then(uuid)
            .ok_or_else(|| format!("{name} must be a UUID"))
    }

    pub fn entity_type(&self) -> Result<&'static str, String> {
        self.get("entity_type")
            .and_then(entity_type)
            .ok_or_else(|| "entity_type must be one of [trace, span]".to_string())
    }
}

/// Builds `k1=v1&k2=v2` with percent-encoded values.
pub(crate) fn encode_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_ENCODE)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decoded query parameters (the first occurrence of each name wins).
pub(crate) fn query_map(query: Option<&str>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}

/// Decodes the `path` parameter (base64 of the client's base URL, URL-safe or standard alphabet,
/// padding optional) into an absolute http(s) URL string.
pub(crate) fn decode_base_url(path: &str) -> Option<String> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let trimmed = path.trim();
    let bytes = GeneralPurpose::new(&alphabet::URL_SAFE, config)
        .decode(trimmed)
        .or_else(|_| GeneralPurpose::new(&alphabet::STANDARD, config).decode(trimmed))
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let url = url::Url::parse(text.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| text.trim().to_string())
}

/// `<base>/<suffix>`, ignoring a trailing slash on the base.
pub(crate) fn join_base(base: &str, suffix: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        suffix.trim_start_matches('/')
    )
}

/// `trace` or `span`.
pub(crate) fn entity_type(value: &str) -> Option<&'static str> {
    match value {
        "trace" => Some("trace"),
        "span" => Some("span"),
        _ => None,
    }
}

/// A UUID in canonical hyphenated lowercase form.
pub(crate) fn uuid(value: &str) -> Option<String> {
    uuid::Uuid::parse_str(value.trim())
        .ok()
        .map(|u| u.to_string())
}

/// The MIME type the backend resolves from a file name (by extension).
pub(crate) fn guess_mime(file_name: &str) -> String {
    mime_guess::from_path(file_name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_string()
}

/// `Some(mime)` if non-blank, else the type guessed from the file name.
pub(crate) fn resolve_mime(mime: Option<&str>, file_name: &str) -> String {
    match mime.map(str::trim) {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => guess_mime(file_name),
    }
}

/// Field access for a JSON request body; errors are validation messages (422).
pub(crate) struct Fields<'a>(pub &'a Value);

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A required string that is not blank.
    pub fn required_str(&self, name: &str) -> Result<&'a str, String> {
        match self.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) | None => Err(format!("{name} must not be blank")),
            Some(_) => Err(format!("{name} must be a string")),
        }
    }

    /// An optional string: `None` when absent or null.
    pub fn optional_str(&self, name: &str) -> Result<Option<&'a str>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{name} must be a string")),
        }
    }

    /// An optional string that, when present, must not be blank (trimmed).
    pub fn optional_nonblank(&self, name: &str) -> Result<Option<&'a str>, String> {
        match self.optional_str(name)? {
            Some(s) if s.trim().is_empty() => Err(format!("{name} must not be blank")),
            other => Ok(other.map(str::trim)),
        }
    }

    /// A required integer.
    pub fn required_i64(&self, name: &str) -> Result<i64, String> {
        match self.get(name) {
            None => Err(format!("{name} must not be null")),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| format!("{name} must be an integer")),
        }
    }

    pub fn entity_type(&self) -> Result<&'static str, String> {
        let value = self.required_str("entity_type")?;
        entity_type(value).ok_or_else(|| "entity_type must be one of [trace, span]".to_string())
    }

    pub fn uuid(&self, name: &str) -> Result<String, String> {
        let value = self
            .required_str(name)
            .map_err(|_| format!("{name} must not be null"))?;
        uuid(value).ok_or_else(|| format!("{name} must be a UUID"))
    }

    /// A required array.
    pub fn required_array(&self, name: &str) -> Result<&'a Vec<Value>, String> {
        match self.get(name) {
            None => Err(format!("{name} must not be null")),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(format!("{name} must be an array")),
        }
    }

    /// `project_name`: trimmed, not blank if present, `Default Project` if null or absent.
    pub fn project_name(&self) -> Result<&'a str, String> {
        Ok(self
            .optional_nonblank("project_name")?
            .unwrap_or(crate::state::DEFAULT_PROJECT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_decoding() {
        assert_eq!(
            decode_base_url("aHR0cDovLzEyNy4wLjAuMToxODA4MC8=").as_deref(),
            Some("http://127.0.0.1:18080/")
        );
        assert_eq!(
            decode_base_url("aHR0cDovLzEyNy4wLjAuMToxODA4MC8").as_deref(),
            Some("http://127.0.0.1:18080/")
        );
        // "http://h/?>>>" encodes with '+' in the standard and '-' in the URL-safe alphabet.
        let std = base64::engine::general_purpose::STANDARD.encode("http://h/?>>>");
        let safe = base64::engine::general_purpose::URL_SAFE.encode("http://h/?>>>");
        assert_ne!(std, safe);
        assert_eq!(decode_base_url(&std).as_deref(), Some("http://h/?>>>"));
        assert_eq!(decode_base_url(&safe).as_deref(), Some("http://h/?>>>"));
        assert_eq!(decode_base_url("%%%not base64"), None);
        assert_eq!(
            decode_base_url(&base64::engine::general_purpose::STANDARD.encode("not a url")),
            None
        );
    }

    #[test]
    fn query_encoding_and_join() {
        assert_eq!(
            encode_query(&[("mime_type", "application/octet-stream"), ("f", "a b&c")]),
            "mime_type=application%2Foctet-stream&f=a%20b%26c"
        );
        assert_eq!(join_base("http://h:1/api/", "v1/x"), "http://h:1/api/v1/x");
        assert_eq!(join_base("http://h:1/api", "v1/x"), "http://h:1/api/v1/x");
    }

    #[test]
    fn mime_resolution() {
        assert_eq!(resolve_mime(None, "a.png"), "image/png");
        assert_eq!(resolve_mime(Some("  "), "a.json"), "application/json");
        assert_eq!(resolve_mime(None, "noext"), "application/octet-stream");
        assert_eq!(
            resolve_mime(Some("text/x-custom"), "a.png"),
            "text/x-custom"
        );
    }
}
