//! The transport: one connection-pooled HTTP client for the Opik backend and one for presigned
//! storage URLs, requests with the right headers for their peer, sending with retries and stall
//! timers, capped reads of answers, and redaction of the API key from every error it makes.

use super::body::{declared_length, Body};
use super::connect;
use super::errors::{
    check_requestable, error_for_status, error_from_transport, redirect_refused, RedirectRefused,
};
use super::peer::{
    display_url, is_presigned_query, parse_uri, parse_url, take_userinfo, Origin, Peer,
};
use super::pool::{Pool, Response};
use super::retry::{is_retryable_status, retry_after};
use super::stall;
use crate::error::{Error, Result, Status};
use crate::observe::{Counter, Level, Observer};
use crate::settings::{Config, RetryPolicy};
use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_TYPE, LOCATION, PROXY_AUTHORIZATION, REFERER, USER_AGENT as UA,
};
use http::{Method, StatusCode, Uri};
use hyper_util::client::proxy::matcher::Matcher;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const WORKSPACE_HEADER: HeaderName = HeaderName::from_static("comet-workspace");
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

/// HTTP access for one client.
pub struct Transport {
    backend: Arc<Pool>,
    storage: Arc<Pool>,
    base_url: String,
    /// `base_url` as requests use it: ASCII, a non-ASCII host name in its punycode form.
    request_base: String,
    origin: Origin,
    api_key: Option<HeaderValue>,
    /// The key as text, removed from every error message the transport makes.
    secret: Option<Arc<str>>,
    workspace: HeaderValue,
    retry: RetryPolicy,
    timeout: Duration,
    settings: Arc<HttpSettings>,
    observer: Arc<Observer>,
}

/// What the HTTP clients are built from, read once per client (a lane builds its own HTTP
/// clients from it; parsing a system CA bundle again cost about 3 ms per lane).
struct HttpSettings {
    timeout: Duration,
    idle_per_host: usize,
    tls: rustls::ClientConfig,
    /// The environment's proxies (read when the client is made), `None` when it names none.
    proxies: Option<Arc<Matcher>>,
}

impl HttpSettings {
    fn of(config: &Config) -> Result<HttpSettings> {
        let mut extra_roots = Vec::new();
        if let Some(path) = &config.ca_file {
            // A CA bundle is at most a few MiB; a FIFO or device must not hang client creation.
            let pem = crate::sys::file_reads::read_small(path, 64 << 20).map_err(|e| {
                Error::config(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            extra_roots = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| {
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
            tls: connect::tls_config(config.tls_verify, &extra_roots)?,
            proxies: connect::proxies_from_env(),
        })
    }

    /// The connections to the backend (whose redirects [`Transport::send`] follows only within
    /// the backend's origin, so the Opik headers and request bodies never reach another host) and
    /// those to storage (whose redirects are refused). Neither has a whole-request timer: the
    /// stall timers of [`stall`] limit silence instead.
    /// `for_lane`: the connections speak HTTP/1.1 by hand (`h1.rs`) and let the lane's thread
    /// wait for answers in `recv` (see `tcp.rs`); the I/O threads' must not block.
    fn clients(&self, for_lane: bool) -> (Arc<Pool>, Arc<Pool>) {
        let build = || {
            Pool::new(
                connect::connector(
                    self.tls.clone(),
                    self.timeout,
                    self.proxies.clone(),
                    for_lane,
                ),
                self.idle_per_host,
                for_lane,
            )
        };
        (build(), build())
    }
}

/// A request being made: the peer's headers, then the caller's, then a body.
pub struct RequestBuilder {
    method: Method,
    uri: Option<Uri>,
    peer: Peer,
    headers: HeaderMap,
    body: Option<Body>,
    invalid: bool,
}

impl RequestBuilder {
    /// Adds a header; a value that is not a valid header value makes the request unmakeable.
    pub fn header<V: TryInto<HeaderValue>>(mut self, name: HeaderName, value: V) -> Self {
        match value.try_into() {
            Ok(v) => {
                self.headers.insert(name, v);
            }
            Err(_) => self.invalid = true,
        }
        self
    }

    /// Adds `Content-Length: n`. `HeaderValue::from(u64)` allocates twice (a buffer, then its
    /// frozen form); the digits formatted on the stack and copied once allocate once.
    pub fn content_length(mut self, n: u64) -> Self {
        match HeaderValue::from_str(itoa::Buffer::new().format(n)) {
            Ok(v) => {
                self.headers.insert(CONTENT_LENGTH, v);
            }
            Err(_) => self.invalid = true,
        }
        self
    }

    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The request, or `None` when it cannot be made (a URL or header value that is not valid).
    pub fn build(self) -> Option<http::Request<Body>> {
        if self.invalid {
            return None;
        }
        let mut req = http::Request::new(self.body.unwrap_or_else(Body::empty));
        *req.method_mut() = self.method;
        *req.uri_mut() = self.uri?;
        *req.headers_mut() = self.headers;
        Some(req)
    }
}

impl Transport {
    pub fn new(config: &Config, observer: Arc<Observer>) -> Result<Transport> {
        let base = parse_url(&config.base_url)
            .map_err(|why| Error::config(format!("Opik URL {:?}: {why}", config.base_url)))?;
        let origin = Origin::of(&base).ok_or_else(|| {
            Error::config(format!("Opik URL {:?} is not a valid URL", config.base_url))
        })?;
        // Requests go to the parsed form (a non-ASCII host in punycode, other bytes a URI may
        // not hold percent-encoded), so each endpoint's URL parses on the fast path;
        // `base_url()` stays what was configured, as it was reported to the backend before.
        let request_base = base.to_string();
        let settings = Arc::new(HttpSettings::of(config)?);
        let (backend, storage) = settings.clients(false);
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
            request_base,
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
            observer,
        })
    }

    /// The same transport with HTTP clients (and so connections) of its own, for a lane: a
    /// connection belongs to the runtime that opened it, and a lane's thread waits for answers
    /// in `recv` (see `tcp.rs`).
    pub fn for_lane(&self) -> Result<Transport> {
        let (backend, storage) = self.settings.clients(true);
        Ok(Transport {
            backend,
            storage,
            settings: self.settings.clone(),
            base_url: self.base_url.clone(),
            request_base: self.request_base.clone(),
            origin: self.origin.clone(),
            api_key: self.api_key.clone(),
            secret: self.secret.clone(),
            observer: self.observer.clone(),
            workspace: self.workspace.clone(),
            retry: self.retry.clone(),
            timeout: self.timeout,
        })
    }

    /// The Opik API's base URL, ending in `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn endpoint(&self, path: &str) -> String {
        // Per request: two pushes cost a tenth of `format!`'s machinery.
        let mut url = String::with_capacity(self.request_base.len() + path.len());
        url.push_str(&self.request_base);
        url.push_str(path);
        url
    }

