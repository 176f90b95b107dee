//! The JSON endpoints: projects/retrieve, upload-start, upload-complete, list, delete.

use std::collections::BTreeMap;

use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::body::{code_message, empty, errors, json_response, RespBody};
use crate::dispatch::Ctx;
use crate::params::{self, Fields};
use crate::state::{AttachmentRow, MultipartUpload, State};
use crate::storage::{self, Segment, StoredObject};

type Reply = Result<Response<RespBody>, Response<RespBody>>;

/// S3's minimum size of every part but the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's maximum number of parts.
const MAX_PARTS: i64 = 10_000;

fn invalid(message: String) -> Response<RespBody> {
    errors(StatusCode::UNPROCESSABLE_ENTITY, &message)
}

fn bad_request(message: &str) -> Response<RespBody> {
    errors(StatusCode::BAD_REQUEST, message)
}

fn fields(ctx: &Ctx) -> Result<Fields<'_>, Response<RespBody>> {
    match &ctx.json {
        Some(v @ Value::Object(_)) => Ok(Fields(v)),
        Some(_) => Err(invalid("request body must be a JSON object".into())),
        None => Err(code_message(
            StatusCode::BAD_REQUEST,
            "Unable to process JSON",
        )),
    }
}

/// `POST v1/private/projects/retrieve`.
pub(crate) fn retrieve_project(ctx: &Ctx) -> Response<RespBody> {
    let reply = || -> Reply {
        let f = fields(ctx)?;
        let name = f.required_str("name").map_err(invalid)?.trim();
        match ctx.state.find_project_by_name(name) {
            Some(p) => Ok(json_response(
                StatusCode::OK,
                &json!({"id": p.id, "name": p.name}),
            )),
            None => Err(errors(StatusCode::NOT_FOUND, "Project not found")),
        }
    };
    reply().unwrap_or_else(|e| e)
}

/// `POST v1/private/attachment/upload-start`.
pub(crate) async fn upload_start(ctx: &Ctx) -> Response<RespBody> {
    upload_start_reply(ctx).await.unwrap_or_else(|e| e)
}

async fn upload_start_reply(ctx: &Ctx) -> Reply {
    let state = &ctx.state;
    let f = fields(ctx)?;
    let file_name = f.required_str("file_name").map_err(invalid)?;
    let num_parts = f.required_i64("num_of_file_parts").map_err(invalid)?;
    if num_parts < 1 {
        return Err(invalid(
            "num_of_file_parts must be greater than or equal to 1".into(),
        ));
    }
    if num_parts > MAX_PARTS {
        return Err(invalid(format!(
            "num_of_file_parts must be less than or equal to {MAX_PARTS}"
        )));
    }
    let entity_type = f.entity_type().map_err(invalid)?;
    let entity_id = f.uuid("entity_id").map_err(invalid)?;
    let path = f.required_str("path").map_err(invalid)?;
    let explicit_project = f.optional_nonblank("project_name").map_err(invalid)?;
    let project_name = f.project_name().map_err(invalid)?;
    let mime = params::resolve_mime(f.optional_str("mime_type").map_err(invalid)?, file_name);

    if !state.is_s3() {
        let base =
            params::decode_base_url(path).ok_or_else(|| bad_request("Invalid base URL format"))?;
        state.get_or_create_project(project_name);
        let mut query = vec![
            ("file_name", file_name),
            ("mime_type", mime.as_str()),
            ("entity_type", entity_type),
            ("entity_id", entity_id.as_str()),
        ];
        if let Some(project) = explicit_project {
            query.push(("project_name", project));
        }
        let url = format!(
            "{}?{}",
            params::join_base(&base, "v1/private/attachment/upload"),
            params::encode_query(&query)
        );
        let url = ctx.bad_link.clone().unwrap_or(url);
        return Ok(json_response(
            StatusCode::OK,
            &json!({"upload_id": "BEMinIO", "pre_sign_urls": [url]}),
        ));
    }

    let project = state.get_or_create_project(project_name);
    let key = state.object_key(&project.id, entity_type, &entity_id, file_name);
    let part_numbers = 1..=num_parts as u16;
    let (upload_id, urls): (String, Vec<String>) = if let Some(ext) = &state.external {
        let upload_id = ext.create_multipart(&key, &mime).await.map_err(|e| {
            code_message(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("CreateMultipartUpload failed: {e}"),
            )
        })?;
        let urls = part_numbers
            .map(|n| {
                ext.presigner
                    .upload_part_url(&key, &upload_id, n, ctx.expire_urls)
            })
            .map(|url| tampered_if(ctx, url))
            .collect();
        (upload_id, urls)
    } else {
        let presigner = state
            .builtin
            .as_ref()
            .expect("S3 mode has a storage backend");
        let upload_id = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let urls = part_numbers
            .map(|n| presigner.upload_part_url(&key, &upload_id, n, ctx.expire_urls))
            .map(|url| tampered_if(ctx, url))
            .collect();
        let upload = MultipartUpload {
            key: key.clone(),
            mime_type: mime.clone(),
            parts: BTreeMap::new(),
        };
        state.lock().uploads.insert(upload_id.clone(), upload);
        (upload_id, urls)
    };
    let urls: Vec<String> = match &ctx.bad_link {
        Some(bad) => urls.iter().map(|_| bad.clone()).collect(),
        None => urls,
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"upload_id": upload_id, "pre_sign_urls": urls}),
    ))
}

