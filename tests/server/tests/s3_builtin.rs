//! S3 mode with the built-in emulator: multipart flow, presigned URL checks (signature, expiry,
//! Content-Length, Authorization), CompleteMultipartUpload checks, and mode-specific refusals.

mod common;

use common::*;
use opik_test_server::{FaultRule, StorageMode, TestServer};
use serde_json::{json, Value};

const MIB5: usize = 5 * 1024 * 1024;

struct Started {
    upload_id: String,
    urls: Vec<String>,
}

async fn start_upload(api: &Api, file_name: &str, parts: u64) -> Started {
    let r = api
        .upload_start(file_name, parts, "span", SPAN_ID, Some("peer-test"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    Started {
        upload_id: body["upload_id"].as_str().unwrap().to_string(),
        urls: body["pre_sign_urls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_string())
            .collect(),
    }
}

/// PUT each chunk to its URL with Content-Length and no Opik headers; returns the ETags.
async fn put_parts(api: &Api, urls: &[String], chunks: &[&[u8]]) -> Vec<String> {
    let mut etags = Vec::new();
    for (url, chunk) in urls.iter().zip(chunks) {
        let r = reply(api.http.put(url).body(chunk.to_vec()).send().await.unwrap()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        etags.push(r.header("etag").expect("ETag header"));
    }
    etags
}

fn complete_body(file_name: &str, upload_id: &str, size: usize, etags: &[String]) -> Value {
    let parts: Vec<Value> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"e_tag": e, "part_number": i + 1}))
        .collect();
    json!({"file_name": file_name, "project_name": "peer-test", "entity_type": "span", "entity_id": SPAN_ID,
           "file_size": size, "mime_type": null, "upload_id": upload_id, "uploaded_file_parts": parts})
}

fn xml_code(body: &str) -> String {
    let start = body.find("<Code>").expect("XML error") + 6;
    body[start..start + body[start..].find("</Code>").unwrap()].to_string()
}

#[tokio::test]
async fn multipart_flow() {
    let server = start(StorageMode::S3);
    let api = Api::new(&server);
    let data = make_bytes(12_000_000, 5);
    let chunks: Vec<&[u8]> = vec![&data[..MIB5], &data[MIB5..2 * MIB5], &data[2 * MIB5..]];
    assert_eq!(chunks[2].len(), 1_514_240);

    let started = start_upload(&api, "blob.bin", 3).await;
    assert_ne!(started.upload_id, "BEMinIO");
    assert_eq!(started.urls.len(), 3);
    for (i, url) in started.urls.iter().enumerate() {
        assert!(
            url.starts_with(&format!(
                "{}s3/opik/opik/attachment/workspaces/default/projects/",
                server.base_url()
            )),
            "{url}"
        );
        assert!(
            url.contains(&format!("/spans/{SPAN_ID}/files/blob.bin?")),
            "{url}"
        );
        for param in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=",
            "X-Amz-Date=",
            "X-Amz-Expires=3600",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Signature=",
            &format!("partNumber={}", i + 1),
        ] {
            assert!(url.contains(param), "{param} missing in {url}");
        }
    }

    let etags = put_parts(&api, &started.urls, &chunks).await;
    for (etag, chunk) in etags.iter().zip(&chunks) {
        assert_eq!(*etag, format!("\"{}\"", md5_hex(chunk)));
    }

    // upload-complete gzipped, like the Python SDK.
    let r = api
        .post_gzip(
            "v1/private/attachment/upload-complete",
            &complete_body("blob.bin", &started.upload_id, data.len(), &etags),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());

    let project_id = api.project_id("peer-test").await;
    let page = api.list(&project_id, "span", SPAN_ID, "").await.json();
    assert_eq!(page["total"], 1);
    let item = &page["content"][0];
    assert_eq!(item["file_size"], 12_000_000);
    assert_eq!(item["mime_type"], "application/octet-stream");
    let link = item["link"].as_str().unwrap();
    assert!(link.contains("X-Amz-Signature="), "{link}");

    // The presigned GET, without Opik headers.
    let got = reply(api.http.get(link).send().await.unwrap()).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert!(got.body == data, "downloaded bytes differ");
    let ranged = reply(
        api.http
            .get(link)
            .header("range", "bytes=5242870-5242889")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(&ranged.body[..], &data[5_242_870..5_242_890]);

    let rows = server.attachments();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].sha256.as_deref(), Some(sha256_hex(&data).as_str()));
    assert_eq!(rows[0].entity_type, "span");

    // Part PUTs and storage GETs are in the transcript, with their headers.
    let requests = server.requests();
    let parts: Vec<_> = requests.iter().filter(|r| r.target == "part").collect();
    assert_eq!(parts.len(), 3);
    for (part, chunk) in parts.iter().zip(&chunks) {
        assert_eq!(
            part.headers.get("content-length").unwrap(),
            &chunk.len().to_string()
        );
        assert!(!part.headers.contains_key("authorization"));
        assert_eq!(part.body_len, chunk.len() as u64);
        assert_eq!(part.status, 200);
    }
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.target == "storage_get")
            .count(),
        2
    );
    let complete = requests
        .iter()
        .find(|r| r.path.ends_with("upload-complete"))
        .unwrap();
    assert_eq!(
        complete.body_json.as_ref().unwrap()["uploaded_file_parts"][0]["e_tag"],
        etags[0].as_str()
    );

    // Delete removes the object too.
    let r = api
        .post("v1/private/attachment/delete",
              &json!({"file_names": ["blob.bin"], "entity_type": "span", "entity_id": SPAN_ID, "container_id": project_id}))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        api.list(&project_id, "span", SPAN_ID, "").await.json()["total"],
        0
    );
    let gone = reply(api.http.get(link).send().await.unwrap()).await;
    assert_eq!(gone.status, 404);
    assert_eq!(xml_code(&gone.text()), "NoSuchKey");
}

