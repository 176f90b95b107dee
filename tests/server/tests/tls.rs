//! HTTPS: the same endpoints over TLS, including the emulator's presigned URLs.

mod common;

use common::*;
use opik_test_server::{Config, StorageMode, TestServer, TlsPem};

const CA: &str = include_str!("tls/ca.pem");

fn start_tls(mode: StorageMode) -> TestServer {
    TestServer::start(Config {
        mode,
        tls: Some(TlsPem {
            cert_chain: include_str!("tls/server.pem").into(),
            private_key: include_str!("tls/server.key").into(),
        }),
        ..Config::default()
    })
}

fn trusting_client() -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(CA.as_bytes()).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn s3_flow_over_https() {
    let server = start_tls(StorageMode::S3);
    let base = server.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let api = Api {
        http: trusting_client(),
        ..Api::new(&server)
    };
    assert_eq!(api.get("is-alive/ping").await.status, 200);

    let start = api
        .upload_start("tls.bin", 1, "trace", TRACE_ID, Some("tls"))
        .await
        .json();
    let url = start["pre_sign_urls"][0].as_str().unwrap();
    assert!(url.starts_with(&format!("{base}s3/opik/")), "{url}");
    let put = reply(api.http.put(url).body("secret bytes").send().await.unwrap()).await;
    assert_eq!(put.status, 200, "{}", put.text());
    let parts = serde_json::json!([{"e_tag": put.header("etag").unwrap(), "part_number": 1}]);
    let body = serde_json::json!({"file_name": "tls.bin", "project_name": "tls", "entity_type": "trace",
        "entity_id": TRACE_ID, "file_size": 12, "upload_id": start["upload_id"], "uploaded_file_parts": parts});
    assert_eq!(
        api.post("v1/private/attachment/upload-complete", &body)
            .await
            .status,
        204
    );
    let project_id = api.project_id("tls").await;
    let link = api.list(&project_id, "trace", TRACE_ID, "").await.json()["content"][0]["link"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(link.starts_with("https://"), "{link}");
    assert_eq!(
        &reply(api.http.get(&link).send().await.unwrap()).await.body[..],
        b"secret bytes"
    );
}

#[tokio::test]
async fn untrusted_clients_fail_the_handshake() {
    let server = start_tls(StorageMode::Direct);
    let err = client()
        .get(format!("{}is-alive/ping", server.base_url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // The server keeps serving trusted clients afterwards.
    let ok = trusting_client()
        .get(format!("{}is-alive/ping", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[test]
fn bad_pem_is_reported() {
    let err = TestServer::try_start(Config {
        tls: Some(TlsPem {
            cert_chain: "nope".into(),
            private_key: "nope".into(),
        }),
        ..Config::default()
    })
    .unwrap_err();
    assert!(err.contains("TLS"), "{err}");
}
