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
    pub fn of(url: &reqwest::Url) -> Option<Origin> {
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
