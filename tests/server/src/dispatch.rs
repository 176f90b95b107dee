//! Per-request pipeline: classify → record → read JSON (gunzip) → faults → auth → route → record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER,
    TRANSFER_ENCODING,
};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::body::{
    code_message, full_body, gunzip, json_response, s3_error, truncate_body, ReadError, ReqBody,
    RespBody,
};
use crate::faults::{FaultRule, Target};
use crate::state::State;
use crate::{control, direct, hostile, params, rest, s3_builtin};

/// Largest JSON body accepted (compressed or not, and after gunzip).
const JSON_LIMIT: usize = 64 * 1024 * 1024;

/// What a handler sees of a request (the body is passed separately to streaming handlers).
pub(crate) struct Ctx {
    pub state: Arc<State>,
    pub parts: Parts,
    /// The parsed JSON body (after gunzip) of a JSON endpoint, `None` if empty.
    pub json: Option<Value>,
    /// A fault asked for presigned URLs that are already expired.
    pub expire_urls: bool,
    /// A fault asked for presigned URLs with a corrupted signature.
    pub tamper_urls: bool,
    /// A fault asked for upload URLs and list links that cannot be requested (this one).
    pub bad_link: Option<String>,
}

/// Returned to hyper to close the connection without a response.
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault rule")
    }
}

impl std::error::Error for DropConnection {}

/// Which kind of request this is (see [`Target`]).
pub(crate) fn classify(method: &Method, path: &str) -> Target {
    if path.starts_with(s3_builtin::PREFIX) {
        return if *method == Method::GET || *method == Method::HEAD {
            Target::StorageGet
        } else {
            Target::Part
        };
    }
    match path {
        "/is-alive/ping" | "/is-alive/ver" => Target::Ping,
        "/v1/private/attachment/upload" if *method == Method::PUT => Target::DirectUpload,
        "/v1/private/attachment/download" => Target::Download,
        _ => Target::Rest,
    }
}

