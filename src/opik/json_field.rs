//! JSON fields of traces and spans (`input`, `output`, `metadata`): checked when set, kept as the
//! caller's text, and sent as an object.

use crate::error::{Error, Result};
use serde_json::value::RawValue;

/// A JSON value kept as text, always an object: an object as given, any other value `v` as
/// `{"value": v}` (the form every backend version accepts and the UI shows best). Serialised
/// into request bodies as is, without another parse.
#[derive(Clone, Debug)]
pub struct JsonObject(Box<RawValue>);

impl PartialEq for JsonObject {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl serde::Serialize for JsonObject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl JsonObject {
    /// Checks `text` (one parse that builds no tree) and wraps a non-object. Text that is not
    /// JSON is an invalid argument naming the line and column of the problem.
    pub fn parse(field: &str, text: &str) -> Result<JsonObject> {
        // Parsed from the caller's text as given, so line and column are theirs.
        let raw: Box<RawValue> = serde_json::from_str::<&RawValue>(text)
            .map(ToOwned::to_owned)
            .map_err(|e| {
                Error::invalid(format!(
                    "{field} is not JSON: {} at line {}, column {}",
                    strip_position(&e.to_string()),
                    e.line(),
                    e.column()
                ))
            })?;
        let trimmed = raw.get();
        if trimmed.starts_with('{') {
            return Ok(JsonObject(raw));
        }
        // Checked above, so the wrapped text is JSON too.
        RawValue::from_string(format!("{{\"value\":{trimmed}}}"))
            .map(JsonObject)
            .map_err(|e| Error::internal(format!("{field}: wrapping the value failed: {e}")))
    }

    /// JSON text known to be an object (made by the library itself, e.g. a field with its
    /// embedded media replaced by placeholders).
    pub fn from_json(text: String) -> Result<JsonObject> {
        RawValue::from_string(text)
            .map(JsonObject)
            .map_err(|e| Error::internal(format!("rewritten JSON: {e}")))
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Bytes of the text (what queue limits count).
    pub fn len(&self) -> usize {
        self.0.get().len()
    }
}

/// serde_json appends " at line L column C"; the message says it once, in its own words.
fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_pass_other_values_are_wrapped() {
        assert_eq!(
            JsonObject::parse("input", r#" {"a":1} "#).unwrap().as_str(),
            r#"{"a":1}"#
        );
        assert_eq!(
            JsonObject::parse("input", "42").unwrap().as_str(),
            r#"{"value":42}"#
        );
        assert_eq!(
            JsonObject::parse("input", r#"["x"]"#).unwrap().as_str(),
            r#"{"value":["x"]}"#
        );
        assert_eq!(
            JsonObject::parse("input", r#""s""#).unwrap().as_str(),
            r#"{"value":"s"}"#
        );
    }

    #[test]
    fn invalid_text_names_line_and_column() {
        let e = JsonObject::parse("output", "{\n  \"a\": 1,\n  \"b\": ]\n}").unwrap_err();
        assert_eq!(e.status, crate::Status::InvalidArgument);
        assert!(e.message.contains("output is not JSON"), "{}", e.message);
        assert!(e.message.contains("line 3, column 8"), "{}", e.message);
        assert!(JsonObject::parse("x", "").is_err());
        assert!(JsonObject::parse("x", "{} {}").is_err());
    }
}
