//! Hostile modes (issue 11): huge and endless bodies, endless list pages, redirects to the
//! recorder and to the request itself, echoed keys, stalls, throttled bodies, unusable links.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use opik_test_server::{Config, FaultRule, StorageMode, TestServer};
use serde_json::json;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn start_path(api: &Api) -> String {
    api.url("v1/private/attachment/upload-start")
}

fn start_body(api: &Api) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "file_name": "a.bin", "num_of_file_parts": 1, "entity_type": "trace",
        "entity_id": TRACE_ID, "path": path_param(&api.base),
    }))
    .unwrap()
}

/// Reads a response body counting its bytes (never holding it), up to `limit`; returns
/// (bytes seen, the first 64 bytes, whether the body ended).
async fn count_body(resp: reqwest::Response, limit: u64) -> (u64, Vec<u8>, bool) {
    let mut stream = resp.bytes_stream();
    let mut seen = 0u64;
    let mut head = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if head.len() < 64 {
            head.extend_from_slice(&chunk[..chunk.len().min(64 - head.len())]);
        }
        seen += chunk.len() as u64;
        if seen >= limit {
            return (seen, head, false);
        }
    }
    (seen, head, true)
}

#[tokio::test]
async fn huge_body_is_streamed_with_its_length() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    let n = 300 * 1024 * 1024 + 7;
    server.add_fault(FaultRule {
        path_contains: Some("upload-start".into()),
        huge_body_bytes: Some(n),
        ..Default::default()
    });
    let resp = api
        .http
        .post(start_path(&api))
        .body(start_body(&api))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), Some(n));
    let (seen, head, ended) = count_body(resp, u64::MAX).await;
    assert!(ended);
    assert_eq!(seen, n);
    assert!(
        head.starts_with(b"{\"upload_id\":\"x\",\"pre_sign_urls\":[\"http"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // The rule was used once: the next upload-start is normal.
    let r = api.upload_start("a.bin", 1, "trace", TRACE_ID, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["upload_id"], "BEMinIO");
}

#[tokio::test]
async fn endless_body_goes_on_until_the_client_leaves() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    let pid = api.project_id_or_create().await;
    server.add_fault(FaultRule {
        path_contains: Some("attachment/list".into()),
        endless_body: true,
        ..Default::default()
    });
    let path = path_param(&api.base);
    let resp = api
        .http
        .get(api.url(&format!(
            "v1/private/attachment/list?project_id={pid}&entity_type=trace&entity_id={TRACE_ID}&path={path}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), None, "chunked, no length");
    let (seen, head, ended) = count_body(resp, 200 * 1024 * 1024).await;
    assert!(!ended, "still going after {seen} bytes");
    assert!(head.starts_with(b"{\"page\":1,\"size\":1,\"total\":1,\"content\":[{\"file_name\":\""));
    // The server is fine afterwards.
    assert_eq!(api.get("is-alive/ping").await.status, 200);
}

impl Api {
    async fn project_id_or_create(&self) -> String {
        let r = self.upload_start("x.bin", 1, "trace", TRACE_ID, None).await;
        assert_eq!(r.status, 200);
        self.project_id("Default Project").await
    }
}

#[tokio::test]
async fn endless_pages_repeat_or_never_end() {
    for distinct in [false, true] {
        let server = start(StorageMode::S3);
        let api = Api::new(&server);
        let pid = api.project_id_or_create().await;
        server.add_fault(FaultRule {
            path_contains: Some("attachment/list".into()),
            endless_pages: !distinct,
            endless_distinct_pages: distinct,
            page_entries: Some(3),
            times: 0,
            ..Default::default()
        });
        let mut pages = Vec::new();
        for page in [1, 2, 50] {
            let r = api
                .list(&pid, "trace", TRACE_ID, &format!("&page={page}&size=3"))
                .await;
            assert_eq!(r.status, 200);
            let v = r.json();
            assert_eq!(v["content"].as_array().unwrap().len(), 3);
            assert!(v["total"].as_u64().unwrap() > page * 3, "{v}");
            pages.push(v["content"].clone());
        }
        if distinct {
            assert_ne!(pages[0], pages[1]);
            assert_ne!(pages[1], pages[2]);
        } else {
            assert_eq!(pages[0], pages[1]);
            assert_eq!(pages[1], pages[2]);
        }
    }
}

#[tokio::test]
async fn redirects_to_the_recorder_and_to_itself() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    let http = no_redirects();
    server.add_fault(FaultRule {
        target: Some("direct_upload".into()),
        redirect_to: Some("{recorder}{path}".into()),
        redirect_status: Some(302),
        ..Default::default()
    });
    let start = api.upload_start("r.bin", 1, "trace", TRACE_ID, None).await;
    let url = start.json()["pre_sign_urls"][0]
        .as_str()
        .unwrap()
        .to_string();
    let resp = http
        .put(&url)
        .header("authorization", "secret-key")
        .body(vec![7u8; 200_000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let recorder = server.recorder_url();
    assert_ne!(recorder, server.base_url().trim_end_matches('/'));
    assert!(location.starts_with(&recorder), "{location}");
    assert!(location.contains("/v1/private/attachment/upload?file_name=r.bin"));
    // The server read the whole body before answering.
    let put = server
        .requests()
        .into_iter()
        .find(|r| r.target == "direct_upload")
        .unwrap();
    assert_eq!((put.status, put.body_len), (302, 200_000));

    // Whatever reaches the recorder is recorded (headers, body length) and answered 200 {}.
    assert!(server.recorder_requests().is_empty());
    let resp = http
        .put(&location)
        .header("comet-workspace", "ws")
        .body(vec![1u8; 1234])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "{}");
    let seen = server.recorder_requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].body_len, 1234);
    assert_eq!(seen[0].headers["comet-workspace"], "ws");
    assert_eq!(seen[0].path, "/v1/private/attachment/upload");

    // Over HTTP too.
    let base = server.base_url();
    let v: serde_json::Value = http
        .get(format!("{base}_test/recorder"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    assert_eq!(v[0]["body_len"], 1234);
    let r = http
        .post(format!("{base}_test/recorder"))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["url"], format!("{recorder}/"));
    http.delete(format!("{base}_test/recorder"))
        .send()
        .await
        .unwrap();
    assert!(server.recorder_requests().is_empty());

    // A loop: the answer points at the request itself, every time.
    server.add_fault(FaultRule {
        path_contains: Some("upload-start".into()),
        redirect_to: Some("{self}{path}".into()),
        times: 0,
        ..Default::default()
    });
    for _ in 0..3 {
        let resp = http
            .post(start_path(&api))
            .body(start_body(&api))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 307);
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            start_path(&api)
        );
    }
}

