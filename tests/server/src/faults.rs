//! Fault rules: injected statuses, delays, dropped connections and expired presigned URLs.

use serde::{Deserialize, Serialize};

/// What kind of request a fault rule or a transcript entry refers to. On the wire and in
/// [`FaultRule::target`] / [`crate::RecordedRequest::target`] it is the string from
/// [`Target::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `"rest"`: any JSON endpoint under `v1/private/` (and unknown paths).
    Rest,
    /// `"direct_upload"`: `PUT v1/private/attachment/upload` (direct-mode upload).
    DirectUpload,
    /// `"part"`: `PUT` to the built-in S3 emulator (a presigned UploadPart URL).
    Part,
    /// `"download"`: `GET v1/private/attachment/download` (direct-mode download).
    Download,
    /// `"storage_get"`: `GET`/`HEAD` to the built-in S3 emulator (a presigned GetObject URL).
    StorageGet,
    /// `"ping"`: `GET is-alive/ping` (and `is-alive/ver`).
    Ping,
}

/// The valid values of [`FaultRule::target`] and [`crate::RecordedRequest::target`].
pub const TARGETS: [&str; 6] = [
    "rest",
    "direct_upload",
    "part",
    "download",
    "storage_get",
    "ping",
];

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Rest => "rest",
            Target::DirectUpload => "direct_upload",
            Target::Part => "part",
            Target::Download => "download",
            Target::StorageGet => "storage_get",
            Target::Ping => "ping",
        }
    }
}

