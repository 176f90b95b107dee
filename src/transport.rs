//! HTTP: one connection-pooled client for the Opik backend and one for presigned storage URLs,
//! the rule for which headers go where, retries with backoff, and the mapping of HTTP failures to
//! [`Error`]s.

use crate::config::Config;
use crate::error::{Error, Result, Status};
use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    RETRY_AFTER,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WORKSPACE_HEADER: &str = "Comet-Workspace";
const USER_AGENT: &str = concat!("opik-attachments-native/", env!("CARGO_PKG_VERSION"));
/// JSON bodies at least this long are gzipped (upload-complete of about 900 parts or more). The
/// Python SDK gzips from 256 bytes, the TypeScript SDK never: below this size the compressor's
/// ~300 KiB of fresh state per request cost more CPU (and page faults) than the bytes it saves.
const GZIP_MIN_BYTES: usize = 64 * 1024;
/// How much of an error body is kept for the message.
const ERROR_BODY_LIMIT: usize = 2048;
/// The largest JSON answer read into memory. Opik's answers are a few KiB (a list page of 100
/// entries with presigned links about 100 KiB); anything near this is not an Opik answer.
pub const JSON_ANSWER_LIMIT: usize = 8 * 1024 * 1024;
/// Redirect hops followed within the backend's origin.
const MAX_REDIRECTS: usize = 10;

/// Who answers a request: the Opik backend (gets the Opik headers) or a storage service behind a
/// presigned URL (never gets them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Backend,
    Storage,
}

/// When and how often to retry transient failures.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, including the first.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Upper bound for a server's `Retry-After`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with jitter: a random delay in [d/2, d], d = base·2^retry capped.
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << retry.min(16));
        let d = exp.min(self.max_delay);
        let half = d / 2;
        half + Duration::from_nanos(jitter(half.as_nanos() as u64))
    }
}

fn jitter(bound: u64) -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    if bound == 0 {
        return 0;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = STATE.fetch_add(nanos | 1, Ordering::Relaxed) ^ nanos;
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) % bound
}

/// A read error of the attachment's own source (a local file), raised inside a request body.
/// It is never retried and maps to `OPIK_ERR_IO`.
#[derive(Debug)]
pub struct SourceReadError(pub String);

impl std::fmt::Display for SourceReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SourceReadError {}

/// HTTP access for one client.
pub struct Transport {
    backend: reqwest::Client,
    storage: reqwest::Client,
    base_url: String,
    origin: Origin,
    api_key: Option<HeaderValue>,
    /// The key as text, removed from every error message the transport makes.
    secret: Option<Arc<str>>,
    workspace: HeaderValue,
    retry: RetryPolicy,
    timeout: Duration,
    path_param: String,
    settings: Arc<HttpSettings>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn of(url: &reqwest::Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default(),
        })
    }
}

/// Presigned S3 URLs carry their own signature (the test the Python SDK uses too).
pub fn is_presigned(url: &str) -> bool {
    url.contains("X-Amz-Signature=")
        || (url.contains("Signature=") && url.contains("AWSAccessKeyId="))
}