#[tokio::test]
async fn echo_key_in_fault_and_natural_errors() {
    let server = TestServer::start(Config {
        mode: StorageMode::S3,
        api_key: Some("key-123".into()),
        ..Config::default()
    });
    let api = Api::with_auth(&server, "key-123", "default");
    server.add_fault(FaultRule {
        path_contains: Some("upload-start".into()),
        status: Some(429),
        retry_after: Some("1".into()),
        echo_key: true,
        ..Default::default()
    });
    let r = api.upload_start("e.bin", 1, "trace", TRACE_ID, None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("authorization=key-123"), "{message}");
    assert!(message.contains("comet-workspace=default"), "{message}");

    // A natural error (a wrong key → 401) echoes too.
    server.add_fault(FaultRule {
        target: Some("rest".into()),
        echo_key: true,
        ..Default::default()
    });
    let wrong = Api::with_auth(&server, "wrong-key", "default");
    let r = wrong
        .upload_start("e.bin", 1, "trace", TRACE_ID, None)
        .await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("authorization=wrong-key"), "{}", r.text());

    // Storage errors are S3 XML with the headers.
    server.add_fault(FaultRule {
        target: Some("part".into()),
        echo_key: true,
        status: Some(500),
        ..Default::default()
    });
    let start = api.upload_start("e.bin", 1, "trace", TRACE_ID, None).await;
    let url = start.json()["pre_sign_urls"][0]
        .as_str()
        .unwrap()
        .to_string();
    let resp = api
        .http
        .put(&url)
        .header("x-probe", "p1")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("<?xml"), "{text}");
    assert!(text.contains("x-probe=p1"), "{text}");

    // A success is left alone.
    server.add_fault(FaultRule {
        path_contains: Some("upload-start".into()),
        echo_key: true,
        ..Default::default()
    });
    let r = api.upload_start("e.bin", 1, "trace", TRACE_ID, None).await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("key-123"));
}

