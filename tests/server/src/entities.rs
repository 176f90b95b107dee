//! Traces and spans (`shared/opik-protocol.md` §14): batch create, PATCH update, GET by id and the
//! NDJSON search streams the official SDK reads them back with.
//!
//! Semantics, kept simple and close to the backend:
//!
//! - **Validation** happens for the whole request before anything is stored: a rejected batch
//!   stores nothing. Ids must be UUID version 7 (400 `Trace id must be a version 7 UUID`); a
//!   wrongly typed field is 400 `Unable to process JSON` (Jackson); a broken constraint (missing
//!   `start_time`, a span's missing `trace_id` or `type`, `error_info` without `exception_type` or
//!   `traceback`, an empty or over-1,000 batch, a blank `project_name`, a negative cost) is 422
//!   `{"errors": [...]}`. A missing `id` is generated (UUIDv7), as the backend does.
//! - **Unknown fields** are ignored like the backend does, but their names are recorded (see
//!   [`EntityLog::unknown_fields`]) so tests can assert that a client sends none.
//! - **Create with an existing id** replaces the stored entity whole (the SDK documents "re-send a
//!   full payload with the same id, the backend overwrites"), except when the stored entity only
//!   exists because of an earlier PATCH (an update that overtook its create): then the create fills
//!   in every field the PATCH did not set, as the backend's insert merges a partial row. Within one
//!   batch, entries with the same id and a `last_updated_at` keep the latest one; otherwise the last
//!   entry wins.
//! - **PATCH** sets every non-null field of the update; `tags` replaces the tags, `tags_to_add` /
//!   `tags_to_remove` edit them. A PATCH of an unknown id stores a partial entity (its `start_time`
//!   reads back as the epoch, like the backend's partial row) that a later create completes.
//! - **Reads** answer the public shapes (`TracePublic`, `SpanPublic`) with null fields left out,
//!   times normalised to UTC `Z`, `duration` in milliseconds, and for a trace the aggregates of its
//!   spans (`span_count`, `llm_span_count`, `has_tool_spans`, `providers`, summed `usage` and
//!   `total_estimated_cost`). Searches stream one JSON object per line, newest id first, `limit`
//!   entities after `last_retrieved_id`; `filters`, `from_time` and `to_time` are not supported
//!   (400 when given), `truncate` is accepted and ignored (nothing is truncated).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::body::{code_message, empty, errors, full_body, json_response, RespBody};
use crate::dispatch::Ctx;
use crate::state::{Project, State, DEFAULT_PROJECT};

type Reply = Result<Response<RespBody>, Response<RespBody>>;

/// Most entities in one batch create (the backend's `@Size(max = 1000)`).
const MAX_BATCH: usize = 1000;
/// Largest `limit` of a search (the backend's `@Max(2000)`); 500 when absent.
const MAX_SEARCH_LIMIT: i64 = 2000;
const DEFAULT_SEARCH_LIMIT: i64 = 500;
const EPOCH: &str = "1970-01-01T00:00:00Z";

const TRACE_WRITE: &[&str] = &[
    "id",
    "project_name",
    "name",
    "start_time",
    "end_time",
    "input",
    "output",
    "metadata",
    "tags",
    "error_info",
    "last_updated_at",
    "ttft",
    "thread_id",
    "source",
    "environment",
];
const SPAN_WRITE: &[&str] = &[
    "id",
    "project_name",
    "trace_id",
    "parent_span_id",
    "name",
    "type",
    "start_time",
    "end_time",
    "input",
    "output",
    "metadata",
    "model",
    "provider",
    "tags",
    "usage",
    "error_info",
    "last_updated_at",
    "total_estimated_cost",
    "total_estimated_cost_version",
    "ttft",
    "source",
    "environment",
];
const TRACE_UPDATE: &[&str] = &[
    "project_name",
    "project_id",
    "name",
    "end_time",
    "input",
    "output",
    "metadata",
    "tags",
    "tags_to_add",
    "tags_to_remove",
    "error_info",
    "thread_id",
    "ttft",
    "source",
    "environment",
];
const SPAN_UPDATE: &[&str] = &[
    "project_name",
    "project_id",
    "trace_id",
    "parent_span_id",
    "name",
    "type",
    "end_time",
    "input",
    "output",
    "metadata",
    "model",
    "provider",
    "tags",
    "tags_to_add",
    "tags_to_remove",
    "usage",
    "total_estimated_cost",
    "error_info",
    "ttft",
    "source",
    "environment",
];
const ERROR_INFO: &[&str] = &["exception_type", "message", "traceback"];
const SPAN_TYPES: &[&str] = &["general", "tool", "llm", "guardrail"];
const SOURCES: &[&str] = &[
    "sdk",
    "experiment",
    "playground",
    "optimization",
    "evaluator",
];

