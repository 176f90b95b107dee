//! Opik REST paths and bodies (field names exactly as the backend's DTOs).

use base64::Engine;
use serde::{Deserialize, Serialize};

pub const PROJECTS_RETRIEVE: &str = "v1/private/projects/retrieve";
pub const UPLOAD_START: &str = "v1/private/attachment/upload-start";
pub const UPLOAD_COMPLETE: &str = "v1/private/attachment/upload-complete";
pub const ATTACHMENT_LIST: &str = "v1/private/attachment/list";
pub const ATTACHMENT_DELETE: &str = "v1/private/attachment/delete";

/// `upload_id` that announces the direct ("BEMinIO") flow.
pub const DIRECT_UPLOAD_ID: &str = "BEMinIO";

/// Page size asked of `attachment/list`.
pub const LIST_PAGE_SIZE: u32 = 100;

/// The entity an attachment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityType {
    Trace,
    Span,
}

impl EntityType {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Trace => "trace",
            EntityType::Span => "span",
        }
    }
}

/// The `path` parameter: the client's base URL in URL-safe base64 with padding. The backend
/// decodes with the URL-safe alphabet, and for usual URLs this equals the standard encoding.
pub fn encode_path(base_url: &str) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(base_url.as_bytes())
}

/// The entity an attachment goes to (the `project_name`, `entity_type`, `entity_id` triple of
/// every attachment request).
#[derive(Clone, Debug)]
pub struct Target {
    pub project_name: String,
    pub entity_type: EntityType,
    pub entity_id: String,
}

#[derive(Serialize)]
pub struct RetrieveProjectRequest<'a> {
    pub name: &'a str,
}

#[derive(Deserialize, Debug)]
pub struct Project {
    pub id: String,
}

#[derive(Serialize, Debug)]
pub struct StartUploadRequest<'a> {
    pub file_name: &'a str,
    pub num_of_file_parts: u32,
    pub mime_type: Option<&'a str>,
    pub project_name: Option<&'a str>,
    pub entity_type: EntityType,
    pub entity_id: &'a str,
    pub path: &'a str,
}

impl StartUploadRequest<'_> {
    /// The body as JSON: the bytes serde_json makes of it, written directly (see [`JsonObject`]).
    pub fn to_json(&self) -> Vec<u8> {
        let mut o = JsonObject::with_capacity(160 + self.file_name.len() + self.path.len());
        o.str("file_name", self.file_name);
        o.number("num_of_file_parts", self.num_of_file_parts.into());
        o.opt_str("mime_type", self.mime_type);
        o.opt_str("project_name", self.project_name);
        o.str("entity_type", self.entity_type.as_str());
        o.str("entity_id", self.entity_id);
        o.str("path", self.path);
        o.finish()
    }
}

#[derive(Deserialize, Debug)]
pub struct StartUploadResponse {
    pub upload_id: String,
    pub pre_sign_urls: Vec<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    /// Verbatim from the part PUT's `ETag` header, quotes included.
    pub e_tag: String,
    pub part_number: u32,
}

#[derive(Serialize, Debug)]
pub struct CompleteUploadRequest<'a> {
    pub file_name: &'a str,
    pub project_name: Option<&'a str>,
    pub entity_type: EntityType,
    pub entity_id: &'a str,
    pub file_size: u64,
    pub mime_type: Option<&'a str>,
    pub upload_id: &'a str,
    pub uploaded_file_parts: Vec<UploadedPart>,
}

impl CompleteUploadRequest<'_> {
    /// The body as JSON: the bytes serde_json makes of it, written directly (see [`JsonObject`]).
    pub fn to_json(&self) -> Vec<u8> {
        let mut o = JsonObject::with_capacity(
            200 + self.file_name.len() + self.upload_id.len() + 48 * self.uploaded_file_parts.len(),
        );
        o.str("file_name", self.file_name);
        o.opt_str("project_name", self.project_name);
        o.str("entity_type", self.entity_type.as_str());
        o.str("entity_id", self.entity_id);
        o.number("file_size", self.file_size);
        o.opt_str("mime_type", self.mime_type);
        o.str("upload_id", self.upload_id);
        o.key("uploaded_file_parts");
        o.out.push(b'[');
        for (i, part) in self.uploaded_file_parts.iter().enumerate() {
            if i > 0 {
                o.out.push(b',');
            }
            let mut p = JsonObject::inside(std::mem::take(&mut o.out));
            p.str("e_tag", &part.e_tag);
            p.number("part_number", part.part_number.into());
            o.out = p.finish();
        }
        o.out.push(b']');
        o.finish()
    }
}

