//! Hostile modes (issue 11): answers a misbehaving server gives. Huge and endless bodies, list
//! pages that never end, redirects (to a second, recording listener or to the request itself),
//! error bodies that echo the request's headers, stalls and throttled bodies, unusable links.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::body::{code_message, empty, full_body, s3_error, RespBody};
use crate::faults::{FaultRule, Target};
use crate::params;
use crate::state::State;

/// Size of the filler chunks of huge and endless bodies.
const FILLER_CHUNK: usize = 64 * 1024;

fn filler() -> Bytes {
    static FILLER: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    FILLER
        .get_or_init(|| Bytes::from(vec![b'a'; FILLER_CHUNK]))
        .clone()
}

/// The valid beginning of a JSON answer for the endpoint at `path`.
fn json_prefix(path: &str) -> &'static str {
    if path.contains("upload-start") {
        "{\"upload_id\":\"x\",\"pre_sign_urls\":[\"http://127.0.0.1/"
    } else if path.contains("attachment/list") {
        "{\"page\":1,\"size\":1,\"total\":1,\"content\":[{\"file_name\":\""
    } else {
        "{\"id\":\""
    }
}

/// `huge_body_bytes` / `endless_body`: a 200 (or `rule.status`) whose JSON body starts validly
/// and then never closes its string: `len` bytes in all with a `Content-Length`, or endless and
/// chunked when `len` is `None`. Generated chunk by chunk.
pub(crate) fn huge_body(rule: &FaultRule, path: &str, len: Option<u64>) -> Response<RespBody> {
    let prefix = Bytes::from_static(json_prefix(path).as_bytes());
    let first = match len {
        Some(n) => prefix.slice(..(prefix.len() as u64).min(n) as usize),
        None => prefix,
    };
    let left = len.map(|n| n - first.len() as u64);
    let stream = futures_util::stream::unfold((Some(first), left), |(first, left)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, io::Error>(Frame::data(first)), (None, left)));
        }
        match left {
            Some(0) => None,
            Some(n) => {
                let take = (FILLER_CHUNK as u64).min(n) as usize;
                Some((
                    Ok(Frame::data(filler().slice(..take))),
                    (None, Some(n - take as u64)),
                ))
            }
            None => Some((Ok(Frame::data(filler())), (None, None))),
        }
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
    *resp.status_mut() = rule
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(n) = len {
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    resp
}

/// `endless_pages` / `endless_distinct_pages` on `attachment/list`: a page of entries whose
/// `total` always announces more than was sent.
pub(crate) fn endless_page(
    state: &State,
    rule: &FaultRule,
    query: Option<&str>,
) -> Response<RespBody> {
    let q = params::query_map(query);
    let page: u64 = q
        .get("page")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(1)
        .max(1);
    let n = u64::from(rule.page_entries.unwrap_or(10));
    let content: Vec<Value> = (0..n)
        .map(|i| {
            let name = if rule.endless_distinct_pages {
                format!("page-{page}-entry-{i}.bin")
            } else {
                format!("repeated-entry-{i}.bin")
            };
            json!({
                "link": format!("{}/s3/opik/endless/{name}", state.self_origin),
                "file_name": name,
                "file_size": 1,
                "mime_type": "application/octet-stream",
            })
        })
        .collect();
    let total = page
        .saturating_add(1)
        .saturating_mul(n)
        .saturating_add(1_000_000);
    crate::body::json_response(
        StatusCode::OK,
        &json!({"page": page, "size": n, "total": total, "content": content, "sortableBy": []}),
    )
}

/// `redirect_to`: the `Location` with its placeholders filled in.
pub(crate) fn redirect(
    state: &State,
    rule: &FaultRule,
    to: &str,
    parts: &Parts,
) -> Response<RespBody> {
    let mut location = to.to_string();
    if location.contains("{recorder}") {
        location = location.replace("{recorder}", &recorder(state).origin);
    }
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{}?{q}", parts.uri.path()),
        None => parts.uri.path().to_string(),
    };
    location = location
        .replace("{self}", &state.self_origin)
        .replace("{path}", &path_and_query);
    let status = rule
        .redirect_status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::TEMPORARY_REDIRECT);
    let mut resp = empty(status);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(0u64));
    resp
}