/// Entry point for every request.
pub(crate) async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, DropConnection> {
    let (parts, incoming) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == "/_test" || path.starts_with("/_test/") {
        let body = ReqBody::new(incoming, Arc::new(AtomicU64::new(0)), None);
        return Ok(control::handle(&state, &parts, body).await);
    }

    let target = classify(&parts.method, &path);
    let request_bytes = Arc::new(AtomicU64::new(0));
    let mut body = ReqBody::new(
        incoming,
        request_bytes.clone(),
        Some(state.bytes_received.clone()),
    );
    let id = state.begin_request(&parts, target);
    let finish =
        |status: u16| state.finish_request(id, status, request_bytes.load(Ordering::Relaxed));

    let mut json = None;
    let mut early_response = None;
    if target == Target::Rest
        && matches!(
            parts.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        )
    {
        match read_json(&parts, &mut body).await {
            Ok(value) => {
                state.record_json(id, value.clone());
                json = value;
            }
            Err(resp) => early_response = Some(resp),
        }
    }

    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let mut expire_urls = false;
    let mut tamper_urls = false;
    let mut bad_link = None;
    let mut cut_response_after = None;
    let mut echo_key = false;
    let mut slow_response = None;
    if let Some(rule) = state.take_fault(parts.method.as_str(), &path_and_query, target) {
        if rule.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(rule.delay_ms)).await;
        }
        echo_key = rule.echo_key;
        let stall = rule
            .stall_after_bytes
            .filter(|_| rule.stall_ms > 0)
            .map(|n| (n, Duration::from_millis(rule.stall_ms)));
        if has_body(&parts) {
            body.set_hostile(stall, rule.read_bytes_per_sec);
            if rule.write_bytes_per_sec.is_some() {
                slow_response = Some((None, rule.write_bytes_per_sec));
            }
        } else if stall.is_some() || rule.write_bytes_per_sec.is_some() {
            slow_response = Some((stall, rule.write_bytes_per_sec));
        }
        if let Some(to) = &rule.redirect_to {
            // Read the whole body first, so the client sees the answer rather than a reset.
            body.consume(u64::MAX).await;
            let resp = hostile::redirect(&state, &rule, to, &parts);
            finish(resp.status().as_u16());
            return Ok(resp);
        }
        if rule.huge_body_bytes.is_some() || rule.endless_body {
            let len = if rule.endless_body {
                None
            } else {
                rule.huge_body_bytes
            };
            let resp = hostile::huge_body(&rule, &path, len);
            finish(resp.status().as_u16());
            return Ok(resp);
        }
        if (rule.endless_pages || rule.endless_distinct_pages)
            && path == "/v1/private/attachment/list"
        {
            let resp = hostile::endless_page(&state, &rule, parts.uri.query());
            finish(resp.status().as_u16());
            return Ok(resp);
        }
        if rule.drop_connection {
            match rule.drop_after_bytes {
                Some(n) if !has_body(&parts) => cut_response_after = Some(n),
                Some(n) => {
                    body.consume(n).await;
                    finish(0);
                    return Err(DropConnection);
                }
                None => {
                    finish(0);
                    return Err(DropConnection);
                }
            }
        } else if let Some(status) = rule.status {
            let mut resp = fault_response(&rule, status, target, &path);
            if rule.echo_key {
                let echoed = hostile::echo_response(resp.status(), &parts, target);
                let retry_after = resp.headers().get(RETRY_AFTER).cloned();
                resp = echoed;
                if let Some(v) = retry_after {
                    resp.headers_mut().insert(RETRY_AFTER, v);
                }
            }
            finish(resp.status().as_u16());
            return Ok(resp);
        }
        expire_urls = rule.expire_urls;
        tamper_urls = rule.tamper_urls;
        bad_link = rule.bad_link();
    }

    let echo_parts = echo_key.then(|| parts.clone());
    let mut resp = match early_response {
        Some(resp) => resp,
        None => match check_auth(&state, &parts, target) {
            Err(resp) => resp,
            Ok(()) => {
                let ctx = Ctx {
                    state: state.clone(),
                    parts,
                    json,
                    expire_urls,
                    tamper_urls,
                    bad_link,
                };
                route(&ctx, &mut body).await
            }
        },
    };
    if let Some(parts) = echo_parts {
        if resp.status().as_u16() >= 400 {
            resp = hostile::echo_response(resp.status(), &parts, target);
        }
    }
    if let Some((stall, rate)) = slow_response {
        let (head, inner) = resp.into_parts();
        resp = Response::from_parts(head, hostile::slow_body(inner, stall, rate));
    }
    if let Some(n) = cut_response_after {
        let (head, inner) = resp.into_parts();
        resp = Response::from_parts(head, truncate_body(inner, n));
    }
    finish(resp.status().as_u16());
    Ok(resp)
}

fn has_body(parts: &Parts) -> bool {
    parts.headers.contains_key(TRANSFER_ENCODING)
        || parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// Reads a JSON body, gunzipping it when `Content-Encoding: gzip`. `Ok(None)` for an empty body.
async fn read_json(parts: &Parts, body: &mut ReqBody) -> Result<Option<Value>, Response<RespBody>> {
    let raw = body.read_all(JSON_LIMIT).await.map_err(|e| match e {
        ReadError::TooLarge => {
            code_message(StatusCode::PAYLOAD_TOO_LARGE, "Request entity too large")
        }
        ReadError::Client(m) => code_message(
            StatusCode::BAD_REQUEST,
            &format!("request body could not be read: {m}"),
        ),
    })?;
    if raw.is_empty() {
        return Ok(None);
    }
    let gzipped = parts.headers.get_all(CONTENT_ENCODING).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.to_ascii_lowercase().contains("gzip"))
    });
    let data = if gzipped {
        gunzip(&raw, JSON_LIMIT as u64).map_err(|m| code_message(StatusCode::BAD_REQUEST, &m))?
    } else {
        raw
    };
    serde_json::from_slice(&data)
        .map(Some)
        .map_err(|_| code_message(StatusCode::BAD_REQUEST, "Unable to process JSON"))
}