/// Traces or spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Trace,
    Span,
}

impl Kind {
    fn plural(self) -> &'static str {
        match self {
            Kind::Trace => "traces",
            Kind::Span => "spans",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Trace => "Trace",
            Kind::Span => "Span",
        }
    }

    fn write_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Trace => TRACE_WRITE,
            Kind::Span => SPAN_WRITE,
        }
    }

    fn update_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Trace => TRACE_UPDATE,
            Kind::Span => SPAN_UPDATE,
        }
    }
}

/// What the server holds about the traces or the spans, as returned by `GET /_test/traces`,
/// `GET /_test/spans`, [`crate::TestServer::traces`] and [`crate::TestServer::spans`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityLog {
    /// Every entity of every accepted batch create, exactly as received (after gunzip), in
    /// arrival order.
    pub received: Vec<Value>,
    /// Every accepted PATCH, in arrival order: `{"id": "...", "body": {...as received...}}`.
    pub updates: Vec<Value>,
    /// The stored entities after merging, in the public shape the GET endpoints answer
    /// (`TracePublic` / `SpanPublic`), ordered by id.
    pub stored: Vec<Value>,
    /// Sorted names of the fields seen outside the documented models (`TraceWrite`/`SpanWrite` in
    /// creates, `TraceUpdate`/`SpanUpdate` in PATCHes, `error_info.<name>` outside
    /// `ErrorInfoWrite`, `batch.<name>` beside the `traces`/`spans` array), from every request
    /// that reached the handler, accepted or not.
    pub unknown_fields: Vec<String>,
}

/// One stored trace or span.
#[derive(Clone, Debug)]
pub(crate) struct Entity {
    project_id: String,
    project_name: String,
    /// The known fields, normalised; never `id` or `project_name`.
    fields: Map<String, Value>,
    /// Only PATCHed so far (no create yet).
    partial: bool,
    created_at: String,
    last_updated_at: String,
}

/// The traces or the spans of the server.
#[derive(Default)]
pub(crate) struct EntityStore {
    rows: BTreeMap<String, Entity>,
    received: Vec<Value>,
    updates: Vec<Value>,
    unknown: BTreeSet<String>,
}

// --- errors ------------------------------------------------------------------------------------

/// A type error: Jackson's 400.
fn bad_json(detail: String) -> Response<RespBody> {
    code_message(
        StatusCode::BAD_REQUEST,
        &format!("Unable to process JSON. {detail}"),
    )
}

/// A constraint violation: 422 `{"errors": [...]}`.
fn invalid(message: String) -> Response<RespBody> {
    errors(StatusCode::UNPROCESSABLE_ENTITY, &message)
}

fn not_found(what: &str) -> Response<RespBody> {
    errors(StatusCode::NOT_FOUND, &format!("{what} not found"))
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

// --- field validation --------------------------------------------------------------------------

fn uuid_of(value: &Value, what: &str) -> Result<uuid::Uuid, Response<RespBody>> {
    value
        .as_str()
        .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok())
        .ok_or_else(|| bad_json(format!("{what} must be a UUID")))
}

fn v7(id: uuid::Uuid, title: &str) -> Result<String, Response<RespBody>> {
    if id.get_version_num() == 7 {
        Ok(id.to_string())
    } else {
        Err(errors(
            StatusCode::BAD_REQUEST,
            &format!("{title} id must be a version 7 UUID"),
        ))
    }
}

fn string_list(value: &Value, what: &str) -> Result<Value, Response<RespBody>> {
    let items = value
        .as_array()
        .ok_or_else(|| bad_json(format!("{what} must be a list of strings")))?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for item in items {
        let s = item
            .as_str()
            .ok_or_else(|| bad_json(format!("{what} must be a list of strings")))?;
        if seen.insert(s.to_string()) {
            out.push(Value::String(s.to_string()));
        }
    }
    Ok(Value::Array(out))
}