/// A URL fit for a message: presigned queries are credentials for storage, so the query is cut.
pub fn display_url(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// What the HTTP clients are built from, read once per client (a lane builds its own HTTP
/// clients from it; parsing a system CA bundle again cost about 3 ms per lane).
struct HttpSettings {
    timeout: Duration,
    idle_per_host: usize,
    tls_verify: bool,
    extra_roots: Vec<reqwest::Certificate>,
}

impl HttpSettings {
    fn of(config: &Config) -> Result<HttpSettings> {
        let mut extra_roots = Vec::new();
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::config(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            extra_roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::config(format!("CA file {} is not PEM: {e}", path.display()))
            })?;
            if extra_roots.is_empty() {
                return Err(Error::config(format!(
                    "CA file {} holds no certificate",
                    path.display()
                )));
            }
        }
        Ok(HttpSettings {
            timeout: config.timeout,
            idle_per_host: config.upload_concurrency as usize + 4,
            tls_verify: config.tls_verify,
            extra_roots,
        })
    }

    /// The client for the backend (which follows redirects only within the backend's origin, so
    /// the Opik headers and request bodies never reach another host) and the one for storage
    /// (which follows none). Neither has a whole-request timer: the stall timers of
    /// [`crate::stall`] limit silence instead.
    fn clients(&self, origin: &Origin) -> Result<(reqwest::Client, reqwest::Client)> {
        let build = |redirects: reqwest::redirect::Policy| {
            let mut b = reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(self.timeout)
                .pool_max_idle_per_host(self.idle_per_host)
                .connector_layer(crate::unsent::LimitUnsent)
                .tcp_nodelay(true)
                .redirect(redirects);
            if !self.tls_verify {
                b = b.danger_accept_invalid_certs(true);
            }
            for cert in &self.extra_roots {
                b = b.add_root_certificate(cert.clone());
            }
            b.build()
                .map_err(|e| Error::config(format!("cannot set up HTTP: {e}")))
        };
        let origin = origin.clone();
        let same_origin = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().iter().any(|u| u == attempt.url()) {
                attempt.error(RedirectRefused("the server redirected in a loop"))
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(RedirectRefused("the server redirected too many times"))
            } else if Origin::of(attempt.url()).as_ref() == Some(&origin) {
                attempt.follow()
            } else {
                // Handed back as the 3xx answer: refused in `send`, with where it pointed.
                attempt.stop()
            }
        });
        Ok((
            build(same_origin)?,
            build(reqwest::redirect::Policy::none())?,
        ))
    }
}

