//! The transport: one connection-pooled HTTP client for the Opik backend and one for presigned
//! storage URLs, requests with the right headers for their peer, sending with retries and stall
//! timers, capped reads of answers, and redaction of the API key from every error it makes.

use super::errors::{
    check_requestable, error_for_status, error_from_reqwest, redirect_refused, RedirectRefused,
};
use super::peer::{display_url, is_presigned, Origin, Peer};
use super::retry::{is_retryable_status, retry_after};
use super::stall;
use crate::error::{Error, Result, Status};
use crate::observe::{Counter, Level, Observer};
use crate::settings::{Config, RetryPolicy};
use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
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
    settings: Arc<HttpSettings>,
    observer: Arc<Observer>,
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
            // A CA bundle is at most a few MiB; a FIFO or device must not hang client creation.
            let pem = crate::sys::file_reads::read_small(path, 64 << 20).map_err(|e| {
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
    /// [`stall`] limit silence instead.
    fn clients(&self, origin: &Origin) -> Result<(reqwest::Client, reqwest::Client)> {
        let build = |redirects: reqwest::redirect::Policy| {
            let mut b = reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(self.timeout)
                .pool_max_idle_per_host(self.idle_per_host)
                .connector_layer(super::unsent::LimitUnsent)
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

impl Transport {
    pub fn new(config: &Config, observer: Arc<Observer>) -> Result<Transport> {
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
            observer,
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

    /// A request to `url` on the right client, with the Opik headers only for the backend. One
    /// that does not parse goes out with no Opik header and fails when sent.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        match reqwest::Url::parse(url) {
            Ok(parsed) => self.request_to(method, url, parsed),
            Err(_) => self.storage.request(method, url),
        }
    }

    /// [`Transport::request`] for a URL already parsed: URL parsing was a third of a small
    /// upload's instructions, so [`Transport::send`] parses each URL once for all its attempts.
    fn request_to(&self, method: Method, url: &str, parsed: reqwest::Url) -> RequestBuilder {
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
        build: impl FnMut(RequestBuilder) -> Result<RequestBuilder>,
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
        mut build: impl FnMut(RequestBuilder) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let parsed = check_requestable(step, url)?;
        let mut retry = 0;
        loop {
            let last = retry + 1 >= self.retry.attempts;
            let fresh = self.request_to(method.clone(), url, parsed.clone());
            let (client, request) = build(fresh)?.build_split();
            let mut request = request.map_err(|e| error_from_reqwest(step, url, &e))?;
            let clock = stall::Clock::new();
            if let Some(body) = request.body_mut().take() {
                *request.body_mut() = Some(stall::Watched::wrap(body, clock.clone()));
            }
            let outcome = stall::watch(&clock, self.timeout, client.execute(request)).await;
            let wait = match outcome {
                Some(Ok(resp)) if resp.status().is_success() => return Ok(resp),
                Some(Ok(resp)) if resp.status().is_redirection() => {
                    return Err(redirect_refused(step, url, &resp))
                }
                Some(Ok(resp)) => {
                    let status = resp.status();
                    if last || !is_retryable_status(status) {
                        let peer = self.peer_of_parsed(url, &parsed);
                        return Err(self.error_from_response(step, url, peer, resp).await);
                    }
                    let after = retry_after(&resp).map(|d| d.min(self.retry.max_retry_after));
                    let wait = after.unwrap_or_else(|| self.retry.backoff(retry));
                    self.note_retry(step, url, &format!("HTTP {}", status.as_u16()), wait, retry);
                    wait
                }
                outcome => {
                    let err = match outcome {
                        Some(Err(e)) => error_from_reqwest(step, url, &e),
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
        self.post_json_bytes(step, url, json).await
    }

    /// POSTs JSON already encoded (gzipped when large) to a backend endpoint; expects a 2xx.
    pub async fn post_encoded_json(&self, step: &str, path: &str, json: Vec<u8>) -> Result<()> {
        let url = self.endpoint(path);
        self.post_json_bytes(step, &url, json).await.map(drop)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(base: &str) -> Transport {
        let opts = crate::settings::Options {
            url: Some(base.into()),
            api_key: Some("k".into()),
            ..Default::default()
        };
        struct NoEnv;
        impl crate::settings::Environment for NoEnv {
            fn var(&self, _: &str) -> Option<String> {
                None
            }
            fn home_dir(&self) -> Option<std::path::PathBuf> {
                None
            }
        }
        Transport::new(
            &Config::resolve_with(&opts, &NoEnv).unwrap(),
            Observer::quiet(),
        )
        .unwrap()
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
}