fn timestamp(value: &Value, what: &str) -> Result<String, Response<RespBody>> {
    value
        .as_str()
        .and_then(|s| jiff::Timestamp::from_str(s.trim()).ok())
        .map(|t| t.to_string())
        .ok_or_else(|| {
            bad_json(format!(
                "{what} must be an RFC 3339 time with an offset, e.g. 2026-01-02T03:04:05.123456Z"
            ))
        })
}

/// Validates and normalises one known field (`value` is not null). `path` names it in messages.
fn check_field(
    kind: Kind,
    name: &str,
    value: &Value,
    path: &str,
    unknown: &mut BTreeSet<String>,
) -> Result<Value, Response<RespBody>> {
    let string = |v: &Value| {
        v.as_str()
            .map(|s| Value::String(s.to_string()))
            .ok_or_else(|| bad_json(format!("{path} must be a string")))
    };
    match name {
        "id" => Ok(Value::String(v7(uuid_of(value, path)?, kind.title())?)),
        "trace_id" => Ok(Value::String(v7(uuid_of(value, path)?, "Trace")?)),
        "parent_span_id" | "project_id" => Ok(Value::String(uuid_of(value, path)?.to_string())),
        "project_name" => {
            let s = value
                .as_str()
                .ok_or_else(|| bad_json(format!("{path} must be a string")))?;
            if s.trim().is_empty() {
                return Err(invalid(format!("{path} must not be blank")));
            }
            Ok(Value::String(s.trim().to_string()))
        }
        "name"
        | "model"
        | "provider"
        | "thread_id"
        | "environment"
        | "total_estimated_cost_version" => string(value),
        "start_time" | "end_time" | "last_updated_at" => Ok(Value::String(timestamp(value, path)?)),
        "input" | "output" | "metadata" => Ok(value.clone()),
        "tags" | "tags_to_add" | "tags_to_remove" => string_list(value, path),
        "usage" => {
            let map = value
                .as_object()
                .ok_or_else(|| bad_json(format!("{path} must be an object of integers")))?;
            for (key, n) in map {
                let ok = n.as_i64().is_some_and(|n| i32::try_from(n).is_ok());
                if !ok {
                    return Err(bad_json(format!(
                        "{path}.{key} must be an integer (32 bits)"
                    )));
                }
            }
            Ok(value.clone())
        }
        "error_info" => {
            let map = value
                .as_object()
                .ok_or_else(|| bad_json(format!("{path} must be an object")))?;
            for key in map.keys() {
                if !ERROR_INFO.contains(&key.as_str()) {
                    unknown.insert(format!("error_info.{key}"));
                }
            }
            let mut out = Map::new();
            for field in ERROR_INFO {
                match map.get(*field) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => {
                        out.insert(field.to_string(), Value::String(s.clone()));
                    }
                    Some(_) => return Err(bad_json(format!("{path}.{field} must be a string"))),
                }
            }
            for required in ["exception_type", "traceback"] {
                let blank = out
                    .get(required)
                    .and_then(Value::as_str)
                    .map_or(true, |s| s.trim().is_empty());
                if blank {
                    return Err(invalid(format!("{path}.{required} must not be blank")));
                }
            }
            Ok(Value::Object(out))
        }
        "ttft" | "total_estimated_cost" => {
            let n = value
                .as_f64()
                .ok_or_else(|| bad_json(format!("{path} must be a number")))?;
            if name == "total_estimated_cost" && n < 0.0 {
                return Err(invalid(format!(
                    "{path} must be greater than or equal to 0.0"
                )));
            }
            Ok(value.clone())
        }
        "type" => match value.as_str() {
            Some(s) if SPAN_TYPES.contains(&s) => Ok(value.clone()),
            _ => Err(bad_json(format!(
                "{path} must be one of general, tool, llm, guardrail"
            ))),
        },
        "source" => match value.as_str() {
            Some(s) if SOURCES.contains(&s) => Ok(value.clone()),
            _ => Err(bad_json(format!(
                "{path} must be one of sdk, experiment, playground, optimization, evaluator"
            ))),
        },
        _ => unreachable!("every listed field has a check: {name}"),
    }
}