/// A presigned URL as issued: corrupted when a `tamper_urls` fault applies to this request.
fn tampered_if(ctx: &Ctx, url: String) -> String {
    if ctx.tamper_urls {
        crate::presign::tamper(&url)
    } else {
        url
    }
}

/// `POST v1/private/attachment/upload-complete`.
pub(crate) async fn upload_complete(ctx: &Ctx) -> Response<RespBody> {
    upload_complete_reply(ctx).await.unwrap_or_else(|e| e)
}

async fn upload_complete_reply(ctx: &Ctx) -> Reply {
    let state = &ctx.state;
    let f = fields(ctx)?;
    let file_name = f.required_str("file_name").map_err(invalid)?;
    let entity_type = f.entity_type().map_err(invalid)?;
    let entity_id = f.uuid("entity_id").map_err(invalid)?;
    let file_size = f.required_i64("file_size").map_err(invalid)?;
    let file_size =
        u64::try_from(file_size).map_err(|_| invalid("file_size must not be negative".into()))?;
    let upload_id = f.required_str("upload_id").map_err(invalid)?;
    let project_name = f.project_name().map_err(invalid)?;
    let mime = params::resolve_mime(f.optional_str("mime_type").map_err(invalid)?, file_name);
    let mut parts = Vec::new();
    for item in f.required_array("uploaded_file_parts").map_err(invalid)? {
        let part = Fields(item);
        let etag = part
            .required_str("e_tag")
            .map_err(|e| invalid(format!("uploaded_file_parts: {e}")))?;
        let number = part
            .required_i64("part_number")
            .map_err(|e| invalid(format!("uploaded_file_parts: {e}")))?;
        parts.push((number, etag.to_string()));
    }

    if !state.is_s3() {
        // The backend logs "Skipping completeMultiPartUpload for MinIO" and answers 204.
        return Ok(empty(StatusCode::NO_CONTENT));
    }

    let project = state.get_or_create_project(project_name);
    let key = state.object_key(&project.id, entity_type, &entity_id, file_name);
    check_part_order(&parts)?;
    if let Some(ext) = &state.external {
        let etags: Vec<String> = parts.iter().map(|(_, e)| e.clone()).collect();
        ext.complete(&key, upload_id, &etags).await.map_err(|e| {
            code_message(
                StatusCode::BAD_REQUEST,
                &format!("{}: {}", e.code, e.message),
            )
        })?;
        let stored = ext.head_size(&key).await.map_err(|e| {
            code_message(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("HeadObject after complete failed: {e}"),
            )
        })?;
        check_size(file_size, stored)?;
    } else {
        complete_builtin(state, &key, upload_id, &parts, file_size)?;
    }
    let row = AttachmentRow {
        project_name: project.name,
        project_id: project.id,
        entity_type: entity_type.to_string(),
        entity_id,
        file_name: file_name.to_string(),
        file_size,
        mime_type: mime,
        sha256: None,
    };
    state.upsert_row(row, key);
    Ok(empty(StatusCode::NO_CONTENT))
}