    /// Opik headers go only to the configured backend (same scheme, host and port), never to a
    /// presigned URL nor to any other host.
    pub fn peer_of(&self, url: &str) -> Peer {
        match parse_uri(url) {
            Some(parsed) => self.peer_of_parsed(&parsed),
            None => Peer::Storage,
        }
    }

    fn peer_of_parsed(&self, parsed: &Uri) -> Peer {
        if parsed.query().is_some_and(is_presigned_query) {
            return Peer::Storage;
        }
        if self.origin.holds(parsed) {
            Peer::Backend
        } else {
            Peer::Storage
        }
    }

    /// A request to `url` with the Opik headers only for the backend. One that does not parse
    /// goes out with no Opik header and cannot be built.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        match parse_uri(url) {
            Some(parsed) => self.request_to(method, parsed),
            None => RequestBuilder {
                method,
                uri: None,
                peer: Peer::Storage,
                headers: HeaderMap::new(),
                body: None,
                invalid: true,
            },
        }
    }

    /// [`Transport::request`] for a URL already parsed: [`Transport::send`] parses each URL once
    /// for all its attempts.
    fn request_to(&self, method: Method, parsed: Uri) -> RequestBuilder {
        let peer = self.peer_of_parsed(&parsed);
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(UA, HeaderValue::from_static(USER_AGENT));
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        // A URL's `user:password@` goes as Basic authorization, never in the request line or
        // to a proxy; the API key, below, takes its place for the backend.
        let parsed = match take_userinfo(&parsed) {
            Some((bare, basic)) => {
                headers.insert(AUTHORIZATION, basic);
                bare
            }
            None => parsed,
        };
        if peer == Peer::Backend {
            if let Some(k) = &self.api_key {
                headers.insert(AUTHORIZATION, k.clone());
            }
            headers.insert(WORKSPACE_HEADER, self.workspace.clone());
        }
        if let Some(auth) = connect::proxy_authorization(&self.settings.proxies, &parsed) {
            headers.insert(PROXY_AUTHORIZATION, auth);
        }
        RequestBuilder {
            method,
            uri: Some(parsed),
            peer,
            headers,
            body: None,
            invalid: false,
        }
    }

    /// Sends a `method` request to `url`, completed by `build` (called again for each attempt
    /// with a fresh request carrying the peer's headers: it adds the body and its headers),
    /// retrying connection errors, stalls, 429 (honouring `Retry-After`) and 500/502/503/504.
    /// Returns the 2xx response or the mapped error of the last attempt. The client's timeout
    /// limits silence: every piece of the request body taken for the socket resets it (see
    /// [`stall`]).
    /// Every error it returns has the API key removed from its message.
    pub async fn send(
        &self,
        step: &str,
        method: Method,
        url: &str,
        build: impl FnMut(RequestBuilder) -> Result<RequestBuilder> + Send,
    ) -> Result<Response> {
        self.send_unredacted(step, method, url, build)
            .await
            .map_err(|e| self.redact(e))
    }

    async fn send_unredacted(
        &self,
        step: &str,
        method: Method,
        url: &str,
        mut build: impl FnMut(RequestBuilder) -> Result<RequestBuilder> + Send,
    ) -> Result<Response> {
        let parsed = check_requestable(step, url)?;
        // Each attempt, and each redirect hop, gets its request made anew: nothing is kept
        // (cloned) for a redirect that most requests never get.
        let mut make = |method: Method, uri: Uri| -> Result<(Peer, http::Request<Body>)> {
            let fresh = self.request_to(method, uri);
            let peer = fresh.peer;
            let request = build(fresh)?.build().ok_or_else(|| {
                Error::protocol(format!(
                    "{step}: the request cannot be made ({})",
                    display_url(url)
                ))
            })?;
            Ok((peer, request))
        };
        let mut retry = 0;
        loop {
            let last = retry + 1 >= self.retry.attempts;
            let (peer, request) = make(method.clone(), parsed.clone())?;
            let clock = stall::Clock::new();
            // Boxed: inline, its state made every caller's future (up to the lane's `block_on`,
            // which moves it) kilobytes larger, copied at every call.
            let exchange = Box::pin(self.execute(peer, request, &parsed, &clock, &mut make));
            let outcome = stall::watch(&clock, self.timeout, exchange).await;
            let wait = match outcome {
                Some(Ok(resp)) if resp.status().is_success() => return Ok(resp),
                Some(Ok(resp)) if resp.status().is_redirection() => {
                    return Err(redirect_refused(step, url, &resp))
                }
                Some(Ok(resp)) => {
                    let status = resp.status();
                    if last || !is_retryable_status(status) {
                        let peer = self.peer_of_parsed(&parsed);
                        return Err(self.error_from_response(step, url, peer, resp).await);
                    }
                    let after = retry_after(&resp).map(|d| d.min(self.retry.max_retry_after));
                    let wait = after.unwrap_or_else(|| self.retry.backoff(retry));
                    self.note_retry(step, url, &format!("HTTP {}", status.as_u16()), wait, retry);
                    wait
                }
                outcome => {
                    let err = match outcome {
                        Some(Err(e)) => error_from_transport(step, url, &*e),
                        _ => self.stalled(step, url),
                    };
                    if last || !matches!(err.status, Status::Network | Status::Timeout) {
                        return Err(err);
                    }
                    let wait = self.retry.backoff(retry);
                    let why = self.redact(err).message;
                    self.note_retry(step, url, &why, wait, retry);
                    wait
                }
            };
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// Sends one request on the peer's client. The backend's redirects are followed within its
    /// origin (at most [`MAX_REDIRECTS`] hops, never in a loop), each hop's request made anew:
    /// by `make` while the method and body are repeated (as for a retry: the peer's headers, the
    /// caller's headers and body), with the peer's headers only once a 301/302/303 has dropped the
    /// body (the caller's closure, which may read a file and reset progress, is not run for a
    /// body that is not sent). `asked` is the URL as given: its `user:password@` stays the Basic
    /// authorization of every hop on the backend, as the request's other headers do. Any other
    /// 3xx comes back as the answer, for [`Transport::send`] to refuse.
    async fn execute(
        &self,
        peer: Peer,
        request: http::Request<Body>,
        asked: &Uri,
        clock: &Arc<stall::Clock>,
        make: &mut (dyn FnMut(Method, Uri) -> Result<(Peer, http::Request<Body>)> + Send),
    ) -> std::result::Result<Response, super::body::BoxError> {
        let watched = |request: http::Request<Body>| {
            let length = declared_length(request.headers());
            request.map(|body| stall::Watched::wrap(body, clock.clone(), length))
        };
        if peer == Peer::Storage {
            return self.storage.send(watched(request)).await;
        }
        let mut method = request.method().clone();
        // Once a 301/302/303 has dropped the body, no later hop (a 307 after it) brings it back.
        let mut bodiless = false;
        // Filled on the first redirect: most requests have none.
        let mut visited: Vec<Uri> = Vec::new();
        let mut current = request.uri().clone();
        let mut resp = self.backend.send(watched(request)).await?;
        loop {
            let status = resp.status();
            if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let Some(next) = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| std::str::from_utf8(l.as_bytes()).ok())
                .and_then(|l| resolve(&current, l))
            else {
                return Ok(resp);
            };
            if visited.is_empty() {
                visited.push(current.clone());
            }
            if visited.contains(&next) {
                return Err(RedirectRefused("the server redirected in a loop").into());
            }
            if visited.len() > MAX_REDIRECTS {
                return Err(RedirectRefused("the server redirected too many times").into());
            }
            if !self.origin.holds(&next) {
                // Handed back as the 3xx answer: refused in `send`, with where it pointed.
                return Ok(resp);
            }
            visited.push(next.clone());
            // 307/308 repeat the method and body; 301/302/303 make the next request a GET
            // without the body or its headers (reqwest's rules).
            let see_other = !matches!(
                status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            );
            if see_other && !matches!(method, Method::GET | Method::HEAD) {
                method = Method::GET;
            }
            bodiless |= see_other;
            // The peer's rule holds on every hop: a presigned URL on the backend's own origin
            // gets no Opik header either.
            let (hop_peer, mut req) = if bodiless {
                let fresh = self.request_to(method.clone(), next.clone());
                let hop_peer = fresh.peer;
                let req = fresh
                    .build()
                    .ok_or(RedirectRefused("the redirect's request cannot be made"))?;
                (hop_peer, req)
            } else {
                make(method.clone(), next.clone())?
            };
            if hop_peer == Peer::Backend && !req.headers().contains_key(AUTHORIZATION) {
                if let Some((_, basic)) = take_userinfo(asked) {
                    req.headers_mut().insert(AUTHORIZATION, basic);
                }
            }
            if let Ok(referer) = HeaderValue::try_from(display_referer(&current)) {
                req.headers_mut().insert(REFERER, referer);
            }
            current = next;
            // The 3xx is done with: its connection (an empty body) goes back for the next hop.
            drop(resp);
            resp = self.backend.send(watched(req)).await?;
        }
    }

    /// Counts a retry and logs it (WARN), with the work's context (entity id, file name).
    fn note_retry(&self, step: &str, url: &str, why: &str, wait: Duration, retry: u32) {
        self.observer.counters.add(Counter::Retries, 1);
        self.observer.log.emit(
            Level::Warn,
            &format!(
                "{step} ({}): {why}; retry {} of {} in {} ms",
                display_url(url),
                retry + 1,
                self.retry.attempts - 1,
                wait.as_millis()
            ),
        );
    }

    /// The client's log and counters.
    pub fn observer(&self) -> &Arc<Observer> {
        &self.observer
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
        match stall::read_within(self.timeout, resp.chunk()).await {
            Some(Ok(chunk)) => Ok(chunk),
            Some(Err(e)) => Err(self.redact(error_from_transport(step, url, &*e))),
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
        // What the answer announced: once reading has begun, the body's size hint is only what
        // is left of it.
        let announced = resp.content_length();
        if announced.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = self.next_chunk(step, url, &mut resp).await? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            if body.is_empty() && Some(chunk.len() as u64) == announced {
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
        self.post_json_bytes(step, url, json).await
    }

    /// POSTs JSON already encoded (gzipped when large) to a backend endpoint; expects a 2xx.
    pub async fn post_encoded_json(&self, step: &str, path: &str, json: Vec<u8>) -> Result<()> {
        let url = self.endpoint(path);
        self.post_json_bytes(step, &url, json).await.map(drop)
    }

    /// POSTs JSON already encoded (gzipped when large) to a backend endpoint and parses a JSON
    /// answer.
    pub async fn post_encoded_json_for<R: DeserializeOwned>(
        &self,
        step: &str,
        path: &str,
        json: Vec<u8>,
    ) -> Result<R> {
        let url = self.endpoint(path);
        let resp = self.post_json_bytes(step, &url, json).await?;
        self.read_json(step, &url, resp).await
    }

    async fn post_json_bytes(&self, step: &str, url: &str, json: Vec<u8>) -> Result<Response> {
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
        self.send(step, Method::POST, url, |rb| {
            let mut rb = rb
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .content_length(payload.len() as u64)
                .body(payload.clone());
            if gzipped {
                rb = rb.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Ok(rb)
        })
        .await
    }

    /// GETs a backend URL and parses the JSON answer.
    pub async fn get_json<R: DeserializeOwned>(&self, step: &str, url: &str) -> Result<R> {
        let resp = self.send(step, Method::GET, url, Ok).await?;
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
        // Every Opik answer is an object; serde would also build a struct from an array.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            let excerpt = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(self.redact(Error::protocol(format!(
                "{step}: the server's answer is not a JSON object: {excerpt:?}"
            ))));
        }
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
        error_for_status(step, url, peer, code, &body)
    }
}

