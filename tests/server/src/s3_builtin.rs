//! The built-in S3 emulator under `/s3/<bucket>/<key>`: presigned UploadPart (`PUT`) and
//! GetObject (`GET`/`HEAD`). Strict like AWS: SigV4 query signatures and expiry are verified,
//! an `Authorization` header next to query auth is refused (400), and a part without
//! `Content-Length` (e.g. chunked) is refused (411).

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::header::{
    HeaderValue, ACCEPT_RANGES, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    RANGE, TRANSFER_ENCODING,
};
use hyper::{Method, Response, StatusCode};

use crate::body::{empty, empty_body, s3_error, ReqBody, RespBody};
use crate::dispatch::Ctx;
use crate::params;
use crate::presign::{BUILTIN_ACCESS_KEY, BUILTIN_BUCKET, BUILTIN_SECRET_KEY};
use crate::sigv4::{self, SigError};
use crate::state::Part;
use crate::storage::{self, ReceiveError, Segment};

/// Path prefix of the emulator.
pub(crate) const PREFIX: &str = "/s3/";
/// S3's maximum part size.
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

type Reply = Result<Response<RespBody>, Response<RespBody>>;

/// Handles a request whose path starts with [`PREFIX`].
pub(crate) async fn handle(ctx: &Ctx, body: &mut ReqBody) -> Response<RespBody> {
    reply(ctx, body).await.unwrap_or_else(|e| e)
}

async fn reply(ctx: &Ctx, body: &mut ReqBody) -> Reply {
    let parts = &ctx.parts;
    let raw_path = parts.uri.path();
    let err =
        |status: StatusCode, code: &str, message: &str| s3_error(status, code, message, raw_path);
    if ctx.state.builtin.is_none() {
        return Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The built-in S3 emulator is not active in this mode",
        ));
    }
    let rest = &raw_path[PREFIX.len()..];
    let (bucket, raw_key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket != BUILTIN_BUCKET {
        return Err(err(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ));
    }
    let key = percent_encoding::percent_decode_str(raw_key)
        .decode_utf8_lossy()
        .into_owned();
    if key.is_empty() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Bucket operations are not supported",
        ));
    }
    if parts.headers.contains_key(AUTHORIZATION) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        ));
    }
    let mut content_length = None;
    if parts.method == Method::PUT {
        let chunked = parts.headers.get_all(TRANSFER_ENCODING).iter().any(|v| {
            v.to_str()
                .map_or(true, |s| s.to_ascii_lowercase().contains("chunked"))
        });
        content_length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
        if chunked || content_length.is_none() {
            return Err(err(
                StatusCode::LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            ));
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let request = sigv4::Request {
        method: parts.method.as_str(),
        raw_path,
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
    };
    sigv4::verify(&request, BUILTIN_ACCESS_KEY, BUILTIN_SECRET_KEY, now).map_err(|e| match e {
        SigError::Missing => err(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied"),
        SigError::Malformed(m) => err(StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError", &m),
        SigError::UnknownAccessKey => err(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        SigError::Mismatch => err(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ),
        SigError::Expired => err(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired"),
    })?;
    match parts.method {
        Method::PUT => put_part(ctx, body, &key, content_length.unwrap_or(0)).await,
        Method::GET | Method::HEAD => get_object(ctx, &key),
        _ => Err(err(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )),
    }
}

/// UploadPart: stores the body, answers 200 with the quoted MD5 as `ETag`.
async fn put_part(ctx: &Ctx, body: &mut ReqBody, key: &str, content_length: u64) -> Reply {
    let state = &ctx.state;
    let raw_path = ctx.parts.uri.path();
    let err =
        |status: StatusCode, code: &str, message: &str| s3_error(status, code, message, raw_path);
    let q = params::query_map(ctx.parts.uri.query());
    let (Some(number), Some(upload_id)) = (q.get("partNumber"), q.get("uploadId")) else {
        return Err(err(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "Only UploadPart (partNumber and uploadId) is supported by this emulator",
        ));
    };
    let number = number
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    let no_such_upload = || {
        err(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
    };
    let upload_exists = state
        .lock()
        .uploads
        .get(upload_id.as_str())
        .is_some_and(|u| u.key == key);
    if !upload_exists {
        return Err(no_such_upload());
    }
    if content_length > MAX_PART_SIZE {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
        ));
    }

    let path = state.new_file_path();
    let received = storage::receive_to_file(body, path.as_deref(), true)
        .await
        .map_err(|e| match e {
            ReceiveError::Client(m) => err(StatusCode::BAD_REQUEST, "IncompleteBody", &m),
            ReceiveError::Io(e) => err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &e.to_string(),
            ),
        })?;
    if received.size != content_length {
        storage::remove_segments(&[Segment { path, len: 0 }]);
        return Err(err(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
        ));
    }
    let part = Part {
        segment: Segment {
            path: path.clone(),
            len: received.size,
        },
        md5_hex: received.md5_hex.expect("MD5 requested"),
    };
    let etag = part.etag();
    let replaced = {
        let mut inner = state.lock();
        match inner.uploads.get_mut(upload_id.as_str()) {
            Some(upload) => Ok(upload.parts.insert(number, part)),
            None => Err(()),
        }
    };
    match replaced {
        Err(()) => {
            // Completed or reset while the body was arriving.
            storage::remove_segments(&[Segment { path, len: 0 }]);
            Err(no_such_upload())
        }
        Ok(old) => {
            if let Some(old) = old {
                storage::remove_segments(std::slice::from_ref(&old.segment));
            }
            let mut resp = empty(StatusCode::OK);
            resp.headers_mut()
                .insert(ETAG, HeaderValue::from_str(&etag).expect("hex ETag"));
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(0u64));
            Ok(resp)
        }
    }
}

/// GetObject / HeadObject, with single `Range: bytes=` support.
fn get_object(ctx: &Ctx, key: &str) -> Reply {
    let raw_path = ctx.parts.uri.path();
    let object = ctx.state.local_object(key).ok_or_else(|| {
        s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
            raw_path,
        )
    })?;
    let range = match ctx.parts.headers.get(RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(spec) => Some(parse_range(spec, object.size).ok_or_else(|| {
            s3_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
                raw_path,
            )
        })?),
    };
    let (start, len) = range.unwrap_or((0, object.size));
    let body = if ctx.parts.method == Method::HEAD {
        empty_body()
    } else {
        storage::stream_object(&object, start, len)
    };
    let mut resp = Response::new(body);
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {}-{}/{}", start, start + len - 1, object.size);
        resp.headers_mut()
            .insert(CONTENT_RANGE, HeaderValue::from_str(&value).expect("ASCII"));
    }
    let headers = resp.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_bytes(object.mime_type.as_bytes()) {
        headers.insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&object.etag) {
        headers.insert(ETAG, v);
    }
    Ok(resp)
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` → (start, len); `None` if unsatisfiable or malformed.
fn parse_range(spec: &str, size: u64) -> Option<(u64, u64)> {
    let spec = spec.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (size.saturating_sub(n), size.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(size.checked_sub(1)?)
        };
        (start, end)
    };
    (start <= end && start < size).then(|| (start, end - start + 1))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 10)));
        assert_eq!(parse_range("bytes=-5", 100), Some((95, 5)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 5)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
