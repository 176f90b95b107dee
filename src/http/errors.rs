//! How HTTP failures become [`Error`]s: statuses, the server's own words, and URLs without
//! their presigned queries. Redaction of the API key happens in the transport, which owns it.

use super::peer::{display_url, Peer};
use super::pool::Response;
use crate::error::{Error, Result, Status};
use http::StatusCode;

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

/// Why a redirect was not followed.
#[derive(Debug)]
pub(crate) struct RedirectRefused(pub &'static str);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for RedirectRefused {}

/// A URL the server handed out that cannot be requested (not a URL, not http or https) fails
/// the same way however often it is tried: `OPIK_ERR_PROTOCOL`, never retried.
/// Returns the URL parsed (once, with `http::Uri`: no `url::Url` on the request path).
pub(crate) fn check_requestable(step: &str, url: &str) -> Result<http::Uri> {
    let why = match super::peer::parse_url(url) {
        Ok(u)
            if matches!(u.scheme_str(), Some("http" | "https"))
                && u.authority()
                    .is_some_and(|a| !super::peer::host_and_port(a.as_str()).0.is_empty()) =>
        {
            return Ok(u);
        }
        Ok(_) | Err(super::peer::BadUrl::Syntax) => String::new(),
        Err(bad) => format!(" ({bad})"),
    };
    Err(Error::protocol(format!(
        "{step}: the server gave a link that is not an http(s) URL{why}: {:?}",
        display_url(url).chars().take(200).collect::<String>()
    )))
}

/// A redirect the backend client did not follow (it pointed at another origin) or storage sent:
/// the Opik API specifies none, and following it would send credentials or the body elsewhere.
pub(crate) fn redirect_refused(step: &str, url: &str, resp: &Response) -> Error {
    let to = resp
        .headers()
        .get(http::header::LOCATION)
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

/// The error for a non-2xx answer from `peer` with `code` and (the start of) its `body`.
pub(crate) fn error_for_status(
    step: &str,
    url: &str,
    peer: Peer,
    code: StatusCode,
    body: &[u8],
) -> Error {
    let detail = server_message(body);
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

/// Maps a transport-level failure (hyper's client error, a body's read error). The message
/// never holds a URL but our own shortened one (a presigned URL's query is a credential).
pub fn error_from_transport(step: &str, url: &str, e: &(dyn std::error::Error + 'static)) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut timed_out = false;
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
        // A redirect hop's request that could not be made (its body's file gone): its own error.
        if let Some(made) = s.downcast_ref::<Error>() {
            return made.clone();
        }
        if let Some(refused) = s.downcast_ref::<RedirectRefused>() {
            return Error::protocol(format!("{step}: {refused} ({})", display_url(url)));
        }
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || s.downcast_ref::<hyper::Error>()
                .is_some_and(|h| h.is_timeout())
        {
            timed_out = true;
        }
        source = s.source();
    }
    let mut connect = false;
    let status = if timed_out {
        Status::Timeout
    } else {
        Status::Network
    };
    let mut detail = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        // The connect failure says only that; its cause follows.
        if s.is::<super::pool::ConnectError>() {
            connect = true;
        } else {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
        }
        source = s.source();
    }
    let what = if timed_out {
        "timed out"
    } else if connect {
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
        assert_eq!(
            display_url("http://user:pw@s3:9/b/k@x?q=1"),
            "http://s3:9/b/k@x"
        );
    }
}