/// Where a `Location` points, taken relative to `base` as RFC 3986 §5.2 resolves a reference
/// (absolute URL, `//host/...`, `/path`, `?query`, or a path relative to the base's directory),
/// without `.` and `..` segments, as `url::Url::join` (what reqwest followed) gave it.
fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    // A fragment is not sent; `#s` alone (or nothing) is the base itself.
    let location = location.split_once('#').map_or(location, |(l, _)| l);
    let joined = if has_scheme(location) {
        parse_uri(location)?
    } else {
        let scheme = base.scheme_str()?;
        let authority = base.authority()?.as_str();
        let path = base.path();
        if let Some(rest) = location.strip_prefix("//") {
            parse_uri(&format!("{scheme}://{rest}"))?
        } else if location.starts_with('/') {
            parse_uri(&format!("{scheme}://{authority}{location}"))?
        } else if location.is_empty() {
            base.clone()
        } else if let Some(query) = location.strip_prefix('?') {
            parse_uri(&format!("{scheme}://{authority}{path}?{query}"))?
        } else {
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            parse_uri(&format!("{scheme}://{authority}{dir}{location}"))?
        }
    };
    without_dot_segments(joined)
}

/// Whether a reference starts with a scheme (RFC 3986 §3.1: a letter, then letters, digits,
/// `+`, `-` or `.`, then `:`); a relative one may hold `://` in its query.
fn has_scheme(reference: &str) -> bool {
    reference.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    })
}