/// One fault rule. A request matching every non-`None` criterion consumes one use of the rule
/// (`times`; 0 means forever) and gets, in order: a delay of `delay_ms`; then either a dropped
/// connection (`drop_connection`), or the `status` answer, or normal processing (with presigned
/// URLs signed in the past when `expire_urls` is set, or with a corrupted signature when
/// `tamper_urls` is set).
///
/// Rules are checked in the order they were added; the first matching rule with uses left applies,
/// and only that one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultRule {
    /// HTTP method to match (`"PUT"`, case-insensitive), or any.
    pub method: Option<String>,
    /// Substring of the request path (with `?query` appended when there is one), or any.
    pub path_contains: Option<String>,
    /// Request kind to match (one of [`TARGETS`]: `"rest"`, `"direct_upload"`, `"part"`,
    /// `"download"`, `"storage_get"`, `"ping"`), or any.
    pub target: Option<String>,
    /// How many requests the rule applies to; 0 = forever. Default 1.
    pub times: u32,
    /// Answer with this status instead of processing the request.
    pub status: Option<u16>,
    /// `Retry-After` header value sent with `status`.
    pub retry_after: Option<String>,
    /// Body sent with `status`; default a JSON error (XML for storage targets).
    pub body: Option<String>,
    /// Wait this long before answering (or dropping, or processing).
    pub delay_ms: u64,
    /// Close the TCP connection without any response.
    pub drop_connection: bool,
    /// With `drop_connection`: read this many request-body bytes first (so a client sees a reset
    /// in the middle of an upload). For a request without a body (GET), the response is sent and
    /// cut off after this many body bytes instead.
    pub drop_after_bytes: Option<u64>,
    /// Presigned URLs issued while handling this request (`upload-start` part URLs, `list` links)
    /// are signed `presign_expiry_secs + 3600` seconds in the past, so they are already expired and
    /// storage answers 403 "Request has expired" (built-in emulator and external S3 alike).
    pub expire_urls: bool,
    /// Presigned URLs issued while handling this request (`upload-start` part URLs, `list` links)
    /// carry a corrupted `X-Amz-Signature` (one hex digit changed), so storage answers 403
    /// `SignatureDoesNotMatch` (built-in emulator and external S3 alike). Backend URLs (direct
    /// mode) carry no signature and are left as they are.
    pub tamper_urls: bool,

    // ---- hostile modes (issue 11): a misbehaving server ----
    /// Answer 200 (or `status`) with a JSON body that starts validly for the endpoint
    /// (`{"upload_id":"x","pre_sign_urls":["` for upload-start, `{"page":1,...,"content":[{"file_name":"`
    /// for list, `{"id":"` otherwise) and goes on with filler for this many bytes in all, with a
    /// `Content-Length`. Generated while streaming, never held in memory.
    pub huge_body_bytes: Option<u64>,
    /// Like `huge_body_bytes`, but chunked and never ending (streams until the client goes away).
    pub endless_body: bool,
    /// On `attachment/list`: answer a page of `page_entries` entries whose `total` is always larger
    /// than what was sent so far, with the same entries on every page (a server that repeats one
    /// page forever).
    pub endless_pages: bool,
    /// Like `endless_pages`, but every page has fresh, distinct entries (a list that never ends).
    pub endless_distinct_pages: bool,
    /// Entries per page of `endless_pages` / `endless_distinct_pages`; default 10.
    pub page_entries: Option<u32>,
    /// Answer `redirect_status` (default 307) with `Location` set to this, after reading the whole
    /// request body (so the client sees the answer, not a reset). Placeholders: `{recorder}` is
    /// the origin of the recording listener (started on first use, see `/_test/recorder`),
    /// `{self}` the origin of this server, `{path}` the request's path and `?query`. So
    /// `"{self}{path}"` is a redirect loop and `"{recorder}{path}"` a redirect to another port.
    pub redirect_to: Option<String>,
    /// Status of a `redirect_to` answer (301, 302, 303, 307, 308); default 307.
    pub redirect_status: Option<u16>,
    /// Error answers to this request (the `status` answer, or any answer of 400 or more the
    /// server gives) carry the request's `Authorization` value and every request header in their
    /// body: JSON `{"code","message"}` for backend targets, S3 XML for storage targets.
    pub echo_key: bool,
    /// After this many request-body bytes (or, for a request without a body, response-body
    /// bytes), stop reading (sending) for `stall_ms`, then go on.
    pub stall_after_bytes: Option<u64>,
    /// Length of the `stall_after_bytes` pause; default 0 (no stall).
    pub stall_ms: u64,
    /// Read the request body no faster than this (a slow uplink on the server side).
    pub read_bytes_per_sec: Option<u64>,
    /// Send the response body no faster than this (a slow downlink).
    pub write_bytes_per_sec: Option<u64>,
    /// `upload-start` answers upload URLs that cannot be requested and `attachment/list` answers
    /// links that cannot be requested: `bad_link`, or `"not a url"` when unset.
    pub bad_links: bool,
    /// The unusable link of `bad_links` (e.g. `"http://[::1"`, `"ftp://x/y"`).
    pub bad_link: Option<String>,
}

impl Default for FaultRule {
    fn default() -> Self {
        FaultRule {
            method: None,
            path_contains: None,
            target: None,
            times: 1,
            status: None,
            retry_after: None,
            body: None,
            delay_ms: 0,
            drop_connection: false,
            drop_after_bytes: None,
            expire_urls: false,
            tamper_urls: false,
            huge_body_bytes: None,
            endless_body: false,
            endless_pages: false,
            endless_distinct_pages: false,
            page_entries: None,
            redirect_to: None,
            redirect_status: None,
            echo_key: false,
            stall_after_bytes: None,
            stall_ms: 0,
            read_bytes_per_sec: None,
            write_bytes_per_sec: None,
            bad_links: false,
            bad_link: None,
        }
    }
}

impl FaultRule {
    fn matches(&self, method: &str, path_and_query: &str, target: Target) -> bool {
        self.method
            .as_deref()
            .map_or(true, |m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .map_or(true, |p| path_and_query.contains(p))
            && self
                .target
                .as_deref()
                .map_or(true, |t| t == target.as_str())
    }

    /// Checks that `target` names a known request kind.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(t) = self.target.as_deref() {
            if !TARGETS.contains(&t) {
                return Err(format!(
                    "unknown fault target {t:?}; expected one of {TARGETS:?}"
                ));
            }
        }
        if let Some(s) = self.redirect_status {
            if !matches!(s, 301 | 302 | 303 | 307 | 308) {
                return Err(format!("redirect_status {s} is not a redirect status"));
            }
        }
        if self.read_bytes_per_sec == Some(0) || self.write_bytes_per_sec == Some(0) {
            return Err("read_bytes_per_sec and write_bytes_per_sec must be positive".into());
        }
        if self.page_entries == Some(0) {
            return Err("page_entries must be positive".into());
        }
        Ok(())
    }

    /// The link given by `bad_links`, if set.
    pub(crate) fn bad_link(&self) -> Option<String> {
        self.bad_links
            .then(|| self.bad_link.clone().unwrap_or_else(|| "not a url".into()))
    }
}

