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