/// The known, non-null fields of `object`, validated; unknown names go to `unknown`.
fn check_object(
    kind: Kind,
    object: &Value,
    allowed: &[&str],
    prefix: &str,
    unknown: &mut BTreeSet<String>,
) -> Result<Map<String, Value>, Response<RespBody>> {
    let map = object
        .as_object()
        .ok_or_else(|| bad_json(format!("{prefix} must be an object")))?;
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            unknown.insert(key.clone());
        }
    }
    let mut out = Map::new();
    for name in allowed {
        if let Some(value) = map.get(*name).filter(|v| !v.is_null()) {
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            out.insert(
                name.to_string(),
                check_field(kind, name, value, &path, unknown)?,
            );
        }
    }
    Ok(out)
}

fn entities(inner: &mut crate::state::Inner, kind: Kind) -> &mut EntityStore {
    match kind {
        Kind::Trace => &mut inner.traces,
        Kind::Span => &mut inner.spans,
    }
}

fn body_object(ctx: &Ctx) -> Result<&Value, Response<RespBody>> {
    match &ctx.json {
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(bad_json("the body must be a JSON object".into())),
        None => Err(code_message(
            StatusCode::BAD_REQUEST,
            "Unable to process JSON",
        )),
    }
}

fn record_unknown(state: &State, kind: Kind, unknown: BTreeSet<String>) {
    if !unknown.is_empty() {
        entities(&mut state.lock(), kind).unknown.extend(unknown);
    }
}

// --- handlers ------------------------------------------------------------------------------------

/// Routes `/v1/private/traces...` and `/v1/private/spans...`; `None` for any other path.
pub(crate) fn route(ctx: &Ctx) -> Option<Response<RespBody>> {
    let path = ctx.parts.uri.path();
    let (kind, rest) = if let Some(rest) = path.strip_prefix("/v1/private/traces") {
        (Kind::Trace, rest)
    } else if let Some(rest) = path.strip_prefix("/v1/private/spans") {
        (Kind::Span, rest)
    } else {
        return None;
    };
    let method = &ctx.parts.method;
    let not_allowed = || {
        code_message(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP 405 Method Not Allowed",
        )
    };
    let resp = match rest {
        "/batch" if *method == Method::POST => batch_create(ctx, kind),
        "/search" if *method == Method::POST => search(ctx, kind),
        "/batch" | "/search" => not_allowed(),
        _ => match rest.strip_prefix('/').filter(|id| !id.contains('/')) {
            Some(id) if *method == Method::GET => get_by_id(ctx, kind, id),
            Some(id) if *method == Method::PATCH => update(ctx, kind, id),
            Some(_) => not_allowed(),
            None => code_message(StatusCode::NOT_FOUND, "HTTP 404 Not Found"),
        },
    };
    Some(resp)
}

/// `POST v1/private/{traces,spans}/batch`.
fn batch_create(ctx: &Ctx, kind: Kind) -> Response<RespBody> {
    let mut unknown = BTreeSet::new();
    let result = batch_create_reply(ctx, kind, &mut unknown);
    record_unknown(&ctx.state, kind, unknown);
    result.unwrap_or_else(|e| e)
}