/// `uri` with the `.` and `..` segments of its path removed (RFC 3986 §5.2.4), never above the
/// root; the query is left as it is.
fn without_dot_segments(uri: Uri) -> Option<Uri> {
    let path = remove_dot_segments(uri.path());
    if path == uri.path() {
        return Some(uri);
    }
    let mut parts = uri.into_parts();
    let path_and_query = match parts.path_and_query.as_ref().and_then(|p| p.query()) {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// RFC 3986 §5.2.4 for an absolute path, by segments: `.` goes, `..` takes the segment before it
/// with it (none at the root), and a path ending in either ends in `/`. `%2e` counts as a dot,
/// as `url` counted it.
fn remove_dot_segments(path: &str) -> String {
    let is_dot = |s: &str| s == "." || s.eq_ignore_ascii_case("%2e");
    let is_dot_dot = |s: &str| {
        ["..", ".%2e", "%2e.", "%2e%2e"]
            .iter()
            .any(|d| s.eq_ignore_ascii_case(d))
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if is_dot(segment) || is_dot_dot(segment) {
            if is_dot_dot(segment) {
                kept.pop();
            }
            if last {
                kept.push("");
            }
        } else {
            kept.push(segment);
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The previous URL as a `Referer` (what reqwest sent on a redirect): without user information.
fn display_referer(uri: &Uri) -> String {
    let authority = uri.authority().map_or("", |a| a.as_str());
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    format!(
        "{}://{authority}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.path_and_query().map_or("/", |p| p.as_str())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoEnv;
    impl crate::settings::Environment for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
        fn home_dir(&self) -> Option<std::path::PathBuf> {
            None
        }
    }

    fn transport(base: &str) -> Transport {
        let opts = crate::settings::Options {
            url: Some(base.into()),
            api_key: Some("k".into()),
            ..Default::default()
        };
        Transport::new(
            &Config::resolve_with(&opts, &NoEnv).unwrap(),
            Observer::quiet(),
        )
        .unwrap()
    }

    #[test]
    fn content_length_is_written_in_decimal() {
        let t = transport("http://127.0.0.1:8080/api");
        for n in [0u64, 7, 10, 1024, 5 * 1024 * 1024 + 1, u64::MAX] {
            let req = t
                .request(Method::PUT, "http://127.0.0.1:8080/api/x")
                .content_length(n)
                .build()
                .unwrap();
            assert_eq!(req.headers()[CONTENT_LENGTH], n.to_string().as_str());
            assert_eq!(declared_length(req.headers()), Some(n));
        }
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
    fn urls_parse_as_url_parsed_them() {
        let p = |u: &str| parse_uri(u).map(|u| u.to_string());
        assert_eq!(
            p("http://h/a b?c d").as_deref(),
            Some("http://h/a%20b?c%20d")
        );
        assert_eq!(
            p("http://h/é?x=ü").as_deref(),
            Some("http://h/%C3%A9?x=%C3%BC")
        );
        assert_eq!(p("http://h/p#frag").as_deref(), Some("http://h/p"));
        assert_eq!(p("http://h:99999/"), None);
        assert_eq!(p("http://u:p@h/x").as_deref(), Some("http://u:p@h/x"));
        assert_eq!(p("http://[::1]:8/x").as_deref(), Some("http://[::1]:8/x"));
    }

    #[test]
    fn non_ascii_host_names_become_punycode() {
        let p = |u: &str| parse_url(u).map(|u| u.to_string());
        assert_eq!(
            p("https://bücher.example/").as_deref(),
            Ok("https://xn--bcher-kva.example/")
        );
        assert_eq!(
            p("http://usér:pä@BÜCHER.example:8443/pfad/ü?q=ö&X-Amz-Signature=a").as_deref(),
            Ok("http://us%C3%A9r:p%C3%A4@xn--bcher-kva.example:8443/pfad/%C3%BC?q=%C3%B6&X-Amz-Signature=a"),
            "user information, port, path and query kept (encoded), the host lower-cased"
        );
        assert_eq!(
            p("  http://例え.テスト/a b  ").as_deref(),
            Ok("http://xn--r8jz45g.xn--zckzah/a%20b")
        );
        assert_eq!(
            p("http://h.example/ü").as_deref(),
            Ok("http://h.example/%C3%BC"),
            "an ASCII host with a non-ASCII path"
        );
        for bad in [
            "http://xn--é.example/",
            "http://a\u{0300}b\u{FFFF}.example/",
            "http://é<x>.example/",
        ] {
            assert!(
                matches!(parse_url(bad), Err(super::super::peer::BadUrl::Host(_))),
                "{bad}: {:?}",
                parse_url(bad)
            );
        }
        assert_eq!(
            parse_url("http://é.example:99999/"),
            Err(super::super::peer::BadUrl::Syntax)
        );

        // A configured non-ASCII host: requests go to its ASCII form (with the Opik headers),
        // the base URL reported to the backend stays as configured.
        let t = transport("http://bücher.example:8080/api");
        assert_eq!(t.base_url(), "http://bücher.example:8080/api/");
        let url = t.endpoint("v1/x");
        assert_eq!(url, "http://xn--bcher-kva.example:8080/api/v1/x");
        let req = t.request(Method::GET, &url).build().unwrap();
        assert_eq!(req.headers().get(AUTHORIZATION).unwrap(), "k");
        assert_eq!(
            t.peer_of("http://BÜCHER.example:8080/api/v1/y"),
            Peer::Backend,
            "the same host written in Unicode"
        );
        let opts = crate::settings::Options {
            url: Some("http://xn--é.example/".into()),
            ..Default::default()
        };
        let e = Config::resolve_with(&opts, &NoEnv)
            .and_then(|c| Transport::new(&c, Observer::quiet()))
            .err()
            .expect("refused");
        assert_eq!(e.status, Status::Config, "{}", e.message);
        assert!(e.message.contains("host name"), "{}", e.message);
        let e = check_requestable("s", "https://xn--é.example/k?X-Amz-Signature=1").unwrap_err();
        assert_eq!(e.status, Status::Protocol, "{}", e.message);
        assert!(e.message.contains("host name"), "{}", e.message);
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base: Uri = "http://h:1/api/v1/x?q=1".parse().unwrap();
        let r = |l: &str| resolve(&base, l).map(|u| u.to_string());
        assert_eq!(r("/b?c=d").as_deref(), Some("http://h:1/b?c=d"));
        assert_eq!(r("y").as_deref(), Some("http://h:1/api/v1/y"));
        assert_eq!(r("?z=2").as_deref(), Some("http://h:1/api/v1/x?z=2"));
        assert_eq!(r("//g:2/p").as_deref(), Some("http://g:2/p"));
        assert_eq!(r("https://e/p").as_deref(), Some("https://e/p"));
        assert_eq!(r("http://bad host/"), None);
        assert_eq!(
            r("g?next=http://e/p").as_deref(),
            Some("http://h:1/api/v1/g?next=http://e/p"),
            "`://` in a relative reference's query"
        );
        assert_eq!(r("/a/%2E/b/.%2e/c").as_deref(), Some("http://h:1/a/c"));
        assert_eq!(r("http://e/a/../b").as_deref(), Some("http://e/b"));
    }

    /// RFC 3986 §5.4's examples (fragments dropped: they are not sent; `//g` has the path `/`
    /// an http URI always has).
    #[test]
    fn locations_resolve_as_rfc_3986_examples() {
        let base: Uri = "http://a/b/c/d;p?q".parse().unwrap();
        let cases = [
            // §5.4.1, normal
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            ("g?y#s", "http://a/b/c/g?y"),
            (";x", "http://a/b/c/;x"),
            ("g;x", "http://a/b/c/g;x"),
            ("g;x?y#s", "http://a/b/c/g;x?y"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../", "http://a/"),
            ("../../g", "http://a/g"),
            // §5.4.2, abnormal
            ("../../../g", "http://a/g"),
            ("../../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            (".g", "http://a/b/c/.g"),
            ("g..", "http://a/b/c/g.."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
            ("g?y/../x", "http://a/b/c/g?y/../x"),
            ("g#s/./x", "http://a/b/c/g"),
            ("g#s/../x", "http://a/b/c/g"),
        ];
        for (location, want) in cases {
            let got = resolve(&base, location).map(|u| u.to_string());
            assert_eq!(got.as_deref(), Some(want), "{location:?}");
        }
    }

    #[test]
    fn user_information_becomes_basic_authorization() {
        let u: Uri = "http://us%40er:p%3Aw@h:1/a?b=c".parse().unwrap();
        let (bare, auth) = take_userinfo(&u).unwrap();
        assert_eq!(bare, "http://h:1/a?b=c");
        // base64("us@er:p:w")
        assert_eq!(auth, "Basic dXNAZXI6cDp3");
        assert!(auth.is_sensitive());
        let (_, user_only) = take_userinfo(&"http://u@h/".parse().unwrap()).unwrap();
        assert_eq!(user_only, "Basic dTo=");
        assert!(take_userinfo(&"http://h:1/a".parse().unwrap()).is_none());
    }

    /// A server that answers each request by its path with `answer(path)` (status, extra
    /// headers, body), one request per connection; returns the raw requests (head and body).
    async fn scripted(
        listener: tokio::net::TcpListener,
        answer: fn(&str) -> (u16, String, String),
    ) {
        use tokio::io::AsyncWriteExt;
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let Some((head, body)) = crate::http::test_wire::read_request(&mut sock).await else {
                continue;
            };
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let body = String::from_utf8_lossy(&body).into_owned();
            SEEN.lock().unwrap().push((head, body));
            let (status, headers, body) = answer(&path);
            let resp = format!(
                "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    }

    static SEEN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

    #[test]
    fn backend_redirects_follow_reqwest_rules_within_the_origin() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(scripted(listener, |path| match path {
                "/v1/temp" => (307, "Location: /v1/final\r\n".into(), String::new()),
                "/v1/found" => (302, "Location: final\r\n".into(), String::new()),
                "/v1/see" => (303, "Location: /v1/temp\r\n".into(), String::new()),
                "/v1/loop" => (302, "Location: /v1/loop\r\n".into(), String::new()),
                "/v1/up" => (
                    303,
                    "Location: x/../../v1/./final\r\n".into(),
                    String::new(),
                ),
                "/v1/away" => (
                    302,
                    "Location: http://localhost:9/v1/final\r\n".into(),
                    String::new(),
                ),
                _ => (200, String::new(), "{\"ok\":1}".into()),
            }));
            let t = transport(&format!("http://127.0.0.1:{port}/"));
            let take = || std::mem::take(&mut *SEEN.lock().unwrap());

            // 307: the same method and body again, with the Opik headers (same origin).
            let got: serde_json::Value = t.post_json("s", "v1/temp", &[1, 2, 3]).await.unwrap();
            assert_eq!(got["ok"], 1);
            let seen = take();
            assert_eq!(seen.len(), 2);
            assert!(seen[1].0.starts_with("post /v1/final "), "{}", seen[1].0);
            assert_eq!(seen[1].1, "[1,2,3]");
            assert!(seen[1].0.contains("authorization: k"), "{}", seen[1].0);
            assert!(
                seen[1].0.contains("referer: http://127.0.0.1"),
                "{}",
                seen[1].0
            );

            // 302 of a POST: a GET without the body or its headers.
            let got: serde_json::Value = t.post_json("s", "v1/found", &[1]).await.unwrap();
            assert_eq!(got["ok"], 1);
            let seen = take();
            assert!(seen[1].0.starts_with("get /v1/final "), "{}", seen[1].0);
            assert!(!seen[1].0.contains("content-type"), "{}", seen[1].0);
            assert!(!seen[1].0.contains("content-length"), "{}", seen[1].0);
            assert_eq!(seen[1].1, "");

            // A 303, then a 307: the GET the 303 made stays a GET without a body. The caller's
            // closure runs once: a body that is not sent is not made (no file read again).
            let mut made = 0;
            let url = format!("http://127.0.0.1:{port}/v1/see");
            t.send("put", Method::PUT, &url, |rb| {
                made += 1;
                Ok(rb
                    .header(CONTENT_TYPE, HeaderValue::from_static("text/plain"))
                    .content_length(3)
                    .body(Bytes::from_static(b"abc")))
            })
            .await
            .unwrap();
            assert_eq!(made, 1);
            let seen = take();
            assert_eq!(seen.len(), 3);
            assert!(seen[0].0.starts_with("put /v1/see "), "{}", seen[0].0);
            for hop in &seen[1..] {
                assert!(hop.0.starts_with("get /v1/"), "{}", hop.0);
                assert!(!hop.0.contains("content-type"), "{}", hop.0);
                assert!(!hop.0.contains("content-length"), "{}", hop.0);
                assert_eq!(hop.1, "");
            }
            assert!(seen[2].0.starts_with("get /v1/final "), "{}", seen[2].0);

            // Without an API key, the URL's user information is the Basic authorization of
            // every hop on the backend.
            let keyless = Transport::new(
                &Config::resolve_with(
                    &crate::settings::Options {
                        url: Some(format!("http://127.0.0.1:{port}/")),
                        ..Default::default()
                    },
                    &NoEnv,
                )
                .unwrap(),
                Observer::quiet(),
            )
            .unwrap();
            let url = format!("http://u:p@127.0.0.1:{port}/v1/temp");
            let got: serde_json::Value = keyless.get_json("s", &url).await.unwrap();
            assert_eq!(got["ok"], 1);
            let seen = take();
            assert_eq!(seen.len(), 2);
            for hop in &seen {
                // base64("u:p"); the recorded head is lowercased
                assert!(hop.0.contains("authorization: basic dtpw"), "{}", hop.0);
            }
            assert!(seen[1].0.starts_with("get /v1/final "), "{}", seen[1].0);

            // A relative Location with dot segments: followed to the path they name.
            let got: serde_json::Value = t.get_json("s", &t.endpoint("v1/up")).await.unwrap();
            assert_eq!(got["ok"], 1);
            let seen = take();
            assert!(seen[1].0.starts_with("get /v1/final "), "{}", seen[1].0);

            // 307 of a streamed body: the body is made again, as for a retry, and sent again.
            let url = format!("http://127.0.0.1:{port}/v1/temp");
            t.send("put", Method::PUT, &url, |rb| {
                let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(
                    Bytes::from_static(b"abc"),
                )]);
                Ok(rb
                    .header(CONTENT_LENGTH, 3u64)
                    .body(Body::wrap_stream(chunks)))
            })
            .await
            .unwrap();
            let seen = take();
            assert_eq!(seen.len(), 2);
            assert!(seen[1].0.starts_with("put /v1/final "), "{}", seen[1].0);
            assert_eq!(seen[1].1, "abc");

            // A hop whose request cannot be made again fails with why, not as a redirect.
            let mut made = 0;
            let e = t
                .send("put", Method::PUT, &url, |rb| {
                    made += 1;
                    if made > 1 {
                        return Err(Error::new(Status::Io, "cannot read f: gone"));
                    }
                    Ok(rb.body(Bytes::from_static(b"abc")))
                })
                .await
                .unwrap_err();
            assert_eq!(e.status, Status::Io, "{}", e.message);
            assert_eq!(e.message, "cannot read f: gone");
            assert_eq!(take().len(), 1);

            // A loop, and a redirect to another origin: PROTOCOL, nothing sent elsewhere.
            let url = format!("http://127.0.0.1:{port}/v1/loop");
            let e = t
                .get_json::<serde_json::Value>("l", &url)
                .await
                .unwrap_err();
            assert_eq!(e.status, Status::Protocol, "{}", e.message);
            assert!(e.message.contains("loop"), "{}", e.message);
            assert_eq!(take().len(), 1, "the loop is seen at once, not retried");
            let url = format!("http://127.0.0.1:{port}/v1/away");
            let e = t
                .get_json::<serde_json::Value>("a", &url)
                .await
                .unwrap_err();
            assert_eq!(e.status, Status::Protocol, "{}", e.message);
            assert_eq!(e.http_status, 302);
            assert_eq!(take().len(), 1);
        });
    }
}
