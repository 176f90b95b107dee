//! Request-body reading (with byte counting) and response construction helpers.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// The response body type of every handler.
pub(crate) type RespBody = UnsyncBoxBody<Bytes, io::Error>;

/// A request body that counts what it delivers (per request and server-wide).
pub(crate) struct ReqBody {
    incoming: Incoming,
    request_bytes: Arc<AtomicU64>,
    server_bytes: Option<Arc<AtomicU64>>,
    /// Hostile modes: pause once after this many bytes (`stall_after_bytes`, `stall_ms`).
    stall: Option<(u64, Duration)>,
    /// Hostile modes: read no faster than this many bytes per second.
    rate: Option<u64>,
    /// Bytes delivered so far, and when the first was asked for (for `rate`).
    delivered: u64,
    started: Option<Instant>,
}

/// Reading a whole body failed.
pub(crate) enum ReadError {
    TooLarge,
    Client(String),
}

impl ReqBody {
    /// `server_bytes`: the server-wide counter to add to, `None` for control requests.
    pub fn new(
        incoming: Incoming,
        request_bytes: Arc<AtomicU64>,
        server_bytes: Option<Arc<AtomicU64>>,
    ) -> Self {
        ReqBody {
            incoming,
            request_bytes,
            server_bytes,
            stall: None,
            rate: None,
            delivered: 0,
            started: None,
        }
    }

    /// Makes the reader slow: one pause of `stall.1` once `stall.0` bytes were read, and at most
    /// `rate` bytes per second.
    pub fn set_hostile(&mut self, stall: Option<(u64, Duration)>, rate: Option<u64>) {
        self.stall = stall;
        self.rate = rate.filter(|r| *r > 0);
    }

    /// Next data chunk, `None` at the end of the body.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, hyper::Error> {
        let started = *self.started.get_or_insert_with(Instant::now);
        if let Some((after, pause)) = self.stall {
            if self.delivered >= after {
                self.stall = None;
                tokio::time::sleep(pause).await;
            }
        }
        if let Some(rate) = self.rate {
            // Sleep until the bytes already read are "due" at this rate, then read on.
            let due = Duration::from_secs_f64(self.delivered as f64 / rate as f64);
            tokio::time::sleep_until((started + due).into()).await;
        }
        let chunk = self.next_raw_chunk().await?;
        if let Some(c) = &chunk {
            self.delivered += c.len() as u64;
        }
        Ok(chunk)
    }

    async fn next_raw_chunk(&mut self) -> Result<Option<Bytes>, hyper::Error> {
        loop {
            match self.incoming.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let n = data.len() as u64;
                        self.request_bytes.fetch_add(n, Ordering::Relaxed);
                        if let Some(total) = &self.server_bytes {
                            total.fetch_add(n, Ordering::Relaxed);
                        }
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub async fn read_all(&mut self, limit: usize) -> Result<Vec<u8>, ReadError> {
        let mut out = Vec::new();
        loop {
            match self.next_chunk().await {
                Ok(Some(chunk)) => {
                    if out.len() + chunk.len() > limit {
                        return Err(ReadError::TooLarge);
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(out),
                Err(e) => return Err(ReadError::Client(e.to_string())),
            }
        }
    }

    /// Reads and discards up to `n` bytes (stops early at the end of the body or on error).
    pub async fn consume(&mut self, n: u64) {
        let mut seen = 0u64;
        while seen < n {
            match self.next_chunk().await {
                Ok(Some(chunk)) => seen += chunk.len() as u64,
                _ => return,
            }
        }
    }
}

/// Decompresses a gzip body, refusing more than `limit` bytes of output.
pub(crate) fn gunzip(data: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(data).take(limit + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| format!("invalid gzip body: {e}"))?;
    if out.len() as u64 > limit {
        return Err("decompressed body too large".to_string());
    }
    Ok(out)
}

/// A streaming body fed by a channel (the sender side is a blocking reader).
pub(crate) fn body_from_channel(rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>) -> RespBody {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map(Frame::data), rx))
    });
    StreamBody::new(stream).boxed_unsync()
}

/// An empty body.
pub(crate) fn empty_body() -> RespBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body from bytes in memory.
pub(crate) fn full_body(data: impl Into<Bytes>) -> RespBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response with no body.
pub(crate) fn empty(status: StatusCode) -> Response<RespBody> {
    let mut resp = Response::new(empty_body());
    *resp.status_mut() = status;
    resp
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<RespBody> {
    let mut resp = Response::new(full_body(
        serde_json::to_vec(value).expect("JSON value serializes"),
    ));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Dropwizard's exception shape: `{"code": <status>, "message": "..."}`.
pub(crate) fn code_message(status: StatusCode, message: &str) -> Response<RespBody> {
    json_response(
        status,
        &json!({"code": status.as_u16(), "message": message}),
    )
}

/// The declared `ErrorMessage` shape: `{"errors": ["..."]}`.
pub(crate) fn errors(status: StatusCode, message: &str) -> Response<RespBody> {
    json_response(status, &json!({"errors": [message]}))
}

/// An S3-style XML error.
pub(crate) fn s3_error(
    status: StatusCode,
    code: &str,
    message: &str,
    resource: &str,
) -> Response<RespBody> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
        xml_escape(code),
        xml_escape(message),
        xml_escape(resource),
        uuid::Uuid::new_v4().simple()
    );
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Wraps a response body so that it fails after `limit` bytes (the connection is then cut). A
/// body of at most `limit` bytes is delivered whole.
pub(crate) fn truncate_body(body: RespBody, limit: u64) -> RespBody {
    let stream = futures_util::stream::unfold(Some((body, limit)), |state| async move {
        let (mut body, left) = state?;
        let frame = body.frame().await?;
        if left == 0 {
            // More is coming: give hyper a moment to flush what was sent (it writes the head
            // and the first bytes while the body is pending), then fail, which aborts the
            // connection in the middle of the body.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            return Some((Err(cut_error()), None));
        }
        match frame {
            Err(e) => Some((Err(e), None)),
            Ok(frame) => match frame.into_data() {
                Ok(data) => {
                    let n = (data.len() as u64).min(left);
                    Some((
                        Ok(Frame::data(data.slice(..n as usize))),
                        Some((body, left - n)),
                    ))
                }
                Err(frame) => Some((Ok(frame), Some((body, left)))),
            },
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by fault rule",
    )
}