fn batch_create_reply(ctx: &Ctx, kind: Kind, unknown: &mut BTreeSet<String>) -> Reply {
    let body = body_object(ctx)?;
    let list_name = kind.plural();
    for key in body.as_object().into_iter().flatten().map(|(k, _)| k) {
        if key != list_name {
            unknown.insert(format!("batch.{key}"));
        }
    }
    let items = match body.get(list_name) {
        None | Some(Value::Null) => return Err(invalid(format!("{list_name} must not be null"))),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad_json(format!("{list_name} must be a list"))),
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(invalid(format!(
            "{list_name} size must be between 1 and {MAX_BATCH}"
        )));
    }

    // Validate everything first: a rejected batch stores nothing.
    let mut checked = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("{list_name}[{i}]");
        let mut fields = check_object(kind, item, kind.write_fields(), &prefix, unknown)?;
        if !fields.contains_key("start_time") {
            return Err(invalid(format!("{prefix}.start_time must not be null")));
        }
        if kind == Kind::Span {
            for required in ["trace_id", "type"] {
                if !fields.contains_key(required) {
                    return Err(invalid(format!("{prefix}.{required} must not be null")));
                }
            }
        }
        let id = match fields.remove("id") {
            Some(Value::String(id)) => id,
            _ => uuid::Uuid::now_v7().to_string(),
        };
        let project_name = match fields.remove("project_name") {
            Some(Value::String(name)) => name,
            _ => DEFAULT_PROJECT.to_string(),
        };
        checked.push((id, project_name, fields));
    }

    // Duplicates in one batch: the latest `last_updated_at` when both have one, else the last.
    let mut winner: BTreeMap<String, usize> = BTreeMap::new();
    for (i, (id, _, fields)) in checked.iter().enumerate() {
        let replace = match winner.get(id) {
            None => true,
            Some(&j) => {
                let lua = |f: &Map<String, Value>| {
                    f.get("last_updated_at")
                        .and_then(Value::as_str)
                        .and_then(|s| jiff::Timestamp::from_str(s).ok())
                };
                match (lua(&checked[j].2), lua(fields)) {
                    (Some(old), Some(new)) => new >= old,
                    _ => true,
                }
            }
        };
        if replace {
            winner.insert(id.clone(), i);
        }
    }

    let projects: BTreeMap<String, Project> = checked
        .iter()
        .map(|(_, name, _)| name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|name| {
            let project = ctx.state.get_or_create_project(&name);
            (name, project)
        })
        .collect();
    let now = now();
    let mut inner = ctx.state.lock();
    let store = entities(&mut inner, kind);
    store.received.extend(items.iter().cloned());
    for (i, (id, project_name, fields)) in checked.into_iter().enumerate() {
        if winner.get(&id) != Some(&i) {
            continue;
        }
        let project = &projects[&project_name];
        let last_updated_at = fields
            .get("last_updated_at")
            .and_then(Value::as_str)
            .map_or_else(|| now.clone(), str::to_string);
        let mut entity = Entity {
            project_id: project.id.clone(),
            project_name: project.name.clone(),
            fields,
            partial: false,
            created_at: now.clone(),
            last_updated_at,
        };
        if let Some(old) = store.rows.get(&id).filter(|old| old.partial) {
            // An update overtook its create: what the update set wins.
            for (k, v) in &old.fields {
                entity.fields.insert(k.clone(), v.clone());
            }
        }
        store.rows.insert(id, entity);
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `PATCH v1/private/{traces,spans}/{id}`.
fn update(ctx: &Ctx, kind: Kind, id: &str) -> Response<RespBody> {
    let mut unknown = BTreeSet::new();
    let result = update_reply(ctx, kind, id, &mut unknown);
    record_unknown(&ctx.state, kind, unknown);
    result.unwrap_or_else(|e| e)
}

fn update_reply(ctx: &Ctx, kind: Kind, id: &str, unknown: &mut BTreeSet<String>) -> Reply {
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return Err(code_message(StatusCode::NOT_FOUND, "HTTP 404 Not Found"));
    };
    let id = v7(id, kind.title())?;
    let body = body_object(ctx)?;
    let mut fields = check_object(kind, body, kind.update_fields(), "", unknown)?;
    if kind == Kind::Span && !fields.contains_key("trace_id") {
        return Err(invalid("trace_id must not be null".into()));
    }
    let project_name = match fields.remove("project_name") {
        Some(Value::String(name)) => name,
        _ => DEFAULT_PROJECT.to_string(),
    };
    let project_id = fields.remove("project_id");
    let project = match project_id.as_ref().and_then(Value::as_str) {
        Some(pid) => ctx
            .state
            .lock()
            .projects
            .iter()
            .find(|p| p.id == pid)
            .cloned()
            .ok_or_else(|| not_found("Project"))?,
        None => ctx.state.get_or_create_project(&project_name),
    };
    let add = fields.remove("tags_to_add");
    let remove = fields.remove("tags_to_remove");
    let now = now();

    let mut inner = ctx.state.lock();
    let store = entities(&mut inner, kind);
    store
        .updates
        .push(json!({"id": id, "body": ctx.json.clone().unwrap_or(Value::Null)}));
    let entity = store.rows.entry(id).or_insert_with(|| Entity {
        project_id: project.id.clone(),
        project_name: project.name.clone(),
        fields: Map::new(),
        partial: true,
        created_at: now.clone(),
        last_updated_at: now.clone(),
    });
    for (k, v) in fields {
        entity.fields.insert(k, v);
    }
    if add.is_some() || remove.is_some() {
        let mut tags: Vec<Value> = entity
            .fields
            .get("tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for tag in add.as_ref().and_then(Value::as_array).into_iter().flatten() {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let removed = remove.as_ref().and_then(Value::as_array);
        tags.retain(|t| !removed.is_some_and(|r| r.contains(t)));
        entity.fields.insert("tags".into(), Value::Array(tags));
    }
    entity.last_updated_at = now;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `GET v1/private/{traces,spans}/{id}`.
fn get_by_id(ctx: &Ctx, kind: Kind, id: &str) -> Response<RespBody> {
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return code_message(StatusCode::NOT_FOUND, "HTTP 404 Not Found");
    };
    let id = id.to_string();
    let mut inner = ctx.state.lock();
    let inner = &mut *inner;
    let found = match kind {
        Kind::Trace => inner
            .traces
            .rows
            .get(&id)
            .map(|e| public(kind, &id, e, Some(&inner.spans))),
        Kind::Span => inner
            .spans
            .rows
            .get(&id)
            .map(|e| public(kind, &id, e, None)),
    };
    match found {
        Some(value) => json_response(StatusCode::OK, &value),
        None => not_found(kind.title()),
    }
}

/// `POST v1/private/{traces,spans}/search`: NDJSON, newest id first.
fn search(ctx: &Ctx, kind: Kind) -> Response<RespBody> {
    search_reply(ctx, kind).unwrap_or_else(|e| e)
}

fn search_reply(ctx: &Ctx, kind: Kind) -> Reply {
    let body = body_object(ctx)?;
    let get = |name: &str| body.get(name).filter(|v| !v.is_null());
    for unsupported in ["from_time", "to_time"] {
        if get(unsupported).is_some() {
            return Err(errors(
                StatusCode::BAD_REQUEST,
                &format!("opik-test-server does not support {unsupported} in searches"),
            ));
        }
    }
    if get("filters").is_some_and(|f| f.as_array().map_or(true, |a| !a.is_empty())) {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            "opik-test-server does not support filters in searches",
        ));
    }
    let limit = match get("limit") {
        None => DEFAULT_SEARCH_LIMIT,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| bad_json("limit must be an integer".into()))?,
    };
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(invalid(format!(
            "limit must be between 1 and {MAX_SEARCH_LIMIT}"
        )));
    }
    let after = get("last_retrieved_id")
        .map(|v| uuid_of(v, "last_retrieved_id").map(|u| u.to_string()))
        .transpose()?;
    let trace_id = match kind {
        Kind::Span => get("trace_id")
            .map(|v| uuid_of(v, "trace_id").map(|u| u.to_string()))
            .transpose()?,
        Kind::Trace => None,
    };
    let span_type = match (kind, get("type")) {
        (Kind::Span, Some(v)) => Some(check_field(kind, "type", v, "type", &mut BTreeSet::new())?),
        _ => None,
    };
    let exclude: Vec<String> = match get("exclude") {
        None => Vec::new(),
        Some(v) => string_list(v, "exclude")?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
    };
    let project_id = match (get("project_id"), get("project_name")) {
        (Some(pid), _) => {
            let pid = uuid_of(pid, "project_id")?.to_string();
            let known = ctx.state.lock().projects.iter().any(|p| p.id == pid);
            if !known {
                return Err(not_found("Project"));
            }
            pid
        }
        (None, Some(name)) => {
            let name = name
                .as_str()
                .ok_or_else(|| bad_json("project_name must be a string".into()))?;
            ctx.state
                .find_project_by_name(name.trim())
                .ok_or_else(|| not_found("Project"))?
                .id
        }
        (None, None) => {
            return Err(errors(
                StatusCode::BAD_REQUEST,
                "Either project_name or project_id must be provided",
            ))
        }
    };

    let inner = ctx.state.lock();
    let (rows, spans) = match kind {
        Kind::Trace => (&inner.traces.rows, Some(&inner.spans)),
        Kind::Span => (&inner.spans.rows, None),
    };
    let mut out = Vec::new();
    for (id, entity) in rows.iter().rev() {
        if out.len() as i64 >= limit {
            break;
        }
        if entity.project_id != project_id
            || after.as_ref().is_some_and(|a| id >= a)
            || trace_id
                .as_ref()
                .is_some_and(|t| entity.fields.get("trace_id").and_then(Value::as_str) != Some(t))
            || span_type
                .as_ref()
                .is_some_and(|t| entity.fields.get("type") != Some(t))
        {
            continue;
        }
        let mut value = public(kind, id, entity, spans);
        if let Some(map) = value.as_object_mut() {
            for name in &exclude {
                map.remove(name);
            }
        }
        out.push(value);
    }
    drop(inner);
    let mut text = Vec::new();
    for value in out {
        serde_json::to_writer(&mut text, &value).expect("JSON value serializes");
        text.push(b'\n');
    }
    let mut resp = Response::new(full_body(text));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(resp)
}

