//! The `opik-test-server` program: start-up line, port file, HTTP controls, SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Kills the server if the test fails before stopping it.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test]
async fn runs_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let child = Command::new(env!("CARGO_BIN_EXE_opik-test-server"))
        .args([
            "--port",
            "0",
            "--mode",
            "s3",
            "--api-key",
            "dummy-key",
            "--workspace=ws",
        ])
        .arg("--port-file")
        .arg(&port_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("start-up line")
        .to_string();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with('/'),
        "{line}"
    );
    let port = base.trim_end_matches('/').rsplit(':').next().unwrap();
    assert_eq!(std::fs::read_to_string(&port_file).unwrap().trim(), port);

    let http = client();
    assert_eq!(
        http.get(format!("{base}is-alive/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let body = json!({"name": "x"}).to_string();
    let r = http
        .post(format!("{base}v1/private/projects/retrieve"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}v1/private/projects/retrieve"))
        .header("authorization", "dummy-key")
        .header("comet-workspace", "ws")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // S3 mode: upload-start hands out emulator URLs on the same port.
    let start = json!({"file_name": "a.bin", "num_of_file_parts": 2, "entity_type": "trace", "entity_id": TRACE_ID,
                       "path": path_param(&base)});
    let r = http
        .post(format!("{base}v1/private/attachment/upload-start"))
        .header("authorization", "dummy-key")
        .header("comet-workspace", "ws")
        .body(start.to_string())
        .send()
        .await
        .unwrap();
    let urls: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(urls["pre_sign_urls"][1]
        .as_str()
        .unwrap()
        .starts_with(&format!("{base}s3/opik/")));
    let stats: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{base}_test/stats"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["requests"], 4);

    Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            panic!("server did not exit on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn bad_arguments_exit_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_opik-test-server"))
        .arg("--mode=bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: opik-test-server"));
    let out = Command::new(env!("CARGO_BIN_EXE_opik-test-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--presign-expiry-secs"));
}