#[tokio::test]
async fn presigned_urls_are_verified() {
    let server = start(StorageMode::S3);
    let api = Api::new(&server);
    let started = start_upload(&api, "sig.bin", 1).await;
    let url = &started.urls[0];

    // Tampered signature (and tampered expiry) → SignatureDoesNotMatch.
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone();
    let flipped = if &url[sig_at..sig_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(sig_at..sig_at + 1, flipped);
    let r = reply(api.http.put(&tampered).body("abc").send().await.unwrap()).await;
    assert_eq!(r.status, 403);
    assert_eq!(xml_code(&r.text()), "SignatureDoesNotMatch");
    let longer = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=3601");
    let r = reply(api.http.put(&longer).body("abc").send().await.unwrap()).await;
    assert_eq!(xml_code(&r.text()), "SignatureDoesNotMatch");
    // The Host is signed: localhost instead of 127.0.0.1 fails.
    let other_host = url.replace("127.0.0.1", "localhost");
    let r = reply(api.http.put(&other_host).body("abc").send().await.unwrap()).await;
    assert_eq!(r.status, 403);
    // No query auth at all.
    let bare = url.split('?').next().unwrap();
    let r = reply(api.http.put(bare).body("abc").send().await.unwrap()).await;
    assert_eq!(r.status, 403);
    assert_eq!(xml_code(&r.text()), "AccessDenied");

    // Chunked part PUT → 411; Authorization header next to query auth → 400.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        vec![Ok(bytes::Bytes::from_static(b"abc"))];
    let r = reply(
        api.http
            .put(url)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 411);
    assert_eq!(xml_code(&r.text()), "MissingContentLength");
    let r = reply(
        api.http
            .put(url)
            .header("authorization", "dummy-key")
            .body("abc")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(xml_code(&r.text()), "InvalidArgument");

    // The untouched URL works.
    let r = reply(api.http.put(url).body("abc").send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn expired_urls_from_fault() {
    let server = start(StorageMode::S3);
    let api = Api::new(&server);
    server.add_fault(FaultRule {
        path_contains: Some("upload-start".into()),
        expire_urls: true,
        ..Default::default()
    });
    let expired = start_upload(&api, "late.bin", 1).await;
    let r = reply(
        api.http
            .put(&expired.urls[0])
            .body("abc")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(xml_code(&r.text()), "AccessDenied");
    assert!(
        r.text().contains("<Message>Request has expired</Message>"),
        "{}",
        r.text()
    );

    // A fresh upload-start gets working URLs.
    let fresh = start_upload(&api, "late.bin", 1).await;
    assert_ne!(fresh.upload_id, expired.upload_id);
    let etags = put_parts(&api, &fresh.urls, &[b"abc"]).await;
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("late.bin", &fresh.upload_id, 3, &etags),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());

    // Expired download links from a faulted list; a re-list gives a working one.
    server.add_fault(FaultRule {
        path_contains: Some("attachment/list".into()),
        expire_urls: true,
        ..Default::default()
    });
    let project_id = api.project_id("peer-test").await;
    let stale = api.list(&project_id, "span", SPAN_ID, "").await.json()["content"][0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    let r = reply(api.http.get(&stale).send().await.unwrap()).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("Request has expired"));
    let link = api.list(&project_id, "span", SPAN_ID, "").await.json()["content"][0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    let r = reply(api.http.get(&link).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"abc");

    // A status fault on parts works with the emulator too.
    server.add_fault(FaultRule {
        target: Some("part".into()),
        status: Some(403),
        ..Default::default()
    });
    let next = start_upload(&api, "other.bin", 1).await;
    let r = reply(
        api.http
            .put(&next.urls[0])
            .body("abc")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(xml_code(&r.text()), "AccessDenied");
}

#[tokio::test]
async fn tampered_urls_from_fault() {
    let server = start(StorageMode::S3);
    let api = Api::new(&server);
    server.add_fault(FaultRule {
        path_contains: Some("upload-start".into()),
        tamper_urls: true,
        ..Default::default()
    });
    let tampered = start_upload(&api, "bad.bin", 2).await;
    let fresh = start_upload(&api, "bad.bin", 1).await;
    assert!(tampered.urls[0].contains("X-Amz-Signature="));
    for url in &tampered.urls {
        let r = reply(api.http.put(url).body("abc").send().await.unwrap()).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(xml_code(&r.text()), "SignatureDoesNotMatch");
    }
    // Only the rule's one use is tampered.
    let etags = put_parts(&api, &fresh.urls, &[b"abc"]).await;
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("bad.bin", &fresh.upload_id, 3, &etags),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());

    // Tampered download links from a faulted list.
    server.add_fault(FaultRule {
        path_contains: Some("attachment/list".into()),
        tamper_urls: true,
        ..Default::default()
    });
    let project_id = api.project_id("peer-test").await;
    let bad = api.list(&project_id, "span", SPAN_ID, "").await.json()["content"][0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    let r = reply(api.http.get(&bad).send().await.unwrap()).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(xml_code(&r.text()), "SignatureDoesNotMatch");
    let good = api.list(&project_id, "span", SPAN_ID, "").await.json()["content"][0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(good, bad);
    let r = reply(api.http.get(&good).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(&r.body[..], b"abc");
}

#[tokio::test]
async fn complete_is_checked() {
    let server = start(StorageMode::S3);
    let api = Api::new(&server);
    let data = make_bytes(2 * MIB5 + 10, 6);

    // Wrong ETag (unquoted) → InvalidPart.
    let s = start_upload(&api, "a.bin", 3).await;
    let etags = put_parts(
        &api,
        &s.urls,
        &[&data[..MIB5], &data[MIB5..2 * MIB5], &data[2 * MIB5..]],
    )
    .await;
    let unquoted: Vec<String> = etags
        .iter()
        .map(|e| e.trim_matches('"').to_string())
        .collect();
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("a.bin", &s.upload_id, data.len(), &unquoted),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("InvalidPart"),
        "{}",
        r.text()
    );
    // Parts out of order → InvalidPartOrder.
    let mut body = complete_body("a.bin", &s.upload_id, data.len(), &etags);
    body["uploaded_file_parts"]
        .as_array_mut()
        .unwrap()
        .swap(0, 1);
    let r = api
        .post("v1/private/attachment/upload-complete", &body)
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("InvalidPartOrder"),
        "{}",
        r.text()
    );
    // A gap in the part numbers (1, 3) → InvalidPart.
    let mut body = complete_body("a.bin", &s.upload_id, data.len(), &etags);
    body["uploaded_file_parts"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    let r = api
        .post("v1/private/attachment/upload-complete", &body)
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("InvalidPart:"),
        "{}",
        r.text()
    );
    // Completing with the first two parts only is valid (the third is discarded).
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("a.bin", &s.upload_id, 2 * MIB5, &etags[..2]),
        )
        .await;
    assert_eq!(
        r.status,
        204,
        "two full parts make a valid upload: {}",
        r.text()
    );

    // A non-last part under 5 MiB → EntityTooSmall.
    let s = start_upload(&api, "b.bin", 2).await;
    let etags = put_parts(&api, &s.urls, &[&data[..1000], &data[1000..2000]]).await;
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("b.bin", &s.upload_id, 2000, &etags),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("EntityTooSmall"),
        "{}",
        r.text()
    );

    // file_size must match the stored bytes.
    let s = start_upload(&api, "c.bin", 1).await;
    let etags = put_parts(&api, &s.urls, &[&data[..1000]]).await;
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("c.bin", &s.upload_id, 999, &etags),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("c.bin", &s.upload_id, 1000, &etags),
        )
        .await;
    assert_eq!(r.status, 204);
    // Completing twice: the upload is gone.
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("c.bin", &s.upload_id, 1000, &etags),
        )
        .await;
    assert_eq!(r.status, 404);

    // Unknown upload id, and an upload id used for a different file.
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("c.bin", "nope", 1000, &etags),
        )
        .await;
    assert_eq!(r.status, 404);
    let s = start_upload(&api, "d.bin", 1).await;
    let etags = put_parts(&api, &s.urls, &[&data[..10]]).await;
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("e.bin", &s.upload_id, 10, &etags),
        )
        .await;
    assert_eq!(r.status, 404);

    let mut names: Vec<String> = server
        .attachments()
        .into_iter()
        .map(|r| r.file_name)
        .collect();
    names.sort();
    assert_eq!(names, ["a.bin", "c.bin"]);
}