/// Why a redirect was not followed (the message of a `reqwest` redirect error).
#[derive(Debug)]
struct RedirectRefused(&'static str);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for RedirectRefused {}

impl Transport {
    pub fn new(config: &Config) -> Result<Transport> {
        let origin = reqwest::Url::parse(&config.base_url)
            .ok()
            .as_ref()
            .and_then(Origin::of)
            .ok_or_else(|| {
                Error::config(format!("Opik URL {:?} is not a valid URL", config.base_url))
            })?;
        let settings = Arc::new(HttpSettings::of(config)?);
        let (backend, storage) = settings.clients(&origin)?;
        let api_key = match &config.api_key {
            Some(k) => {
                let mut v = HeaderValue::from_str(k).map_err(|_| {
                    Error::config("the API key contains characters not allowed in an HTTP header")
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let workspace = HeaderValue::from_str(&config.workspace).map_err(|_| {
            Error::config("the workspace name contains characters not allowed in an HTTP header")
        })?;
        Ok(Transport {
            backend,
            storage,
            settings,
            base_url: config.base_url.clone(),
            origin,
            api_key,
            secret: config
                .api_key
                .as_deref()
                .filter(|k| !k.is_empty())
                .map(Arc::from),
            workspace,
            retry: config.retry.clone(),
            timeout: config.timeout,
            path_param: crate::protocol::encode_path(&config.base_url),
        })
    }

    /// The same transport with HTTP clients (and so connections) of its own: for use on another
    /// runtime, since a connection belongs to the runtime that opened it.
    pub fn sibling(&self) -> Result<Transport> {
        let (backend, storage) = self.settings.clients(&self.origin)?;
        Ok(Transport {
            backend,
            storage,
            settings: self.settings.clone(),
            base_url: self.base_url.clone(),
            origin: self.origin.clone(),
            api_key: self.api_key.clone(),
            secret: self.secret.clone(),
            workspace: self.workspace.clone(),
            retry: self.retry.clone(),
            timeout: self.timeout,
            path_param: self.path_param.clone(),
        })
    }

    /// The `path` parameter for this client's base URL.
    pub fn path_param(&self) -> &str {
        &self.path_param
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Opik headers go only to the configured backend (same scheme, host and port), never to a
    /// presigned URL nor to any other host.
    pub fn peer_of(&self, url: &str) -> Peer {
        match reqwest::Url::parse(url) {
            Ok(parsed) => self.peer_of_parsed(url, &parsed),
            Err(_) => Peer::Storage,
        }
    }

    fn peer_of_parsed(&self, url: &str, parsed: &reqwest::Url) -> Peer {
        if is_presigned(url) {
            return Peer::Storage;
        }
        match Origin::of(parsed) {
            Some(o) if o == self.origin => Peer::Backend,
            _ => Peer::Storage,
        }
    }

    /// A request to `url` on the right client, with the Opik headers only for the backend. The URL
    /// is parsed once here and handed over parsed (a small upload's URL parses were a third of its
    /// CPU); one that does not parse goes out with no Opik header and fails when sent.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return self.storage.request(method, url);
        };
        match self.peer_of_parsed(url, &parsed) {
            Peer::Backend => {
                let mut headers = HeaderMap::new();
                if let Some(k) = &self.api_key {
                    headers.insert(AUTHORIZATION, k.clone());
                }
                headers.insert(WORKSPACE_HEADER, self.workspace.clone());
                self.backend.request(method, parsed).headers(headers)
            }
            Peer::Storage => self.storage.request(method, parsed),
        }
    }

    /// Sends the request that `build` makes (called again for each attempt), retrying connection
    /// errors, stalls, 429 (honouring `Retry-After`) and 500/502/503/504. Returns the 2xx
    /// response or the mapped error of the last attempt. The client's timeout limits silence:
    /// every piece of the request body taken for the socket resets it (see [`crate::stall`]).
    /// Every error it returns has the API key removed from its message.
    pub async fn send(
        &self,
        step: &str,
        url: &str,
        build: impl FnMut() -> Result<RequestBuilder>,
    ) -> Result<Response> {
        self.send_unredacted(step, url, build)
            .await
            .map_err(|e| self.redact(e))
    }

    async fn send_unredacted(
        &self,
        step: &str,
        url: &str,
        mut build: impl FnMut() -> Result<RequestBuilder>,
    ) -> Result<Response> {
        check_requestable(step, url)?;
        let mut retry = 0;
        loop {
            let last = retry + 1 >= self.retry.attempts;
            let (client, request) = build()?.build_split();
            let mut request = request.map_err(|e| error_from_reqwest(step, url, &e))?;
            let clock = crate::stall::Clock::new();
            if let Some(body) = request.body_mut().take() {
                *request.body_mut() = Some(crate::stall::Watched::wrap(body, clock.clone()));
            }
            let outcome = crate::stall::watch(&clock, self.timeout, client.execute(request)).await;
            let wait = match outcome {
                Some(Ok(resp)) if resp.status().is_success() => return Ok(resp),
                Some(Ok(resp)) if resp.status().is_redirection() => {
                    return Err(redirect_refused(step, url, &resp))
                }
                Some(Ok(resp)) => {
                    let status = resp.status();
                    if last || !is_retryable_status(status) {
                        let peer = self.peer_of(url);
                        return Err(self.error_from_response(step, url, peer, resp).await);
                    }
                    let after = retry_after(&resp).map(|d| d.min(self.retry.max_retry_after));
                    after.unwrap_or_else(|| self.retry.backoff(retry))
                }
                outcome => {
                    let err = match outcome {
                        Some(Err(e)) => error_from_reqwest(step, url, &e),
                        _ => self.stalled(step, url),
                    };
                    if last || !matches!(err.status, Status::Network | Status::Timeout) {
                        return Err(err);
                    }
                    self.retry.backoff(retry)
                }
            };
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    fn stalled(&self, step: &str, url: &str) -> Error {
        Error::new(
            Status::Timeout,
            format!(
                "{step}: no progress for {} ms ({})",
                self.timeout.as_millis(),
                display_url(url)
            ),
        )
    }

    /// Removes the API key from a message the transport made (a server may echo it).
    fn redact(&self, e: Error) -> Error {
        e.redact(self.secret.as_deref())
    }

    /// The next piece of a response body, waiting at most the client's timeout for it; `None` at
    /// the end. Errors carry `step`, the URL without its query, and never the API key.
    pub async fn next_chunk(
        &self,
        step: &str,
        url: &str,
        resp: &mut Response,
    ) -> Result<Option<Bytes>> {
        match crate::stall::read_within(self.timeout, resp.chunk()).await {
            Some(Ok(chunk)) => Ok(chunk),
            Some(Err(e)) => Err(self.redact(error_from_reqwest(step, url, &e))),
            None => Err(self.redact(self.stalled(step, url))),
        }
    }

    /// A whole response body of at most `limit` bytes; a longer one (announced or sent) is
    /// `OPIK_ERR_PROTOCOL` as soon as it passes the limit, so a hostile answer cannot fill memory.
    pub async fn read_capped(
        &self,
        step: &str,
        url: &str,
        mut resp: Response,
        limit: usize,
    ) -> Result<Bytes> {
        let too_large = || {
            self.redact(Error::protocol(format!(
                "{step}: the answer is larger than {limit} bytes, more than Opik ever sends ({})",
                display_url(url)
            )))
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = self.next_chunk(step, url, &mut resp).await? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            if body.is_empty() && chunk.len() == resp.content_length().unwrap_or(0) as usize {
                return Ok(chunk);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// POSTs JSON (gzipped when large) to a backend endpoint and parses a JSON answer.
    pub async fn post_json<B: Serialize, R: DeserializeOwned>(
        &self,
        step: &str,
        path: &str,
        body: &B,
    ) -> Result<R> {
        let url = self.endpoint(path);
        let resp = self.post_json_raw(step, &url, body).await?;
        self.read_json(step, &url, resp).await
    }

    /// POSTs JSON to a backend endpoint and expects no particular body (204).
    pub async fn post_json_no_content<B: Serialize>(
        &self,
        step: &str,
        path: &str,
        body: &B,
    ) -> Result<()> {
        let url = self.endpoint(path);
        self.post_json_raw(step, &url, body).await.map(drop)
    }

    async fn post_json_raw<B: Serialize>(
        &self,
        step: &str,
        url: &str,
        body: &B,
    ) -> Result<Response> {
        let json = serde_json::to_vec(body)
            .map_err(|e| Error::internal(format!("{step}: cannot encode JSON: {e}")))?;
        let (payload, gzipped) = if json.len() >= GZIP_MIN_BYTES {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(json.len() / 3),
                flate2::Compression::new(6),
            );
            enc.write_all(&json)
                .and_then(|_| enc.finish())
                .map(|g| (g, true))
                .unwrap_or((json, false))
        } else {
            (json, false)
        };
        let payload = bytes::Bytes::from(payload);
        self.send(step, url, || {
            let mut rb = self
                .request(Method::POST, url)
                .header(CONTENT_TYPE, "application/json")
                .header(CONTENT_LENGTH, payload.len())
                .body(payload.clone());
            if gzipped {
                rb = rb.header(CONTENT_ENCODING, "gzip");
            }
            Ok(rb)
        })
        .await
    }

    /// GETs a backend URL and parses the JSON answer.
    pub async fn get_json<R: DeserializeOwned>(&self, step: &str, url: &str) -> Result<R> {
        let resp = self
            .send(step, url, || Ok(self.request(Method::GET, url)))
            .await?;
        self.read_json(step, url, resp).await
    }

    /// Parses a JSON answer of at most [`JSON_ANSWER_LIMIT`] bytes.
    async fn read_json<R: DeserializeOwned>(
        &self,
        step: &str,
        url: &str,
        resp: Response,
    ) -> Result<R> {
        let body = self.read_capped(step, url, resp, JSON_ANSWER_LIMIT).await?;
        serde_json::from_slice(&body).map_err(|e| {
            let excerpt = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            self.redact(Error::protocol(format!(
                "{step}: the server's answer is not the JSON Opik specifies ({e}): {excerpt:?}"
            )))
        })
    }

    /// Maps a non-2xx answer to an error carrying the HTTP status and the server's own words.
    async fn error_from_response(
        &self,
        step: &str,
        url: &str,
        peer: Peer,
        resp: Response,
    ) -> Error {
        let code = resp.status();
        let mut body = Vec::new();
        let mut resp = resp;
        // The error is what matters: a body that stalls or breaks only shortens the message.
        while body.len() < ERROR_BODY_LIMIT {
            match self.next_chunk(step, url, &mut resp).await {
                Ok(Some(c)) => body.extend_from_slice(&c),
                _ => break,
            }
        }
        body.truncate(ERROR_BODY_LIMIT);
        let detail = server_message(&body);
        let status = match (peer, code.as_u16()) {
            (Peer::Backend, 401 | 403) => Status::Auth,
            (_, 404) => Status::NotFound,
            (_, 413) => Status::TooLarge,
            _ => Status::Http,
        };
        let who = match peer {
            Peer::Backend => "Opik",
            Peer::Storage => "storage",
        };
        let mut message = format!(
            "{step}: {who} answered HTTP {} ({})",
            code.as_u16(),
            display_url(url)
        );
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(&detail);
        }
        Error::new(status, message).with_http_status(code.as_u16())
    }
}

/// A URL the server handed out that cannot be requested (not a URL, not http or https) fails
/// the same way however often it is tried: `OPIK_ERR_PROTOCOL`, never retried.
fn check_requestable(step: &str, url: &str) -> Result<()> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(Error::protocol(format!(
            "{step}: the server gave a link that is not an http(s) URL: {:?}",
            display_url(url).chars().take(200).collect::<String>()
        ))),
    }
}

/// A redirect the backend client did not follow (it pointed at another origin) or storage sent:
/// the Opik API specifies none, and following it would send credentials or the body elsewhere.
fn redirect_refused(step: &str, url: &str, resp: &Response) -> Error {
    let to = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| display_url(l).chars().take(200).collect::<String>())
        .unwrap_or_default();
    Error::protocol(format!(
        "{step}: the server redirected ({}) to {to:?}; only redirects within the Opik URL's origin are followed ({})",
        resp.status().as_u16(),
        display_url(url)
    ))
    .with_http_status(resp.status().as_u16())
}

fn is_retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (HTTP dates are rare from APIs and are treated as absent).
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Maps a transport-level failure. The reqwest message is used without its URL (a presigned
/// URL's query is a credential); our own shortened URL is added instead.
pub fn error_from_reqwest(step: &str, url: &str, e: &reqwest::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        // `io::Error::source()` skips the error it wraps, so look inside by hand.
        let read = s.downcast_ref::<SourceReadError>().or_else(|| {
            s.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<SourceReadError>())
        });
        if let Some(read) = read {
            return Error::new(Status::Io, format!("{step}: {read}"));
        }
        if let Some(refused) = s.downcast_ref::<RedirectRefused>() {
            return Error::protocol(format!("{step}: {refused} ({})", display_url(url)));
        }
        source = s.source();
    }
    if e.is_builder() {
        return Error::protocol(format!(
            "{step}: the request cannot be made ({})",
            display_url(url)
        ));
    }
    let status = if e.is_timeout() {
        Status::Timeout
    } else {
        Status::Network
    };
    let mut detail = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    Error::new(
        status,
        format!("{step}: {what} ({}){detail}", display_url(url)),
    )
}

/// The useful part of an error body: `{"errors": [...]}`, `{"message": ...}`, S3 XML
/// `<Code>`/`<Message>`, or the text itself.
pub fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        if let Some(errors) = v.get("errors").and_then(|e| e.as_array()) {
            let joined: Vec<String> = errors
                .iter()
                .map(|e| {
                    e.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| e.to_string())
                })
                .collect();
            if !joined.is_empty() {
                return joined.join("; ");
            }
        }
        if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
            return m.to_owned();
        }
    }
    let tag = |name: &str| -> Option<&str> {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(&text[start..end])
    };
    if let Some(code) = tag("Code") {
        return match tag("Message") {
            Some(m) => format!("{code}: {}", unescape_xml(m)),
            None => code.to_owned(),
        };
    }
    text.chars().take(300).collect()
}

