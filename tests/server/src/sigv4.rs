//! Verification of SigV4 presigned (query-authenticated) requests, written from the AWS
//! specification: canonical request, string to sign, derived signing key, HMAC-SHA256.

use hmac::{Hmac, Mac};
use hyper::HeaderMap;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// AWS URI encoding: everything except `A-Za-z0-9-_.~` is percent-encoded.
const AWS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a presigned request is refused (each maps to S3's error code).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SigError {
    /// No `X-Amz-*` query authentication at all: `AccessDenied`.
    Missing,
    /// Malformed authentication parameters: `AuthorizationQueryParametersError`.
    Malformed(String),
    /// Unknown access key: `InvalidAccessKeyId`.
    UnknownAccessKey,
    /// Recomputed signature differs: `SignatureDoesNotMatch`.
    Mismatch,
    /// Valid signature, but `X-Amz-Date + X-Amz-Expires` is in the past: `AccessDenied`.
    Expired,
}

/// A request to check.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    /// Path exactly as received (percent-encoded).
    pub raw_path: &'a str,
    /// Query string exactly as received.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
}

/// Checks the query signature of `req` against the credential, and its expiry against `now`
/// (Unix seconds). The signature is checked first, so a tampered expiry cannot pass.
pub(crate) fn verify(
    req: &Request<'_>,
    access_key: &str,
    secret_key: &str,
    now: i64,
) -> Result<(), SigError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.raw_query.as_bytes())
        .into_owned()
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(signature) = get("X-Amz-Signature") else {
        return Err(SigError::Missing);
    };
    let field =
        |name: &str| get(name).ok_or_else(|| SigError::Malformed(format!("missing {name}")));
    if field("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(SigError::Malformed(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".into(),
        ));
    }
    let credential = field("X-Amz-Credential")?;
    let amz_date = field("X-Amz-Date")?;
    let expires: i64 = field("X-Amz-Expires")?
        .parse()
        .map_err(|_| SigError::Malformed("X-Amz-Expires should be a number".into()))?;
    let signed_headers = field("X-Amz-SignedHeaders")?;

    let scope: Vec<&str> = credential.split('/').collect();
    let [key, day, region, service, terminator] = scope[..] else {
        return Err(SigError::Malformed("X-Amz-Credential is malformed".into()));
    };
    if service != "s3" || terminator != "aws4_request" || !amz_date.starts_with(day) {
        return Err(SigError::Malformed(
            "X-Amz-Credential scope is malformed".into(),
        ));
    }
    if key != access_key {
        return Err(SigError::UnknownAccessKey);
    }
    let signed_at = parse_amz_date(amz_date)
        .ok_or_else(|| SigError::Malformed("X-Amz-Date is malformed".into()))?;
    if !(0..=604_800).contains(&expires) {
        return Err(SigError::Malformed(
            "X-Amz-Expires must be between 0 and 604800 seconds".into(),
        ));
    }

    let canonical = canonical_request(req, &pairs, signed_headers)?;
    let scope = format!("{day}/{region}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut signing_key = hmac(format!("AWS4{secret_key}").as_bytes(), day.as_bytes());
    for part in [region, "s3", "aws4_request"] {
        signing_key = hmac(&signing_key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&signing_key, string_to_sign.as_bytes()));
    if expected != signature {
        return Err(SigError::Mismatch);
    }
    if now > signed_at + expires {
        return Err(SigError::Expired);
    }
    Ok(())
}

fn canonical_request(
    req: &Request<'_>,
    pairs: &[(String, String)],
    signed_headers: &str,
) -> Result<String, SigError> {
    let mut query: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();

    let mut headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(SigError::Mismatch);
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(format!(
        "{}\n{}\n{}\n{headers}\n{signed_headers}\nUNSIGNED-PAYLOAD",
        req.method,
        req.raw_path,
        query.join("&")
    ))
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, AWS_ENCODE).to_string()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HOST;

    fn headers(host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HOST, host.parse().unwrap());
        h
    }

    /// The presigned GET example from the AWS SigV4 documentation ("Authenticating Requests:
    /// Using Query Parameters"), signed 2013-05-24T00:00:00Z for 86400 seconds.
    const AWS_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn aws_request<'a>(query: &'a str, h: &'a HeaderMap) -> Request<'a> {
        Request {
            method: "GET",
            raw_path: "/test.txt",
            raw_query: query,
            headers: h,
        }
    }

    #[test]
    fn aws_documentation_example_verifies() {
        let h = headers("examplebucket.s3.amazonaws.com");
        let at = parse_amz_date("20130524T000000Z").unwrap();
        assert_eq!(at, 1_369_353_600);
        assert_eq!(
            verify(&aws_request(AWS_QUERY, &h), AWS_KEY, AWS_SECRET, at + 10),
            Ok(())
        );
        assert_eq!(
            verify(
                &aws_request(AWS_QUERY, &h),
                AWS_KEY,
                AWS_SECRET,
                at + 86_401
            ),
            Err(SigError::Expired)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let at = 1_369_353_600 + 10;
        let h = headers("examplebucket.s3.amazonaws.com");
        let longer = AWS_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=86401");
        assert_eq!(
            verify(&aws_request(&longer, &h), AWS_KEY, AWS_SECRET, at),
            Err(SigError::Mismatch)
        );
        let other_host = headers("localhost:9000");
        assert_eq!(
            verify(
                &aws_request(AWS_QUERY, &other_host),
                AWS_KEY,
                AWS_SECRET,
                at
            ),
            Err(SigError::Mismatch)
        );
        let req = Request {
            method: "PUT",
            ..aws_request(AWS_QUERY, &h)
        };
        assert_eq!(
            verify(&req, AWS_KEY, AWS_SECRET, at),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            verify(&aws_request(AWS_QUERY, &h), "OTHER", AWS_SECRET, at),
            Err(SigError::UnknownAccessKey)
        );
        assert_eq!(
            verify(&aws_request("a=b", &h), AWS_KEY, AWS_SECRET, at),
            Err(SigError::Missing)
        );
    }

    #[test]
    fn rusty_s3_urls_verify() {
        let p = crate::presign::Presigner::new(
            "http://127.0.0.1:4567/s3",
            "opik",
            "us-east-1",
            "AK",
            "SK",
            3600,
        )
        .unwrap();
        let key = "opik/attachment/workspaces/default/projects/p/traces/t/files/a b+(c)&ü.txt";
        let url: url::Url = p.upload_part_url(key, "up-1", 3, false).parse().unwrap();
        let h = headers("127.0.0.1:4567");
        let req = Request {
            method: "PUT",
            raw_path: url.path(),
            raw_query: url.query().unwrap(),
            headers: &h,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(verify(&req, "AK", "SK", now), Ok(()));
        assert_eq!(verify(&req, "AK", "SK", now + 3601), Err(SigError::Expired));
        let expired: url::Url = p.get_object_url(key, true).parse().unwrap();
        let req = Request {
            method: "GET",
            raw_path: expired.path(),
            raw_query: expired.query().unwrap(),
            headers: &h,
        };
        assert_eq!(verify(&req, "AK", "SK", now), Err(SigError::Expired));
    }
}