/// A JSON object written field by field, for the bodies sent once per upload. serde_json escapes
/// every key and value byte by byte; that was the largest single cost of encoding them (about
/// 5,000 instructions per small upload). Strings that need no escaping, which here is nearly all
/// of them, are copied after one scan; any other is written by serde_json, so the bytes are
/// always exactly serde_json's (a test compares them).
struct JsonObject {
    out: Vec<u8>,
    empty: bool,
}

impl JsonObject {
    fn with_capacity(capacity: usize) -> JsonObject {
        JsonObject::inside(Vec::with_capacity(capacity))
    }

    /// An object appended to `out`.
    fn inside(mut out: Vec<u8>) -> JsonObject {
        out.push(b'{');
        JsonObject { out, empty: true }
    }

    /// Keys are this file's own field names, which need no escaping: copied as they are.
    fn key(&mut self, key: &'static str) {
        debug_assert!(!needs_escape(key.as_bytes()));
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn str(&mut self, key: &'static str, value: &str) {
        self.key(key);
        push_json_str(&mut self.out, value);
    }

    fn opt_str(&mut self, key: &'static str, value: Option<&str>) {
        match value {
            Some(v) => self.str(key, v),
            None => {
                self.key(key);
                self.out.extend_from_slice(b"null");
            }
        }
    }

    fn number(&mut self, key: &'static str, n: u64) {
        self.key(key);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it (control characters,
/// `"` and the backslash; nothing else).
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Whether `bytes` holds a byte JSON escapes: below 0x20, `"` or the backslash. Eight bytes at a
/// time: a byte-by-byte scan cost as much as serde_json's escaping it replaces.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether a byte of `x` is zero (exact when asked of all eight: a borrow starts only at one).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
        // A byte below 0x20 (the same trick, for "less than" a value up to 0x80).
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0;
        if control || has_zero(x ^ (ONES * b'"' as u64)) || has_zero(x ^ (ONES * b'\\' as u64)) {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[derive(Deserialize, Debug)]
pub struct AttachmentPage {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub content: Vec<AttachmentInfo>,
}

/// One attachment as listed by the server.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub file_name: String,
    #[serde(default)]
    pub file_size: u64,
    #[serde(default)]
    pub mime_type: Option<String>,
    /// Presigned storage URL (S3 mode) or backend download URL (direct mode); may be absent.
    #[serde(default)]
    pub link: Option<String>,
}

/// The body the backend really validates (`DeleteAttachmentsRequest`), not the OpenAPI one.
#[derive(Serialize, Debug)]
pub struct DeleteRequest<'a> {
    pub file_names: Vec<&'a str>,
    pub entity_type: EntityType,
    pub entity_id: &'a str,
    pub container_id: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_escape_finds_every_escaped_byte_at_every_position() {
        for len in 0..20 {
            let clean: Vec<u8> = (0..len).map(|i| b"az09 ~\x7f\xc3\xbc"[i % 9]).collect();
            assert!(!needs_escape(&clean), "{clean:?}");
            for at in 0..len {
                for b in (0u8..0x20).chain([b'"', b'\\']) {
                    let mut v = clean.clone();
                    v[at] = b;
                    assert!(needs_escape(&v), "{b:#x} at {at} of {len}");
                }
                for b in (0x20u8..=0xff).filter(|b| *b != b'"' && *b != b'\\') {
                    let mut v = clean.clone();
                    v[at] = b;
                    assert!(!needs_escape(&v), "{b:#x} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn bodies_written_directly_are_serde_jsons_bytes() {
        let strings = [
            "",
            "clip.webm",
            "my file+ü #1&x=y?.bin",
            "日本語 résumé.txt",
            "quote\" back\\slash",
            "\"0123abcd\"",
            "tab\tnew\nline\u{1}\u{1f}\u{7f}",
            "emoji 🎉 and \u{2028}",
        ];
        for (i, s) in strings.iter().enumerate() {
            let other = strings[(i + 3) % strings.len()];
            let optional = [None, Some(other)][i % 2];
            let start = StartUploadRequest {
                file_name: s,
                num_of_file_parts: [0, 1, 10_000, u32::MAX][i % 4],
                mime_type: optional,
                project_name: [Some(*s), None][i % 2],
                entity_type: [EntityType::Trace, EntityType::Span][i % 2],
                entity_id: other,
                path: s,
            };
            assert_eq!(
                String::from_utf8(start.to_json()).unwrap(),
                serde_json::to_string(&start).unwrap()
            );
            let parts: Vec<UploadedPart> = (1..=(i as u32 % 3))
                .map(|n| UploadedPart {
                    e_tag: format!("{s}{n}"),
                    part_number: n,
                })
                .collect();
            let complete = CompleteUploadRequest {
                file_name: s,
                project_name: optional,
                entity_type: [EntityType::Span, EntityType::Trace][i % 2],
                entity_id: other,
                file_size: [0, 1, u64::MAX][i % 3],
                mime_type: [Some(other), None][i % 2],
                upload_id: s,
                uploaded_file_parts: parts,
            };
            assert_eq!(
                String::from_utf8(complete.to_json()).unwrap(),
                serde_json::to_string(&complete).unwrap()
            );
        }
    }

    #[test]
    fn path_encoding_matches_the_backend_and_python_sdk() {
        assert_eq!(
            encode_path("https://www.comet.com/opik/api/"),
            "aHR0cHM6Ly93d3cuY29tZXQuY29tL29waWsvYXBpLw=="
        );
        assert_eq!(
            encode_path("http://localhost:5173/api/"),
            "aHR0cDovL2xvY2FsaG9zdDo1MTczL2FwaS8="
        );
        assert_eq!(
            encode_path("http://127.0.0.1:18080/"),
            "aHR0cDovLzEyNy4wLjAuMToxODA4MC8="
        );
        // Bytes that give '+' and '/' in the standard alphabet use '-' and '_' here.
        let p = encode_path("http://h/?>?>");
        assert!(!p.contains('+') && !p.contains('/'), "{p}");
    }

    #[test]
    fn bodies_use_the_backend_field_names() {
        let body = serde_json::to_value(CompleteUploadRequest {
            file_name: "a.bin",
            project_name: None,
            entity_type: EntityType::Span,
            entity_id: "id",
            file_size: 7,
            mime_type: Some("application/octet-stream"),
            upload_id: "u",
            uploaded_file_parts: vec![UploadedPart {
                e_tag: "\"abc\"".into(),
                part_number: 1,
            }],
        })
        .unwrap();
        assert_eq!(body["entity_type"], "span");
        assert_eq!(body["project_name"], serde_json::Value::Null);
        assert_eq!(body["uploaded_file_parts"][0]["e_tag"], "\"abc\"");
        assert_eq!(body["uploaded_file_parts"][0]["part_number"], 1);
        assert!(body.get("container_id").is_none());
        let del = serde_json::to_value(DeleteRequest {
            file_names: vec!["x"],
            entity_type: EntityType::Trace,
            entity_id: "e",
            container_id: "p",
        })
        .unwrap();
        assert_eq!(
            del,
            serde_json::json!({"file_names": ["x"], "entity_type": "trace", "entity_id": "e", "container_id": "p"})
        );
    }

    #[test]
    fn list_page_tolerates_unknown_and_null_fields() {
        let page: AttachmentPage = serde_json::from_str(
            r#"{"page":1,"size":1,"total":1,"sortableBy":[],"extra":true,
                "content":[{"file_name":"a","file_size":3,"mime_type":null,"link":null,"new":1}]}"#,
        )
        .unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.content[0].mime_type, None);
        assert_eq!(page.content[0].link, None);
    }
}
