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
