//! Direct ("BEMinIO") mode byte transfer: `PUT v1/private/attachment/upload` and
//! `GET v1/private/attachment/download`.

use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};

use crate::body::{code_message, empty, empty_body, errors, ReqBody, RespBody};
use crate::dispatch::Ctx;
use crate::params;
use crate::state::{AttachmentRow, DEFAULT_PROJECT};
use crate::storage::{self, ReceiveError, Segment, StoredObject};

type Reply = Result<Response<RespBody>, Response<RespBody>>;

fn bad_request(message: impl AsRef<str>) -> Response<RespBody> {
    errors(StatusCode::BAD_REQUEST, message.as_ref())
}

/// `PUT v1/private/attachment/upload?file_name&mime_type&entity_type&entity_id[&project_name]`:
/// streams the body (Content-Length or chunked) to disk and inserts the row. 204.
pub(crate) async fn upload(ctx: &Ctx, body: &mut ReqBody) -> Response<RespBody> {
    upload_reply(ctx, body).await.unwrap_or_else(|e| e)
}

async fn upload_reply(ctx: &Ctx, body: &mut ReqBody) -> Reply {
    let state = &ctx.state;
    if state.is_s3() {
        return Err(code_message(
            StatusCode::FORBIDDEN,
            "Direct attachment upload is forbidden for S3, please use multi-part upload with presigned urls",
        ));
    }
    let q = params::Query::of(ctx.parts.uri.query());
    let file_name = q.required("file_name").map_err(bad_request)?;
    let entity_type = q.entity_type().map_err(bad_request)?;
    let entity_id = q.uuid("entity_id").map_err(bad_request)?;
    let mime = params::resolve_mime(q.get("mime_type"), file_name);
    let project = state.get_or_create_project(
        q.get("project_name")
            .map(str::trim)
            .unwrap_or(DEFAULT_PROJECT),
    );
    let key = state.object_key(&project.id, entity_type, &entity_id, file_name);

    let path = state.new_file_path();
    let received = storage::receive_to_file(body, path.as_deref(), false)
        .await
        .map_err(|e| match e {
            ReceiveError::Client(msg) => {
                bad_request(format!("request body could not be read: {msg}"))
            }
            ReceiveError::Io(err) => code_message(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("storage write failed: {err}"),
            ),
        })?;
    let object = StoredObject {
        segments: vec![Segment {
            path,
            len: received.size,
        }],
        size: received.size,
        mime_type: mime.clone(),
        etag: String::new(),
    };
    state.put_local_object(key.clone(), object);
    let row = AttachmentRow {
        project_name: project.name,
        project_id: project.id,
        entity_type: entity_type.to_string(),
        entity_id,
        file_name: file_name.to_string(),
        file_size: received.size,
        mime_type: mime,
        sha256: None,
    };
    state.upsert_row(row, key);
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `GET v1/private/attachment/download?workspace_name&container_id&file_name&mime_type&entity_type&entity_id`:
/// streams the object with `Content-Type` from the query and `Content-Disposition: attachment`.
pub(crate) fn download(ctx: &Ctx) -> Response<RespBody> {
    download_reply(ctx).unwrap_or_else(|e| e)
}

fn download_reply(ctx: &Ctx) -> Reply {
    let state = &ctx.state;
    if state.is_s3() {
        return Err(code_message(
            StatusCode::FORBIDDEN,
            "Direct attachment download is forbidden for S3, please use presigned url",
        ));
    }
    let q = params::Query::of(ctx.parts.uri.query());
    let container_id = q.uuid("container_id").map_err(bad_request)?;
    let entity_type = q.entity_type().map_err(bad_request)?;
    let entity_id = q.uuid("entity_id").map_err(bad_request)?;
    let file_name = q.required("file_name").map_err(bad_request)?;
    let mime = q.required("mime_type").map_err(bad_request)?;
    let key = state.object_key(&container_id, entity_type, &entity_id, file_name);
    let object = state
        .local_object(&key)
        .ok_or_else(|| code_message(StatusCode::NOT_FOUND, "Attachment not found"))?;

    let body = if ctx.parts.method == Method::HEAD {
        empty_body()
    } else {
        storage::stream_object(&object, 0, object.size)
    };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(object.size));
    if let Ok(v) = HeaderValue::from_bytes(mime.as_bytes()) {
        headers.insert(CONTENT_TYPE, v);
    }
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file_name.replace('"', "\\\"")
    );
    if let Ok(v) = HeaderValue::from_bytes(disposition.as_bytes()) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