/// A rule plus its remaining uses (`None` = unlimited).
#[derive(Debug)]
pub(crate) struct ActiveFault {
    pub rule: FaultRule,
    pub remaining: Option<u32>,
}

impl ActiveFault {
    pub fn new(rule: FaultRule) -> Self {
        let remaining = if rule.times == 0 {
            None
        } else {
            Some(rule.times)
        };
        ActiveFault { rule, remaining }
    }
}

/// Finds the first applicable rule, consumes one use and returns a copy of it.
pub(crate) fn take_matching(
    faults: &mut [ActiveFault],
    method: &str,
    path_and_query: &str,
    target: Target,
) -> Option<FaultRule> {
    let fault = faults
        .iter_mut()
        .find(|f| f.remaining != Some(0) && f.rule.matches(method, path_and_query, target))?;
    if let Some(n) = fault.remaining.as_mut() {
        *n -= 1;
    }
    Some(fault.rule.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_counted_and_zero_means_forever() {
        let rule = FaultRule {
            path_contains: Some("upload-start".into()),
            times: 2,
            ..Default::default()
        };
        let forever = FaultRule {
            target: Some("ping".into()),
            times: 0,
            ..Default::default()
        };
        let mut faults = vec![ActiveFault::new(rule), ActiveFault::new(forever)];
        let start = "/v1/private/attachment/upload-start";
        assert!(take_matching(&mut faults, "POST", start, Target::Rest).is_some());
        assert!(take_matching(&mut faults, "POST", start, Target::Rest).is_some());
        assert!(take_matching(&mut faults, "POST", start, Target::Rest).is_none());
        for _ in 0..5 {
            assert!(take_matching(&mut faults, "GET", "/is-alive/ping", Target::Ping).is_some());
        }
    }

    #[test]
    fn all_criteria_must_match() {
        let rule = FaultRule {
            method: Some("put".into()),
            target: Some("part".into()),
            path_contains: Some("partNumber=2".into()),
            ..Default::default()
        };
        let mut faults = vec![ActiveFault::new(rule)];
        assert!(take_matching(&mut faults, "GET", "/s3/b/k?partNumber=2", Target::Part).is_none());
        assert!(take_matching(&mut faults, "PUT", "/s3/b/k?partNumber=1", Target::Part).is_none());
        assert!(take_matching(
            &mut faults,
            "PUT",
            "/s3/b/k?partNumber=2",
            Target::StorageGet
        )
        .is_none());
        assert!(take_matching(&mut faults, "PUT", "/s3/b/k?partNumber=2", Target::Part).is_some());
    }

    #[test]
    fn json_defaults() {
        let rule: FaultRule =
            serde_json::from_str(r#"{"status":503,"target":"direct_upload"}"#).unwrap();
        assert_eq!(rule.times, 1);
        assert_eq!(rule.status, Some(503));
        assert_eq!(rule.target.as_deref(), Some("direct_upload"));
        assert!(rule.validate().is_ok());
        let bad: FaultRule = serde_json::from_str(r#"{"target":"parts"}"#).unwrap();
        assert!(bad.validate().is_err());
        assert!(!rule.drop_connection);
        assert!(!rule.tamper_urls);
        let tamper: FaultRule = serde_json::from_str(r#"{"tamper_urls":true}"#).unwrap();
        assert!(tamper.tamper_urls && !tamper.expire_urls);
    }
}
