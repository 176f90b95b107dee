//! An external S3 server (e.g. SeaweedFS) as the storage of S3 mode.
//!
//! The server's own calls (bucket, multipart create/complete, head, delete, get) are sent to
//! short-lived presigned URLs with reqwest; clients get presigned UploadPart/GetObject URLs for
//! the same endpoint and talk to it directly.

use std::time::Duration;

use futures_util::StreamExt;
use rusty_s3::actions::CreateMultipartUpload;
use rusty_s3::S3Action;
use sha2::{Digest, Sha256};

use crate::config::ExternalS3;
use crate::presign::Presigner;

/// Validity of the server's own signed requests.
const OWN_REQUEST_EXPIRY: Duration = Duration::from_secs(300);

/// An S3 error: code and message from the XML body (or the status and body text).
#[derive(Debug)]
pub(crate) struct S3Failure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for S3Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {}): {}", self.code, self.status, self.message)
    }
}

/// Client for the external S3 endpoint.
#[derive(Debug)]
pub(crate) struct ExternalStore {
    pub presigner: Presigner,
    http: reqwest::Client,
}

impl ExternalStore {
    /// Connects and creates the bucket if it does not exist.
    pub async fn connect(cfg: &ExternalS3, presign_expiry_secs: u64) -> Result<Self, String> {
        let presigner = Presigner::new(
            &cfg.endpoint,
            &cfg.bucket,
            &cfg.region,
            &cfg.access_key,
            &cfg.secret_key,
            presign_expiry_secs,
        )?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let store = ExternalStore { presigner, http };
        store.ensure_bucket().await?;
        Ok(store)
    }

    async fn ensure_bucket(&self) -> Result<(), String> {
        let bucket = self.presigner.bucket();
        let creds = self.presigner.credentials();
        let head = bucket.head_bucket(Some(creds)).sign(OWN_REQUEST_EXPIRY);
        let resp = self
            .http
            .head(head)
            .send()
            .await
            .map_err(|e| format!("HEAD bucket: {e}"))?;
        if resp.status().is_success() {
            return Ok(());
        }
        let create = bucket.create_bucket(creds).sign(OWN_REQUEST_EXPIRY);
        let resp = self
            .http
            .put(create)
            .send()
            .await
            .map_err(|e| format!("CreateBucket: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if (200..300).contains(&status) || body.contains("BucketAlreadyOwnedByYou") {
            Ok(())
        } else {
            Err(format!(
                "CreateBucket {}: HTTP {status}: {body}",
                bucket.name()
            ))
        }
    }

    /// CreateMultipartUpload with the object's Content-Type; returns the UploadId.
    pub async fn create_multipart(&self, key: &str, mime_type: &str) -> Result<String, S3Failure> {
        let mut action = self
            .presigner
            .bucket()
            .create_multipart_upload(Some(self.presigner.credentials()), key);
        action
            .headers_mut()
            .insert("content-type", mime_type.to_string());
        let url = action.sign(OWN_REQUEST_EXPIRY);
        let resp = self
            .http
            .post(url)
            .header("content-type", mime_type)
            .send()
            .await
            .map_err(transport)?;
        let body = checked(resp).await?;
        CreateMultipartUpload::parse_response(&body)
            .map(|r| r.upload_id().to_string())
            .map_err(|e| S3Failure {
                status: 200,
                code: "MalformedResponse".into(),
                message: e.to_string(),
            })
    }

    /// CompleteMultipartUpload with the ETags in the given order (part numbers 1..=n).
    pub async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), S3Failure> {
        let action = self.presigner.bucket().complete_multipart_upload(
            Some(self.presigner.credentials()),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(OWN_REQUEST_EXPIRY);
        let body = action.body();
        let resp = self
            .http
            .post(url)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let text = checked(resp).await?;
        // S3 may answer 200 and still report an error in the body.
        if text.windows(7).any(|w| w == b"<Error>") {
            return Err(parse_error(200, &text));
        }
        Ok(())
    }

    /// Object size from HeadObject.
    pub async fn head_size(&self, key: &str) -> Result<u64, S3Failure> {
        let url = self
            .presigner
            .bucket()
            .head_object(Some(self.presigner.credentials()), key)
            .sign(OWN_REQUEST_EXPIRY);
        let resp = self.http.head(url).send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(S3Failure {
                status: resp.status().as_u16(),
                code: "HeadObject".into(),
                message: "failed".into(),
            });
        }
        resp.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| S3Failure {
                status: 200,
                code: "HeadObject".into(),
                message: "no Content-Length".into(),
            })
    }

    /// DeleteObject (a missing object is not an error in S3).
    pub async fn delete(&self, key: &str) -> Result<(), S3Failure> {
        let url = self
            .presigner
            .bucket()
            .delete_object(Some(self.presigner.credentials()), key)
            .sign(OWN_REQUEST_EXPIRY);
        let resp = self.http.delete(url).send().await.map_err(transport)?;
        checked(resp).await.map(|_| ())
    }

    /// Hex SHA-256 of the object, streamed.
    pub async fn sha256(&self, key: &str) -> Result<String, S3Failure> {
        let url = self
            .presigner
            .bucket()
            .get_object(Some(self.presigner.credentials()), key)
            .sign(OWN_REQUEST_EXPIRY);
        let resp = self.http.get(url).send().await.map_err(transport)?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let text = resp.bytes().await.unwrap_or_default();
            return Err(parse_error(status, &text));
        }
        let mut hasher = Sha256::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk.map_err(transport)?);
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

fn transport(e: reqwest::Error) -> S3Failure {
    S3Failure {
        status: 502,
        code: "TransportError".into(),
        message: e.to_string(),
    }
}

async fn checked(resp: reqwest::Response) -> Result<Vec<u8>, S3Failure> {
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(transport)?.to_vec();
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(parse_error(status, &body))
    }
}

fn parse_error(status: u16, body: &[u8]) -> S3Failure {
    let text = String::from_utf8_lossy(body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&close)? + start;
        Some(xml_unescape(&text[start..end]))
    };
    S3Failure {
        status,
        code: tag("Code").unwrap_or_else(|| format!("HTTP{status}")),
        message: tag("Message").unwrap_or_else(|| text.chars().take(500).collect()),
    }
}

/// Decodes the XML escapes S3 servers use in error messages (SeaweedFS writes `part&#39;s`).
fn xml_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let Some(semi) = after.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let entity = &after[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
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
    fn error_messages_are_unescaped() {
        let body = b"<Error><Code>InvalidPart</Code><Message>the part&#39;s entity tag &amp; &lt;x&gt; &#x41; &bogus; a & b</Message></Error>";
        let e = parse_error(400, body);
        assert_eq!(e.code, "InvalidPart");
        assert_eq!(e.message, "the part's entity tag & <x> A &bogus; a & b");
    }
}
