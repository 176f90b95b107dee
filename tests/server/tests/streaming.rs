//! Large bodies are streamed in both directions: a 200 MiB chunked upload and its download keep
//! the process's peak memory far below the body size. (Alone in its own test binary, so the
//! peak-RSS reading is not disturbed by other tests.)

mod common;

use bytes::Bytes;
use common::*;
use futures_util::StreamExt;
use opik_test_server::StorageMode;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn large_direct_upload_and_download_stream() {
    const MIB: usize = 1024 * 1024;
    const TOTAL_MIB: usize = 200;
    let server = start(StorageMode::Direct);
    let api = Api::new(&server);
    let start = api
        .upload_start("large.bin", 40, "trace", TRACE_ID, Some("big"))
        .await;
    let url = start.json()["pre_sign_urls"][0]
        .as_str()
        .unwrap()
        .to_string();

    // The body is one 1 MiB block repeated, sent as a chunked stream.
    let block = Bytes::from(make_bytes(MIB, 42));
    let sent = block.clone();
    let chunks = futures_util::stream::iter(
        (0..TOTAL_MIB).map(move |_| Ok::<_, std::io::Error>(sent.clone())),
    );
    let put = api
        .http
        .put(&url)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);

    let project_id = api.project_id("big").await;
    let page = api.list(&project_id, "trace", TRACE_ID, "").await.json();
    assert_eq!(page["content"][0]["file_size"], (TOTAL_MIB * MIB) as u64);
    let link = page["content"][0]["link"].as_str().unwrap().to_string();
    let resp = api.http.get(&link).send().await.unwrap();
    assert_eq!(
        resp.headers()["content-length"],
        (TOTAL_MIB * MIB).to_string().as_str()
    );
    let mut offset = 0usize;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        for (i, byte) in chunk.iter().enumerate() {
            if *byte != block[(offset + i) % MIB] {
                panic!("downloaded byte {} differs", offset + i);
            }
        }
        offset += chunk.len();
    }
    assert_eq!(offset, TOTAL_MIB * MIB);

    if let Some(peak) = peak_rss_kib() {
        assert!(
            peak < 120 * 1024,
            "peak RSS {peak} KiB for a {TOTAL_MIB} MiB body"
        );
    }
}
