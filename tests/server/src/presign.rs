//! Presigned SigV4 URLs (query authentication), built with rusty-s3.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use url::Url;

/// Access key of the built-in emulator (fixed test credential).
pub(crate) const BUILTIN_ACCESS_KEY: &str = "OPIKTESTACCESSKEY";
/// Secret key of the built-in emulator.
pub(crate) const BUILTIN_SECRET_KEY: &str = "opik-test-secret-key-not-a-secret";
/// Region of the built-in emulator.
pub(crate) const BUILTIN_REGION: &str = "us-east-1";
/// Bucket of the built-in emulator.
pub(crate) const BUILTIN_BUCKET: &str = "opik";

/// Signs URLs for one bucket.
#[derive(Debug)]
pub(crate) struct Presigner {
    bucket: Bucket,
    credentials: Credentials,
    expiry_secs: u64,
}

impl Presigner {
    /// `endpoint`: the S3 endpoint (path-style), e.g. `http://127.0.0.1:9000` or
    /// `http://127.0.0.1:PORT/s3`.
    pub fn new(
        endpoint: &str,
        bucket: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
        expiry_secs: u64,
    ) -> Result<Self, String> {
        let mut endpoint: Url = endpoint
            .parse()
            .map_err(|e| format!("bad S3 endpoint {endpoint:?}: {e}"))?;
        if !endpoint.path().ends_with('/') {
            let path = format!("{}/", endpoint.path());
            endpoint.set_path(&path);
        }
        let bucket = Bucket::new(
            endpoint,
            UrlStyle::Path,
            bucket.to_string(),
            region.to_string(),
        )
        .map_err(|e| format!("bad S3 bucket settings: {e:?}"))?;
        Ok(Presigner {
            bucket,
            credentials: Credentials::new(access_key, secret_key),
            expiry_secs,
        })
    }

    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The signing time: now, or far enough in the past that the URL is already expired.
    fn time(&self, expired: bool) -> (Duration, Timestamp) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let at = if expired {
            now - self.expiry_secs as i64 - 3600
        } else {
            now
        };
        let ts = Timestamp::from_second(at).expect("time in range");
        (Duration::from_secs(self.expiry_secs), ts)
    }

    /// Presigned UploadPart URL for part `part_number` (1-based).
    pub fn upload_part_url(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        expired: bool,
    ) -> String {
        let (expiry, at) = self.time(expired);
        self.bucket
            .upload_part(Some(&self.credentials), key, part_number, upload_id)
            .sign_with_time(expiry, &at)
            .to_string()
    }

    /// Presigned GetObject URL.
    pub fn get_object_url(&self, key: &str, expired: bool) -> String {
        let (expiry, at) = self.time(expired);
        self.bucket
            .get_object(Some(&self.credentials), key)
            .sign_with_time(expiry, &at)
            .to_string()
    }
}

/// The URL with one hex digit of its `X-Amz-Signature` changed (the `tamper_urls` fault). A URL
/// without a signature is returned unchanged.
pub(crate) fn tamper(url: &str) -> String {
    const PARAM: &str = "X-Amz-Signature=";
    let Some(start) = url.find(PARAM).map(|i| i + PARAM.len()) else {
        return url.to_string();
    };
    let end = url[start..].find('&').map_or(url.len(), |i| start + i);
    if start == end {
        return url.to_string();
    }
    let mut out = url.to_string();
    let last = out.as_bytes()[end - 1];
    let replacement = if last == b'0' { "1" } else { "0" };
    out.replace_range(end - 1..end, replacement);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tamper_changes_only_the_signature() {
        let url = "http://h/b/k?X-Amz-Date=1&X-Amz-Signature=abc9&partNumber=1";
        assert_eq!(
            tamper(url),
            "http://h/b/k?X-Amz-Date=1&X-Amz-Signature=abc0&partNumber=1"
        );
        assert_eq!(
            tamper("http://h/b/k?X-Amz-Signature=12a0"),
            "http://h/b/k?X-Amz-Signature=12a1"
        );
        assert_eq!(
            tamper("http://h/v1/private/attachment/download?x=1"),
            "http://h/v1/private/attachment/download?x=1"
        );
    }
}