fn s3_complete_error(code: &str, message: &str) -> Response<RespBody> {
    code_message(StatusCode::BAD_REQUEST, &format!("{code}: {message}"))
}

/// Parts must be listed as 1, 2, ..., n.
fn check_part_order(parts: &[(i64, String)]) -> Result<(), Response<RespBody>> {
    if parts.is_empty() {
        return Err(s3_complete_error(
            "MalformedXML",
            "You must specify at least one part",
        ));
    }
    if parts.windows(2).any(|w| w[1].0 <= w[0].0) {
        return Err(s3_complete_error(
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        ));
    }
    for (i, (number, _)) in parts.iter().enumerate() {
        if *number != i as i64 + 1 {
            return Err(s3_complete_error(
                "InvalidPart",
                &format!(
                    "Part numbers must be consecutive from 1; part {} is missing",
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

fn check_size(declared: u64, stored: u64) -> Result<(), Response<RespBody>> {
    if declared == stored {
        Ok(())
    } else {
        Err(code_message(
            StatusCode::BAD_REQUEST,
            &format!("file_size {declared} does not match the uploaded size {stored}"),
        ))
    }
}

/// CompleteMultipartUpload against the built-in emulator: checks ETags and part sizes, then
/// adopts the part files as the object.
fn complete_builtin(
    state: &State,
    key: &str,
    upload_id: &str,
    parts: &[(i64, String)],
    file_size: u64,
) -> Result<(), Response<RespBody>> {
    let mut inner = state.lock();
    let no_such_upload = || {
        code_message(
            StatusCode::NOT_FOUND,
            "NoSuchUpload: The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
    };
    let upload = inner.uploads.get(upload_id).ok_or_else(no_such_upload)?;
    if upload.key != key {
        return Err(no_such_upload());
    }
    let mut total = 0u64;
    for (i, (number, etag)) in parts.iter().enumerate() {
        let invalid_part = || {
            s3_complete_error(
                "InvalidPart",
                &format!("One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag (part {number}, ETag {etag})"),
            )
        };
        let part = upload
            .parts
            .get(&(*number as u32))
            .ok_or_else(invalid_part)?;
        if part.etag() != *etag {
            return Err(invalid_part());
        }
        if i + 1 < parts.len() && part.segment.len < MIN_PART_SIZE {
            return Err(s3_complete_error(
                "EntityTooSmall",
                &format!("Your proposed upload is smaller than the minimum allowed object size (part {number} has {} bytes; every part but the last needs at least {MIN_PART_SIZE})", part.segment.len),
            ));
        }
        total += part.segment.len;
    }
    check_size(file_size, total)?;
    let mut upload = inner.uploads.remove(upload_id).expect("checked above");
    drop(inner);

    let mut segments: Vec<Segment> = Vec::new();
    let mut md5s = Vec::new();
    for (number, _) in parts {
        let part = upload
            .parts
            .remove(&(*number as u32))
            .expect("checked above");
        segments.push(part.segment);
        md5s.push(part.md5_hex);
    }
    let unused: Vec<Segment> = upload.parts.into_values().map(|p| p.segment).collect();
    storage::remove_segments(&unused);
    let md5_refs: Vec<&str> = md5s.iter().map(String::as_str).collect();
    let object = StoredObject {
        segments,
        size: total,
        mime_type: upload.mime_type,
        etag: storage::multipart_etag(&md5_refs),
    };
    state.put_local_object(key.to_string(), object);
    Ok(())
}

/// `GET v1/private/attachment/list`.
pub(crate) fn list(ctx: &Ctx) -> Response<RespBody> {
    list_reply(ctx).unwrap_or_else(|e| e)
}

fn list_reply(ctx: &Ctx) -> Reply {
    let state = &ctx.state;
    let q = params::Query::of(ctx.parts.uri.query());
    let bad = |message: String| bad_request(&message);
    let project_id = q.uuid("project_id").map_err(bad)?;
    let entity_type = q.entity_type().map_err(bad)?;
    let entity_id = q.uuid("entity_id").map_err(bad)?;
    let path = q.required("path").map_err(bad)?;
    let positive = |name: &str, default: u64| -> Result<u64, Response<RespBody>> {
        match q.get(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= 1 => Ok(n as u64),
                _ => Err(bad_request(&format!(
                    "{name} must be greater than or equal to 1"
                ))),
            },
        }
    };
    let page = positive("page", 1)?;
    let size = positive("size", 100)?;
    let base = if state.is_s3() {
        None
    } else {
        Some(params::decode_base_url(path).ok_or_else(|| bad_request("Invalid base URL format"))?)
    };

    let mut rows: Vec<(AttachmentRow, String)> = state
        .lock()
        .records
        .iter()
        .filter(|r| {
            r.row.project_id == project_id
                && r.row.entity_type == entity_type
                && r.row.entity_id == entity_id
        })
        .map(|r| (r.row.clone(), r.key.clone()))
        .collect();
    rows.sort_by(|a, b| b.0.file_name.cmp(&a.0.file_name));
    let total = rows.len();
    let start = usize::try_from((page - 1).saturating_mul(size))
        .unwrap_or(usize::MAX)
        .min(total);
    let end = start
        .saturating_add(usize::try_from(size).unwrap_or(usize::MAX))
        .min(total);

    let content: Vec<Value> = rows[start..end]
        .iter()
        .map(|(row, key)| {
            let link = match (&base, &state.external, &state.builtin) {
                (Some(base), _, _) => {
                    let query = params::encode_query(&[
                        ("workspace_name", &state.config.workspace),
                        ("container_id", &row.project_id),
                        ("file_name", &row.file_name),
                        ("mime_type", &row.mime_type),
                        ("entity_type", &row.entity_type),
                        ("entity_id", &row.entity_id),
                    ]);
                    format!("{}?{query}", params::join_base(base, "v1/private/attachment/download"))
                }
                (None, Some(ext), _) => tampered_if(ctx, ext.presigner.get_object_url(key, ctx.expire_urls)),
                (None, None, Some(builtin)) => tampered_if(ctx, builtin.get_object_url(key, ctx.expire_urls)),
                (None, None, None) => unreachable!("S3 mode has a storage backend"),
            };
            let link = ctx.bad_link.clone().unwrap_or(link);
            json!({"link": link, "file_name": row.file_name, "file_size": row.file_size, "mime_type": row.mime_type})
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"page": page, "size": content.len(), "total": total, "content": content, "sortableBy": []}),
    ))
}

/// `POST v1/private/attachment/delete` with the real `DeleteAttachmentsRequest` body.
pub(crate) async fn delete(ctx: &Ctx) -> Response<RespBody> {
    delete_reply(ctx).await.unwrap_or_else(|e| e)
}

async fn delete_reply(ctx: &Ctx) -> Reply {
    let state = &ctx.state;
    let f = fields(ctx)?;
    // The OpenAPI-bug body (file_name, upload_id, ...) has no file_names and fails here.
    let items = f.required_array("file_names").map_err(invalid)?;
    let entity_type = f.entity_type().map_err(invalid)?;
    let entity_id = f.uuid("entity_id").map_err(invalid)?;
    let container_id = f.uuid("container_id").map_err(invalid)?;
    let mut names = Vec::new();
    for item in items {
        match item.as_str() {
            Some(name) => names.push(name.to_string()),
            None => return Err(invalid("file_names must contain strings".into())),
        }
    }
    names.sort();
    names.dedup();

    let keys: Vec<String> = names
        .iter()
        .map(|name| state.object_key(&container_id, entity_type, &entity_id, name))
        .collect();
    if let Some(ext) = &state.external {
        for key in &keys {
            ext.delete(key).await.map_err(|e| {
                code_message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("DeleteObject failed: {e}"),
                )
            })?;
        }
    } else {
        for key in &keys {
            state.remove_local_object(key);
        }
    }
    state.lock().records.retain(|r| {
        !(r.row.project_id == container_id
            && r.row.entity_type == entity_type
            && r.row.entity_id == entity_id
            && names.contains(&r.row.file_name))
    });
    Ok(empty(StatusCode::NO_CONTENT))
}