/// `echo_key`: an error answer whose body carries the request's `Authorization` value and every
/// request header, in the shape the target's real server would use.
pub(crate) fn echo_response(
    status: StatusCode,
    parts: &Parts,
    target: Target,
) -> Response<RespBody> {
    let auth = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mut all = String::new();
    for (name, value) in &parts.headers {
        all.push_str(name.as_str());
        all.push('=');
        all.push_str(&String::from_utf8_lossy(value.as_bytes()));
        all.push_str("; ");
    }
    let message = format!("echo: authorization={auth}; headers: {all}");
    if matches!(target, Target::Part | Target::StorageGet) {
        s3_error(status, "AccessDenied", &message, parts.uri.path())
    } else {
        code_message(status, &message)
    }
}

/// Wraps a response body: one pause of `pause` after `after` bytes, and at most `rate` bytes per
/// second (chunks are split so the rate holds at a fine grain).
pub(crate) fn slow_body(
    body: RespBody,
    stall: Option<(u64, Duration)>,
    rate: Option<u64>,
) -> RespBody {
    struct S {
        body: RespBody,
        pending: Bytes,
        sent: u64,
        started: Option<Instant>,
        stall: Option<(u64, Duration)>,
        rate: Option<u64>,
    }
    let state = S {
        body,
        pending: Bytes::new(),
        sent: 0,
        started: None,
        stall,
        rate: rate.filter(|r| *r > 0),
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        let started = *s.started.get_or_insert_with(Instant::now);
        if s.pending.is_empty() {
            loop {
                match s.body.frame().await? {
                    Err(e) => return Some((Err(e), s)),
                    Ok(frame) => match frame.into_data() {
                        Ok(data) if data.is_empty() => continue,
                        Ok(data) => {
                            s.pending = data;
                            break;
                        }
                        Err(frame) => return Some((Ok(frame), s)),
                    },
                }
            }
        }
        // The piece to send now: up to the stall point, and a tenth of a second at the rate.
        let mut take = s.pending.len() as u64;
        if let Some((after, _)) = s.stall {
            if s.sent < after {
                take = take.min(after - s.sent);
            }
        }
        if let Some(rate) = s.rate {
            take = take.min((rate / 10).max(1));
        }
        if let Some((after, pause)) = s.stall {
            if s.sent >= after {
                s.stall = None;
                tokio::time::sleep(pause).await;
            }
        }
        if let Some(rate) = s.rate {
            let due = Duration::from_secs_f64(s.sent as f64 / rate as f64);
            tokio::time::sleep_until((started + due).into()).await;
        }
        let piece = s.pending.split_to(take as usize);
        s.sent += take;
        Some((Ok(Frame::data(piece)), s))
    });
    StreamBody::new(stream).boxed_unsync()
}

// ---- the recorder: a second listener that records what it is sent ----

/// One request the recorder received.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecorderRequest {
    /// HTTP method.
    pub method: String,
    /// Path as received.
    pub path: String,
    /// Raw query, without `?`.
    pub query: Option<String>,
    /// Every header, names lowercased; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// Request-body bytes received.
    pub body_len: u64,
}

/// A listener on another port (another origin) that answers every request 200 `{}` after
/// reading its body, and records it. Started on first use.
pub(crate) struct Recorder {
    pub origin: String,
    requests: Mutex<Vec<(Arc<AtomicU64>, RecorderRequest)>>,
}

impl Recorder {
    pub fn requests(&self) -> Vec<RecorderRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(len, r)| RecorderRequest {
                body_len: len.load(Ordering::Relaxed),
                ..r.clone()
            })
            .collect()
    }

    pub fn clear(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<RespBody>, io::Error> {
        let (parts, mut body) = req.into_parts();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_string())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let len = Arc::new(AtomicU64::new(0));
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((
                len.clone(),
                RecorderRequest {
                    method: parts.method.as_str().to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().map(str::to_string),
                    headers,
                    body_len: 0,
                },
            ));
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                len.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        let mut resp = Response::new(full_body("{}"));
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(resp)
    }
}

/// The server's recorder, started (on the current tokio runtime) on first use.
pub(crate) fn recorder(state: &State) -> Arc<Recorder> {
    let mut slot = state.recorder.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = slot.as_ref() {
        return r.clone();
    }
    let std_listener = std::net::TcpListener::bind((state.config.host.as_str(), 0))
        .or_else(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .expect("the recorder can bind a port");
    std_listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let addr = std_listener.local_addr().expect("bound address");
    let recorder = Arc::new(Recorder {
        origin: format!("http://{addr}"),
        requests: Mutex::new(Vec::new()),
    });
    let listener =
        tokio::net::TcpListener::from_std(std_listener).expect("listener on the server runtime");
    let r = recorder.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let r = r.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| r.clone().handle(req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    *slot = Some(recorder.clone());
    recorder
}