#[tokio::test]
async fn s3_mode_refusals() {
    let server = start(StorageMode::S3);
    let api = Api::new(&server);
    let r = reply(
        api.http
            .put(api.url(&format!(
                "v1/private/attachment/upload?file_name=a&entity_type=trace&entity_id={TRACE_ID}"
            )))
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["message"], "Direct attachment upload is forbidden for S3, please use multi-part upload with presigned urls");
    let r = api.get(&format!(
        "v1/private/attachment/download?container_id={TRACE_ID}&entity_type=trace&entity_id={TRACE_ID}&file_name=a&mime_type=b")).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "Direct attachment download is forbidden for S3, please use presigned url"
    );

    assert_eq!(
        api.upload_start("big.bin", 10_001, "trace", TRACE_ID, None)
            .await
            .status,
        422
    );
    let max = api
        .upload_start("big.bin", 10_000, "trace", TRACE_ID, None)
        .await;
    assert_eq!(
        max.json()["pre_sign_urls"].as_array().unwrap().len(),
        10_000
    );
    // In S3 mode the path is only checked for being non-blank (like the backend).
    let r = api
        .post("v1/private/attachment/upload-start",
              &json!({"file_name": "p.bin", "num_of_file_parts": 1, "entity_type": "trace", "entity_id": TRACE_ID, "path": "%%%"}))
        .await;
    assert_eq!(r.status, 200);

    // Direct-mode servers have no emulator.
    let direct = TestServer::start(Default::default());
    let r = reply(
        client()
            .get(format!("{}s3/opik/x", direct.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn discard_bodies_counts_and_serves_synthetic_bytes() {
    let server = TestServer::start(opik_test_server::Config {
        mode: StorageMode::S3,
        discard_bodies: true,
        ..Default::default()
    });
    let api = Api::new(&server);
    let data = make_bytes(MIB5 + 1000, 9);
    let started = start_upload(&api, "gone.bin", 2).await;
    let etags = put_parts(&api, &started.urls, &[&data[..MIB5], &data[MIB5..]]).await;
    assert_ne!(etags[0], etags[1], "parts need distinct ETags");
    // Complete still checks the ETags it was given.
    let wrong = vec![etags[1].clone(), etags[0].clone()];
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("gone.bin", &started.upload_id, data.len(), &wrong),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete_body("gone.bin", &started.upload_id, data.len(), &etags),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());

    let stats = api.get("_test/stats").await.json();
    // Every body counts, the JSON ones too.
    let received = stats["bytes_received"].as_u64().unwrap() as usize;
    assert!(
        (data.len()..data.len() + 4096).contains(&received),
        "{received}"
    );
    let rows = api.get("_test/attachments").await.json();
    assert_eq!(rows[0]["file_size"].as_u64().unwrap() as usize, data.len());
    assert!(rows[0]["sha256"].is_null(), "{rows}");

    let project_id = api.project_id("peer-test").await;
    let page = api.list(&project_id, "span", SPAN_ID, "").await.json();
    let link = page["content"][0]["link"].as_str().unwrap();
    let got = reply(api.http.get(link).send().await.unwrap()).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.len(), data.len());
    assert_eq!(got.body[300], (300 % 251) as u8, "synthetic pattern");
}
