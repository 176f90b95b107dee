//! Who a URL belongs to: the configured Opik backend (which gets the Opik headers) or anyone else,
//! presigned storage above all (which never gets them). The rule is applied on every hop.

/// Who answers a request: the Opik backend (gets the Opik headers) or a storage service behind a
/// presigned URL (never gets them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Backend,
    Storage,
}

/// Scheme, host and port: what "the same server" means for credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    pub fn of(url: &http::Uri) -> Option<Origin> {
        let scheme = url.scheme_str()?.to_ascii_lowercase();
        let (host, port) = host_and_port(url.authority()?.as_str());
        if host.is_empty() {
            return None;
        }
        Some(Origin {
            host: host.to_ascii_lowercase(),
            port: port_or_default(port, &scheme),
            scheme,
        })
    }

    /// Whether `url` is on this origin, without allocating (run for every request).
    pub fn holds(&self, url: &http::Uri) -> bool {
        let (Some(scheme), Some(authority)) = (url.scheme_str(), url.authority()) else {
            return false;
        };
        let (host, port) = host_and_port(authority.as_str());
        scheme.eq_ignore_ascii_case(&self.scheme)
            && host.eq_ignore_ascii_case(&self.host)
            && port_or_default(port, scheme) == self.port
    }
}

/// An authority's host (an IPv6 literal with its brackets) and the text after its port's colon,
/// without user information, as `http`'s `host()` and `port()` read them, by byte scans: on the
/// short authority these cost less than their searchers (run for every request).
pub(crate) fn host_and_port(authority: &str) -> (&str, Option<&str>) {
    let host_port = match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    // The port follows the last colon, unless that is inside an IPv6 literal's brackets.
    match host_port.bytes().rposition(|b| b == b':' || b == b']') {
        Some(i) if host_port.as_bytes()[i] == b':' => (&host_port[..i], Some(&host_port[i + 1..])),
        _ => (host_port, None),
    }
}

/// The port a URL's authority names, or its scheme's (80, 443) when it names none.
pub(crate) fn port_or_default(port: Option<&str>, scheme: &str) -> Option<u16> {
    port.and_then(|p| p.parse().ok())
        .or(if scheme.eq_ignore_ascii_case("http") {
            Some(80)
        } else if scheme.eq_ignore_ascii_case("https") {
            Some(443)
        } else {
            None
        })
}

/// Why a URL cannot be requested.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BadUrl {
    /// Not a URL `http` reads, even percent-encoded, or a port that is not a number below 65536.
    Syntax,
    /// A non-ASCII host name that is not a valid internationalised domain name.
    Host(String),
}

impl std::fmt::Display for BadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadUrl::Syntax => f.write_str("not a valid URL"),
            BadUrl::Host(h) => write!(f, "the host name {h:?} is not a valid domain name"),
        }
    }
}

/// Parses a URL for a request. One with bytes a URI may not hold (spaces, `"<>\`{}|^\\`,
/// non-ASCII) gets them percent-encoded first, and a non-ASCII host name becomes its ASCII
/// (punycode, `xn--`) form, as `url::Url` (what reqwest parsed with) did; the usual URL, all
/// allowed ASCII, is parsed as it is. A port that is not a number below 65536 is refused.
pub(crate) fn parse_uri(url: &str) -> Option<http::Uri> {
    parse_url(url).ok()
}

/// [`parse_uri`], saying why a URL is refused.
pub(crate) fn parse_url(url: &str) -> Result<http::Uri, BadUrl> {
    // `is_ascii` runs a word at a time; `http` refuses the other bytes in question itself.
    let uri = match url
        .is_ascii()
        .then(|| url.parse::<http::Uri>().ok())
        .flatten()
    {
        Some(uri) => uri,
        None => encoded(&with_ascii_host(url.trim())?)
            .parse()
            .map_err(|_| BadUrl::Syntax)?,
    };
    // `http` drops a port it cannot read (`port()` is then `None`), which would make the URL's
    // origin the scheme's default port.
    let authority = uri.authority().ok_or(BadUrl::Syntax)?.as_str();
    if let (_, Some(port)) = host_and_port(authority) {
        if !port.is_empty() && port.parse::<u16>().is_err() {
            return Err(BadUrl::Syntax);
        }
    }
    Ok(uri)
}

/// `url` with a non-ASCII host name in its ASCII form (UTS #46 with the URL standard's forbidden
/// code points, as `url::Url` converted it), the rest untouched; the slow path of [`parse_url`].
fn with_ascii_host(url: &str) -> Result<std::borrow::Cow<'_, str>, BadUrl> {
    let unchanged = Ok(std::borrow::Cow::Borrowed(url));
    let Some(scheme_end) = url.find("://") else {
        return unchanged;
    };
    if url[..scheme_end].contains(['/', '?', '#']) {
        return unchanged;
    }
    let start = scheme_end + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let authority = &url[start..end];
    let host_start = start + authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &url[host_start..end];
    // A bracketed IPv6 address is ASCII; a colon after a host name starts its port.
    let host = &host_port[..host_port.rfind(':').unwrap_or(host_port.len())];
    if host.is_ascii() {
        return unchanged;
    }
    let ascii = idna::domain_to_ascii_cow(host.as_bytes(), idna::AsciiDenyList::URL)
        .map_err(|_| BadUrl::Host(host.to_owned()))?;
    if ascii.is_empty() {
        return Err(BadUrl::Host(host.to_owned()));
    }
    let rest = &url[host_start + host.len()..];
    Ok(std::borrow::Cow::Owned(format!(
        "{}{ascii}{rest}",
        &url[..host_start]
    )))
}