/// Opik authentication: `Authorization` must be the raw API key (401), and the workspace
/// (`Comet-Workspace`, or `workspace_name` on backend download links) must match (403).
fn check_auth(state: &State, parts: &Parts, target: Target) -> Result<(), Response<RespBody>> {
    let Some(api_key) = &state.config.api_key else {
        return Ok(());
    };
    if !matches!(
        target,
        Target::Rest | Target::DirectUpload | Target::Download
    ) {
        return Ok(());
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if header(AUTHORIZATION.as_str()).as_deref() != Some(api_key.as_str()) {
        return Err(code_message(
            StatusCode::UNAUTHORIZED,
            "User not allowed to access workspace",
        ));
    }
    let workspace = header("comet-workspace").or_else(|| {
        (target == Target::Download)
            .then(|| params::query_map(parts.uri.query()).remove("workspace_name"))
            .flatten()
    });
    if workspace.as_deref() != Some(state.config.workspace.as_str()) {
        return Err(code_message(
            StatusCode::FORBIDDEN,
            "User has no permission to the workspace",
        ));
    }
    Ok(())
}

/// The answer of a status fault.
fn fault_response(rule: &FaultRule, status: u16, target: Target, path: &str) -> Response<RespBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match &rule.body {
        Some(text) => {
            let mut resp = Response::new(full_body(text.clone()));
            *resp.status_mut() = status;
            let content_type = if serde_json::from_str::<Value>(text).is_ok() {
                "application/json"
            } else if text.trim_start().starts_with('<') {
                "application/xml"
            } else {
                "text/plain; charset=utf-8"
            };
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            resp
        }
        None if matches!(target, Target::Part | Target::StorageGet) => {
            let code = match status.as_u16() {
                403 => "AccessDenied",
                404 => "NoSuchKey",
                500 => "InternalError",
                503 => "SlowDown",
                _ => "InjectedFault",
            };
            s3_error(status, code, "Injected fault", path)
        }
        None => code_message(status, "Injected fault"),
    };
    if let Some(retry_after) = rule
        .retry_after
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        resp.headers_mut().insert(RETRY_AFTER, retry_after);
    }
    resp
}

async fn route(ctx: &Ctx, body: &mut ReqBody) -> Response<RespBody> {
    if let Some(resp) = crate::entities::route(ctx) {
        return resp;
    }
    let method = &ctx.parts.method;
    let path = ctx.parts.uri.path();
    let allowed: &[Method] = match path {
        "/v1/private/projects/retrieve"
        | "/v1/private/attachment/upload-start"
        | "/v1/private/attachment/upload-complete"
        | "/v1/private/attachment/delete" => &[Method::POST],
        "/v1/private/attachment/list" | "/is-alive/ping" | "/is-alive/ver" => &[Method::GET],
        "/v1/private/attachment/upload" => &[Method::PUT],
        "/v1/private/attachment/download" => &[Method::GET, Method::HEAD],
        _ if path.starts_with(s3_builtin::PREFIX) => return s3_builtin::handle(ctx, body).await,
        _ => return code_message(StatusCode::NOT_FOUND, "HTTP 404 Not Found"),
    };
    if !allowed.contains(method) {
        return code_message(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP 405 Method Not Allowed",
        );
    }
    match path {
        "/v1/private/projects/retrieve" => rest::retrieve_project(ctx),
        "/v1/private/attachment/upload-start" => rest::upload_start(ctx).await,
        "/v1/private/attachment/upload-complete" => rest::upload_complete(ctx).await,
        "/v1/private/attachment/delete" => rest::delete(ctx).await,
        "/v1/private/attachment/list" => rest::list(ctx),
        "/v1/private/attachment/upload" => direct::upload(ctx, body).await,
        "/v1/private/attachment/download" => direct::download(ctx),
        "/is-alive/ver" => json_response(
            StatusCode::OK,
            &json!({"version": env!("CARGO_PKG_VERSION")}),
        ),
        _ => json_response(StatusCode::OK, &json!({})),
    }
}
