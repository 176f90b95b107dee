//! The Opik URL: from the options or the API key, checked and normalised.

use crate::encoding::decode_base64_lenient;
use crate::error::{Error, Result};

/// Checks the scheme and makes the URL end in `/`, so `v1/private/...` joins without losing the
/// last path segment (`https://host/opik/api` and `https://host/opik/api/` are the same API).
pub fn normalize_base_url(url: &str) -> Result<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url[7..]
    } else if lower.starts_with("https://") {
        &url[8..]
    } else {
        return Err(Error::config(format!(
            "Opik URL {url:?} must start with http:// or https://"
        )));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(Error::config(format!("Opik URL {url:?} has no host")));
    }
    if url.contains(['?', '#']) {
        return Err(Error::config(format!(
            "Opik URL {url:?} must not have a query or fragment"
        )));
    }
    Ok(if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    })
}

/// An API key of the form `<key>*<base64 JSON>` may carry `"baseUrl"`; the API then lives at
/// `<baseUrl>` joined with `opik/api/` (URL-join rules: a last segment without `/` is replaced).
pub fn url_from_api_key(api_key: &str) -> Option<String> {
    let (_, encoded) = api_key.split_once('*')?;
    let bytes = decode_base64_lenient(encoded.trim())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let base = json.get("baseUrl")?.as_str()?.trim();
    if base.is_empty() {
        return None;
    }
    // Keep scheme://host, then apply the join on the path.
    let after_scheme = base.find("://").map(|i| i + 3)?;
    let path_start = base[after_scheme..]
        .find('/')
        .map(|i| i + after_scheme)
        .unwrap_or(base.len());
    let (origin, path) = base.split_at(path_start);
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    Some(format!("{origin}{dir}opik/api/"))
}