/// A URL's user information (`user:password@`) taken out: the URL without it and the
/// `Authorization: Basic` header it stands for (what reqwest sent), or `None` when it has none.
/// The user and password are percent-decoded first, as a browser does.
pub(crate) fn take_userinfo(uri: &http::Uri) -> Option<(http::Uri, http::HeaderValue)> {
    use base64::Engine as _;
    let authority = uri.authority()?.as_str();
    // A byte scan: `rsplit_once`'s searcher costs more than the short authority (every request).
    let at = authority.bytes().rposition(|b| b == b'@')?;
    let (userinfo, host_port) = (&authority[..at], &authority[at + 1..]);
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let mut credentials = percent_decoded(user);
    credentials.push(b':');
    credentials.extend(percent_decoded(password));
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut header = http::HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
    header.set_sensitive(true);
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(host_port.parse().ok()?);
    Some((http::Uri::from_parts(parts).ok()?, header))
}

fn percent_decoded(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// `url` with the bytes a URI may not hold percent-encoded.
fn encoded(url: &str) -> String {
    let mut out = String::with_capacity(url.len() + 16);
    for b in url.bytes() {
        if !b.is_ascii_graphic()
            || matches!(
                b,
                b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'\\' | b'^'
            )
        {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Presigned S3 URLs carry their own signature in their query (the test the Python SDK uses
/// too). Only the query is searched: the backend's own URLs have none, and each search of a whole
/// URL cost more than the rest of the check of where a request goes.
pub fn is_presigned(url: &str) -> bool {
    url.split_once('?')
        .is_some_and(|(_, query)| is_presigned_query(query))
}

/// [`is_presigned`] for a URL already parsed: `http` keeps where its query starts.
pub(crate) fn is_presigned_query(query: &str) -> bool {
    query.contains("X-Amz-Signature=")
        || (query.contains("Signature=") && query.contains("AWSAccessKeyId="))
}

/// A URL fit for a message: presigned queries are credentials for storage, so the query is cut,
/// and so is a `user:password@`.
pub fn display_url(url: &str) -> std::borrow::Cow<'_, str> {
    let bare = url.split('?').next().unwrap_or(url);
    if let Some((scheme, rest)) = bare.split_once("://") {
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        if let Some(at) = authority.rfind('@') {
            return format!("{scheme}://{}", &rest[at + 1..]).into();
        }
    }
    bare.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_urls_are_told_by_their_query() {
        assert!(is_presigned(
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Signature=ab"
        ));
        assert!(is_presigned(
            "https://b.s3.amazonaws.com/k?AWSAccessKeyId=A&Expires=1&Signature=x"
        ));
        assert!(!is_presigned("https://b.s3.amazonaws.com/k?Signature=x"));
        assert!(!is_presigned(
            "https://opik.example/api/v1/private/attachment/upload-start"
        ));
        assert!(!is_presigned("https://h/X-Amz-Signature=ab/k"));
        assert!(!is_presigned("https://h/k?x=1"));
    }

    #[test]
    fn host_and_port_reads_as_http_does() {
        for url in [
            "http://example.com/x",
            "http://example.com:8080/x",
            "http://user:pw@example.com:81/x",
            "http://u@h/",
            "http://[::1]/x",
            "http://[::1]:9000/x",
            "http://u:p@[::1]:9000/x",
            "https://h:/x",
            "http://h:080/",
        ] {
            let uri: http::Uri = url.parse().unwrap();
            let (host, port) = host_and_port(uri.authority().unwrap().as_str());
            assert_eq!(Some(host), uri.host(), "{url}");
            assert_eq!(
                port.and_then(|p| p.parse::<u16>().ok()),
                uri.port_u16(),
                "{url}"
            );
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port_as_urls_mean_them() {
        let o = Origin::of(&"http://Example.com/base/".parse().unwrap()).unwrap();
        for (url, same) in [
            ("http://example.com:80/x", true),
            ("HTTP://EXAMPLE.COM/y", true),
            ("http://u:p@example.com/z", true),
            ("https://example.com/x", false),
            ("http://example.com:8080/x", false),
            ("http://example.org/x", false),
        ] {
            assert_eq!(o.holds(&url.parse().unwrap()), same, "{url}");
        }
        assert!(Origin::of(&"/relative".parse().unwrap()).is_none());
    }
}
