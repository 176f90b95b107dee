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
        let port = url.port_u16().or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        Some(Origin {
            host: url.host()?.to_ascii_lowercase(),
            scheme,
            port,
        })
    }

    /// Whether `url` is on this origin, without allocating (run for every request).
    pub fn holds(&self, url: &http::Uri) -> bool {
        let Some(scheme) = url.scheme_str() else {
            return false;
        };
        let port = url.port_u16().or(match scheme {
            s if s.eq_ignore_ascii_case("http") => Some(80),
            s if s.eq_ignore_ascii_case("https") => Some(443),
            _ => None,
        });
        scheme.eq_ignore_ascii_case(&self.scheme)
            && url
                .host()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.host))
            && port == self.port
    }
}

/// Parses a URL for a request. One with bytes a URI may not hold (spaces, `"<>\`{}|^\\`,
/// non-ASCII) gets them percent-encoded first, as `url::Url` (what reqwest parsed with) did; the
/// usual URL, all allowed ASCII, is parsed as it is. A port that is not a number below 65536 is
/// refused.
pub(crate) fn parse_uri(url: &str) -> Option<http::Uri> {
    // `is_ascii` runs a word at a time; `http` refuses the other bytes in question itself.
    let uri = match url
        .is_ascii()
        .then(|| url.parse::<http::Uri>().ok())
        .flatten()
    {
        Some(uri) => uri,
        None => encoded(url).parse().ok()?,
    };
    // `http` drops a port it cannot read (`port()` is then `None`), which would make the URL's
    // origin the scheme's default port.
    let authority = uri.authority()?.as_str();
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if let Some((_, port)) = host_port.rsplit_once(':') {
        if !port.contains(']') && !port.is_empty() && port.parse::<u16>().is_err() {
            return None;
        }
    }
    Some(uri)
}

/// A URL's user information (`user:password@`) taken out: the URL without it and the
/// `Authorization: Basic` header it stands for (what reqwest sent), or `None` when it has none.
/// The user and password are percent-decoded first, as a browser does.
pub(crate) fn take_userinfo(uri: &http::Uri) -> Option<(http::Uri, http::HeaderValue)> {
    use base64::Engine as _;
    let authority = uri.authority()?.as_str();
    let (userinfo, host_port) = authority.rsplit_once('@')?;
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
    for b in url.trim().bytes() {
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

/// Presigned S3 URLs carry their own signature (the test the Python SDK uses too).
pub fn is_presigned(url: &str) -> bool {
    url.contains("X-Amz-Signature=")
        || (url.contains("Signature=") && url.contains("AWSAccessKeyId="))
}

/// A URL fit for a message: presigned queries are credentials for storage, so the query is cut.
pub fn display_url(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
