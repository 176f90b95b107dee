//! Fault injection: statuses with Retry-After, times counting, delays, dropped connections
//! (before a response, in the middle of an upload, in the middle of a download).

mod common;

use std::time::{Duration, Instant};

use common::*;
use opik_test_server::{FaultRule, StorageMode};
use serde_json::json;

#[tokio::test]
async fn status_retry_after_and_times() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    server.add_fault(FaultRule {
        path_contains: Some("upload-start".into()),
        status: Some(503),
        retry_after: Some("1".into()),
        times: 2,
        ..Default::default()
    });
    for _ in 0..2 {
        let r = api.upload_start("a.bin", 1, "trace", TRACE_ID, None).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after").as_deref(), Some("1"));
        assert_eq!(r.json()["code"], 503);
    }
    assert_eq!(
        api.upload_start("a.bin", 1, "trace", TRACE_ID, None)
            .await
            .status,
        200
    );

    // A custom body, a method filter, and a rule that applies forever.
    server.add_fault(FaultRule {
        method: Some("GET".into()),
        target: Some("ping".into()),
        status: Some(429),
        body: Some("slow down".into()),
        times: 0,
        ..Default::default()
    });
    for _ in 0..3 {
        let r = api.get("is-alive/ping").await;
        assert_eq!(r.status, 429);
        assert_eq!(r.text(), "slow down");
    }
    server.clear_faults();
    assert_eq!(api.get("is-alive/ping").await.status, 200);

    // The faulted requests are recorded with the injected status and their JSON body.
    let requests = server.requests();
    assert_eq!(requests[0].status, 503);
    assert_eq!(
        requests[0].body_json.as_ref().unwrap()["file_name"],
        "a.bin"
    );
    assert_eq!(requests[2].status, 200);
}

#[tokio::test]
async fn faults_over_http_with_delay() {
    let server = start(StorageMode::Direct);
    let http = client();
    let base = server.base_url();
    let rules =
        json!([{"target": "ping", "delay_ms": 300}, {"path_contains": "ping", "status": 500}]);
    let r = http
        .post(format!("{base}_test/faults"))
        .body(rules.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let listed: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{base}_test/faults"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let t = Instant::now();
    let r = http
        .get(format!("{base}is-alive/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        http.get(format!("{base}is-alive/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
    assert_eq!(
        http.get(format!("{base}is-alive/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let bad = http
        .post(format!("{base}_test/faults"))
        .body(r#"[{"target": "nowhere"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    http.post(format!("{base}_test/faults"))
        .body(r#"{"status": 502}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        http.delete(format!("{base}_test/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http.get(format!("{base}is-alive/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn dropped_connections() {
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);

    server.add_fault(FaultRule {
        path_contains: Some("projects/retrieve".into()),
        drop_connection: true,
        ..Default::default()
    });
    let err = api
        .http
        .post(api.url("v1/private/projects/retrieve"))
        .body(json!({"name": "x"}).to_string())
        .send()
        .await
        .expect_err("connection should be dropped");
    assert!(!err.is_status(), "{err}");
    // Only once.
    assert_eq!(
        api.post("v1/private/projects/retrieve", &json!({"name": "x"}))
            .await
            .status,
        404
    );

    // In the middle of a direct upload: the server reads 1 MiB and resets the connection.
    let start = api
        .upload_start("big.bin", 1, "trace", TRACE_ID, Some("p"))
        .await;
    let url = start.json()["pre_sign_urls"][0]
        .as_str()
        .unwrap()
        .to_string();
    server.add_fault(FaultRule {
        target: Some("direct_upload".into()),
        drop_connection: true,
        drop_after_bytes: Some(1 << 20),
        ..Default::default()
    });
    let result = api
        .http
        .put(&url)
        .body(make_bytes(32 << 20, 3))
        .send()
        .await;
    assert!(result.is_err(), "upload should fail: {result:?}");
    let put = server
        .requests()
        .into_iter()
        .find(|r| r.target == "direct_upload")
        .unwrap();
    assert_eq!(put.status, 0);
    assert!(
        put.body_len >= 1 << 20 && put.body_len < 32 << 20,
        "{}",
        put.body_len
    );
    assert!(server.attachments().is_empty());

    // The retry succeeds.
    assert_eq!(
        api.http
            .put(&url)
            .body(make_bytes(32 << 20, 3))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    // In the middle of a download: the response is cut after 1000 body bytes.
    let project_id = api.project_id("p").await;
    let link = api.list(&project_id, "trace", TRACE_ID, "").await.json()["content"][0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    server.add_fault(FaultRule {
        target: Some("download".into()),
        drop_connection: true,
        drop_after_bytes: Some(1000),
        ..Default::default()
    });
    let mut resp = api.http.get(&link).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut received = 0;
    let outcome = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(outcome.is_err(), "truncated body should end in an error");
    assert_eq!(received, 1000);
    let full = api.get_abs(&link).await;
    assert_eq!(full.body.len(), 32 << 20);
}