#[tokio::test]
async fn stalls_and_throttles_in_both_directions() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);

    // Reading an upload: 1 MiB at 2 MiB/s takes about half a second.
    server.add_fault(FaultRule {
        target: Some("direct_upload".into()),
        read_bytes_per_sec: Some(2 << 20),
        ..Default::default()
    });
    let t = Instant::now();
    assert_eq!(
        api.direct_upload("slow.bin", make_bytes(1 << 20, 1), "p")
            .await,
        204
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // A stall in the middle of an upload body.
    server.add_fault(FaultRule {
        target: Some("direct_upload".into()),
        stall_after_bytes: Some(100_000),
        stall_ms: 800,
        ..Default::default()
    });
    let data = make_bytes(300_000, 2);
    let t = Instant::now();
    assert_eq!(api.direct_upload("stall.bin", data.clone(), "p").await, 204);
    assert!(
        t.elapsed() >= Duration::from_millis(750),
        "{:?}",
        t.elapsed()
    );
    let rows = server.attachments();
    let row = rows.iter().find(|r| r.file_name == "stall.bin").unwrap();
    assert_eq!(row.sha256.as_deref(), Some(sha256_hex(&data).as_str()));

    // Downloads: throttled, and stalled after some bytes; the bytes are intact.
    let pid = api.project_id("p").await;
    let list = api.list(&pid, "trace", TRACE_ID, "").await.json();
    let link = list["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file_name"] == "stall.bin")
        .unwrap()["link"]
        .as_str()
        .unwrap()
        .to_string();
    server.add_fault(FaultRule {
        target: Some("download".into()),
        write_bytes_per_sec: Some(600_000),
        ..Default::default()
    });
    let t = Instant::now();
    let r = api.get_abs(&link).await;
    let took = t.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_ref(), data.as_slice());
    assert!(took >= Duration::from_millis(350), "{took:?}");
    server.add_fault(FaultRule {
        target: Some("download".into()),
        stall_after_bytes: Some(50_000),
        stall_ms: 700,
        ..Default::default()
    });
    let t = Instant::now();
    let r = api.get_abs(&link).await;
    assert_eq!(r.body.as_ref(), data.as_slice());
    assert!(
        t.elapsed() >= Duration::from_millis(650),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn bad_links_in_upload_start_and_list() {
    for mode in [StorageMode::Direct, StorageMode::S3] {
        let server = start(mode);
        let api = Api::new(&server);
        api.direct_or_s3_noop().await;
        for bad in [None, Some("http://[::1"), Some("ftp://x/y")] {
            server.add_fault(FaultRule {
                path_contains: Some("upload-start".into()),
                bad_links: true,
                bad_link: bad.map(Into::into),
                ..Default::default()
            });
            let r = api.upload_start("b.bin", 2, "trace", TRACE_ID, None).await;
            assert_eq!(r.status, 200);
            let urls = r.json()["pre_sign_urls"].clone();
            let want = bad.unwrap_or("not a url");
            let n = if mode == StorageMode::S3 { 2 } else { 1 };
            assert_eq!(urls, json!(vec![want; n]), "{mode:?}");
        }
        // List links (needs a row: make one through the normal flow).
        let data = make_bytes(10, 3);
        if mode == StorageMode::Direct {
            assert_eq!(
                api.direct_upload("row.bin", data, "Default Project").await,
                204
            );
        } else {
            api.s3_upload_small("row.bin", data).await;
        }
        let pid = api.project_id("Default Project").await;
        server.add_fault(FaultRule {
            path_contains: Some("attachment/list".into()),
            bad_links: true,
            ..Default::default()
        });
        let v = api.list(&pid, "trace", TRACE_ID, "").await.json();
        assert_eq!(v["content"][0]["link"], "not a url", "{v}");
        let v = api.list(&pid, "trace", TRACE_ID, "").await.json();
        assert!(v["content"][0]["link"]
            .as_str()
            .unwrap()
            .starts_with("http://"));
    }
}

impl Api {
    async fn direct_or_s3_noop(&self) {}

    /// S3 mode: one part to the emulator, then complete.
    async fn s3_upload_small(&self, name: &str, data: Vec<u8>) {
        let start = self
            .upload_start(name, 1, "trace", TRACE_ID, None)
            .await
            .json();
        let url = start["pre_sign_urls"][0].as_str().unwrap().to_string();
        let len = data.len();
        let put = self.http.put(url).body(data).send().await.unwrap();
        assert_eq!(put.status(), 200);
        let etag = put.headers()["etag"].to_str().unwrap().to_string();
        let r = self
            .post(
                "v1/private/attachment/upload-complete",
                &json!({"file_name": name, "entity_type": "trace", "entity_id": TRACE_ID,
                        "file_size": len, "upload_id": start["upload_id"],
                        "uploaded_file_parts": [{"e_tag": etag, "part_number": 1}]}),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text());
    }
}

#[tokio::test]
async fn hostile_rules_are_validated() {
    let server = start(StorageMode::Direct);
    let http = client();
    let base = server.base_url();
    for bad in [
        json!({"redirect_to": "{self}", "redirect_status": 200}),
        json!({"read_bytes_per_sec": 0}),
        json!({"page_entries": 0}),
    ] {
        let r = http
            .post(format!("{base}_test/faults"))
            .body(bad.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    // Every new field round-trips through the control API with its default.
    let r = http
        .post(format!("{base}_test/faults"))
        .body(json!({"echo_key": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let listed: serde_json::Value = http
        .get(format!("{base}_test/faults"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap();
    let rule = &listed[0]["rule"];
    assert_eq!(rule["echo_key"], true);
    assert_eq!(rule["endless_body"], false);
    assert_eq!(rule["huge_body_bytes"], serde_json::Value::Null);
    assert_eq!(rule["stall_ms"], 0);
}
