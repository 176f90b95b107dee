//! Test controls under `/_test/`: never authenticated, never recorded, never faulted.

use std::sync::Arc;

use hyper::header::CONTENT_ENCODING;
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::body::{code_message, empty, gunzip, json_response, ReqBody, RespBody};
use crate::faults::FaultRule;
use crate::state::State;

const CONTROL_BODY_LIMIT: usize = 1024 * 1024;

pub(crate) async fn handle(
    state: &Arc<State>,
    parts: &Parts,
    mut body: ReqBody,
) -> Response<RespBody> {
    let path = parts.uri.path().trim_end_matches('/');
    match (&parts.method, path) {
        (&Method::POST, "/_test/reset") => {
            reset(state).await;
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::POST, "/_test/close-idle") => {
            state.close_idle.notify_waiters();
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::POST, "/_test/faults") => match read_rules(parts, &mut body).await {
            Ok(rules) => {
                state.add_faults(rules);
                empty(StatusCode::NO_CONTENT)
            }
            Err(message) => code_message(StatusCode::BAD_REQUEST, &message),
        },
        (&Method::GET, "/_test/faults") => {
            let faults: Vec<Value> = state
                .lock()
                .faults
                .iter()
                .map(|f| json!({"rule": f.rule, "remaining": f.remaining}))
                .collect();
            json_response(StatusCode::OK, &Value::Array(faults))
        }
        (&Method::DELETE, "/_test/faults") => {
            state.lock().faults.clear();
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, "/_test/requests") => {
            json_response(StatusCode::OK, &json!(state.requests()))
        }
        (&Method::DELETE, "/_test/requests") => {
            state.clear_requests();
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, "/_test/attachments") => {
            json_response(StatusCode::OK, &json!(state.attachments().await))
        }
        (&Method::POST, "/_test/recorder") => {
            let origin = crate::hostile::recorder(state).origin.clone();
            json_response(StatusCode::OK, &json!({"url": format!("{origin}/")}))
        }
        (&Method::GET, "/_test/recorder") => {
            let r = state
                .recorder
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let requests = r.map(|r| r.requests()).unwrap_or_default();
            json_response(StatusCode::OK, &json!(requests))
        }
        (&Method::DELETE, "/_test/recorder") => {
            let r = state
                .recorder
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(r) = r {
                r.clear();
            }
            empty(StatusCode::NO_CONTENT)
        }
        (&Method::GET, "/_test/traces") => json_response(
            StatusCode::OK,
            &json!(crate::entities::log(state, crate::entities::Kind::Trace)),
        ),
        (&Method::GET, "/_test/spans") => json_response(
            StatusCode::OK,
            &json!(crate::entities::log(state, crate::entities::Kind::Span)),
        ),
        (&Method::GET, "/_test/stats") => json_response(StatusCode::OK, &json!(state.stats())),
        _ => code_message(StatusCode::NOT_FOUND, "unknown test control"),
    }
}

/// Clears all state; with external S3, also deletes the objects of the known rows.
pub(crate) async fn reset(state: &State) {
    let keys = state.reset();
    let recorder = state
        .recorder
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(r) = recorder {
        r.clear();
    }
    if let Some(ext) = &state.external {
        for key in keys {
            let _ = ext.delete(&key).await;
        }
    }
}

/// A JSON array of rules, or a single rule object.
async fn read_rules(parts: &Parts, body: &mut ReqBody) -> Result<Vec<FaultRule>, String> {
    let raw = body
        .read_all(CONTROL_BODY_LIMIT)
        .await
        .map_err(|_| "fault body unreadable or too large".to_string())?;
    let gzipped = parts
        .headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("gzip"));
    let data = if gzipped {
        gunzip(&raw, CONTROL_BODY_LIMIT as u64)?
    } else {
        raw
    };
    let value: Value =
        serde_json::from_slice(&data).map_err(|e| format!("fault rules are not JSON: {e}"))?;
    let rules = if value.is_array() {
        value
    } else {
        Value::Array(vec![value])
    };
    let rules: Vec<FaultRule> =
        serde_json::from_value(rules).map_err(|e| format!("invalid fault rule: {e}"))?;
    for rule in &rules {
        rule.validate()?;
    }
    Ok(rules)
}