// --- the public shape ----------------------------------------------------------------------------

fn millis_between(start: &str, end: &str) -> Option<f64> {
    let start = jiff::Timestamp::from_str(start).ok()?;
    let end = jiff::Timestamp::from_str(end).ok()?;
    Some(end.duration_since(start).as_secs_f64() * 1000.0)
}

/// `TracePublic` / `SpanPublic` of a stored entity; for a trace, with the aggregates of `spans`.
fn public(kind: Kind, id: &str, entity: &Entity, spans: Option<&EntityStore>) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert("project_id".into(), json!(entity.project_id));
    if kind == Kind::Span {
        out.insert("project_name".into(), json!(entity.project_name));
    }
    for (k, v) in &entity.fields {
        out.insert(k.clone(), v.clone());
    }
    out.entry("start_time").or_insert_with(|| json!(EPOCH));
    out.insert("created_at".into(), json!(entity.created_at));
    out.insert("last_updated_at".into(), json!(entity.last_updated_at));
    if let (Some(Value::String(start)), Some(Value::String(end))) =
        (out.get("start_time"), out.get("end_time"))
    {
        if let Some(ms) = millis_between(start, end) {
            out.insert("duration".into(), json!(ms));
        }
    }
    if let (Kind::Trace, Some(spans)) = (kind, spans) {
        out.insert("visibility_mode".into(), json!("default"));
        let mine: Vec<&Entity> = spans
            .rows
            .values()
            .filter(|s| s.fields.get("trace_id").and_then(Value::as_str) == Some(id))
            .collect();
        let of_type = |t: &str| {
            mine.iter()
                .filter(|s| s.fields.get("type") == Some(&json!(t)))
                .count()
        };
        out.insert("span_count".into(), json!(mine.len()));
        out.insert("llm_span_count".into(), json!(of_type("llm")));
        out.insert("has_tool_spans".into(), json!(of_type("tool") > 0));
        let providers: BTreeSet<&str> = mine
            .iter()
            .filter_map(|s| s.fields.get("provider").and_then(Value::as_str))
            .collect();
        out.insert("providers".into(), json!(providers));
        let mut usage: BTreeMap<String, i64> = BTreeMap::new();
        for s in &mine {
            for (k, v) in s
                .fields
                .get("usage")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                *usage.entry(k.clone()).or_default() += v.as_i64().unwrap_or(0);
            }
        }
        if !usage.is_empty() {
            out.insert("usage".into(), json!(usage));
        }
        let costs: Vec<f64> = mine
            .iter()
            .filter_map(|s| s.fields.get("total_estimated_cost").and_then(Value::as_f64))
            .collect();
        if !costs.is_empty() {
            out.insert(
                "total_estimated_cost".into(),
                json!(costs.iter().sum::<f64>()),
            );
        }
    }
    Value::Object(out)
}

/// The log of `kind` for `/_test/traces`, `/_test/spans` and the Rust API.
pub(crate) fn log(state: &State, kind: Kind) -> EntityLog {
    let inner = state.lock();
    let (store, spans) = match kind {
        Kind::Trace => (&inner.traces, Some(&inner.spans)),
        Kind::Span => (&inner.spans, None),
    };
    EntityLog {
        received: store.received.clone(),
        updates: store.updates.clone(),
        stored: store
            .rows
            .iter()
            .map(|(id, e)| public(kind, id, e, spans))
            .collect(),
        unknown_fields: store.unknown.iter().cloned().collect(),
    }
}