/// The five XML entities and numeric character references (S3 messages use `&#39;`).
fn unescape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(base: &str) -> Transport {
        let opts = crate::config::Options {
            url: Some(base.into()),
            api_key: Some("k".into()),
            ..Default::default()
        };
        struct NoEnv;
        impl crate::config::Environment for NoEnv {
            fn var(&self, _: &str) -> Option<String> {
                None
            }
            fn home_dir(&self) -> Option<std::path::PathBuf> {
                None
            }
        }
        Transport::new(&Config::resolve_with(&opts, &NoEnv).unwrap()).unwrap()
    }

    #[test]
    fn opik_headers_only_for_the_configured_backend() {
        let t = transport("http://127.0.0.1:8080/api");
        assert_eq!(
            t.peer_of("http://127.0.0.1:8080/api/v1/private/attachment/upload?x=1"),
            Peer::Backend
        );
        assert_eq!(
            t.peer_of("http://127.0.0.1:8080/s3/b/k?X-Amz-Signature=abc"),
            Peer::Storage
        );
        assert_eq!(
            t.peer_of("https://bucket.s3.amazonaws.com/k?Signature=a&AWSAccessKeyId=b"),
            Peer::Storage
        );
        assert_eq!(
            t.peer_of("http://localhost:8080/api/v1/x"),
            Peer::Storage,
            "another host name"
        );
        assert_eq!(
            t.peer_of("http://127.0.0.1:8081/api/v1/x"),
            Peer::Storage,
            "another port"
        );
        assert_eq!(
            t.peer_of("https://127.0.0.1:8080/api/v1/x"),
            Peer::Storage,
            "another scheme"
        );
        let https = transport("https://www.comet.com/opik/api/");
        assert_eq!(
            https.peer_of("https://www.comet.com:443/opik/api/v1/x"),
            Peer::Backend,
            "default port"
        );
    }

    #[test]
    fn presigned_requests_carry_no_opik_header() {
        let t = transport("http://127.0.0.1:8080/");
        let req = t
            .request(
                Method::PUT,
                "http://127.0.0.1:8080/s3/b/k?X-Amz-Signature=abc",
            )
            .build()
            .unwrap();
        assert!(req.headers().get(AUTHORIZATION).is_none());
        assert!(req.headers().get(WORKSPACE_HEADER).is_none());
        let req = t
            .request(
                Method::PUT,
                "http://127.0.0.1:8080/v1/private/attachment/upload?a=b",
            )
            .build()
            .unwrap();
        assert_eq!(req.headers().get(AUTHORIZATION).unwrap(), "k");
        assert_eq!(req.headers().get(WORKSPACE_HEADER).unwrap(), "default");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for retry in 0..20 {
            let d = p.backoff(retry);
            let full = p
                .base_delay
                .saturating_mul(1 << retry.min(16))
                .min(p.max_delay);
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} vs {full:?}"
            );
        }
    }

    #[test]
    fn server_messages_are_extracted_from_every_shape() {
        assert_eq!(server_message(br#"{"errors":["a","b"]}"#), "a; b");
        assert_eq!(server_message(br#"{"code":403,"message":"nope"}"#), "nope");
        assert_eq!(
            server_message(b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"),
            "AccessDenied: Request has expired"
        );
        assert_eq!(server_message(b"plain"), "plain");
        assert_eq!(
            server_message(b"<Error><Code>InvalidPart</Code><Message>One part&#39;s ETag &amp; &lt;x&gt; &#x41; &bogus; &</Message></Error>"),
            "InvalidPart: One part's ETag & <x> A &bogus; &"
        );
        assert_eq!(server_message(b""), "");
    }

    #[test]
    fn urls_in_messages_lose_their_query() {
        assert_eq!(
            display_url("http://s3/b/k?X-Amz-Signature=secret"),
            "http://s3/b/k"
        );
    }
}
