//! The request transcript: every request except `/_test/*`, in arrival order.

use std::collections::BTreeMap;

use hyper::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::faults::Target;

/// One recorded request, as returned by `GET /_test/requests` and [`crate::TestServer::requests`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `PUT`.
    pub method: String,
    /// Request path as received (still percent-encoded), e.g. `/v1/private/attachment/list`.
    pub path: String,
    /// Raw query string without `?`, or `None`.
    pub query: Option<String>,
    /// All request headers, names lowercased; repeated headers are joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The JSON body after gunzip for JSON endpoints, `None` otherwise (or when unparsable).
    pub body_json: Option<serde_json::Value>,
    /// Request-body bytes received (as sent on the wire, i.e. before gunzip).
    pub body_len: u64,
    /// Response status; 0 while the request is still in flight or when the connection was
    /// dropped by a fault.
    pub status: u16,
    /// What kind of request it was: `"rest"`, `"direct_upload"`, `"part"`, `"download"`,
    /// `"storage_get"` or `"ping"`.
    pub target: String,
}

impl RecordedRequest {
    pub(crate) fn begin(parts: &Parts, target: Target) -> Self {
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
        RecordedRequest {
            method: parts.method.as_str().to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers,
            body_json: None,
            body_len: 0,
            status: 0,
            target: target.as_str().to_string(),
        }
    }
}

/// A transcript entry with the id used to update it when the response is known.
#[derive(Debug)]
pub(crate) struct Entry {
    pub id: u64,
    pub request: RecordedRequest,
}

/// Finds an entry by id (searching from the end: updates are nearly always for recent requests).
pub(crate) fn find(entries: &mut [Entry], id: u64) -> Option<&mut RecordedRequest> {
    entries
        .iter_mut()
        .rev()
        .find(|e| e.id == id)
        .map(|e| &mut e.request)
}
