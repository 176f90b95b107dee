//! Helpers shared by the integration tests: an HTTP client and the Opik calls they drive.
#![allow(dead_code)]

use std::io::Write;

use base64::Engine;
use bytes::Bytes;
use opik_test_server::{Config, StorageMode, TestServer};
use serde_json::{json, Value};

pub const TRACE_ID: &str = "01a1fd85-70ca-7a3b-9c84-0027fde3f4aa";
pub const SPAN_ID: &str = "01a1fd85-7cab-7a3b-9c84-0027fde3f4ab";

pub fn start(mode: StorageMode) -> TestServer {
    TestServer::start(Config {
        mode,
        ..Config::default()
    })
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// Base64 of the base URL, as the `path` parameter.
pub fn path_param(base_url: &str) -> String {
    base64::engine::general_purpose::URL_SAFE.encode(base_url)
}

/// Deterministic pseudo-random bytes.
pub fn make_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A response reduced to what the tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

/// An Opik API caller with optional auth headers.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub api_key: Option<String>,
    pub workspace: Option<String>,
}

impl Api {
    pub fn new(server: &TestServer) -> Api {
        Api {
            base: server.base_url(),
            http: client(),
            api_key: None,
            workspace: None,
        }
    }

    pub fn with_auth(server: &TestServer, key: &str, workspace: &str) -> Api {
        Api {
            api_key: Some(key.into()),
            workspace: Some(workspace.into()),
            ..Api::new(server)
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn auth(&self, mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(k) = &self.api_key {
            req = req.header("authorization", k);
        }
        if let Some(w) = &self.workspace {
            req = req.header("comet-workspace", w);
        }
        req
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap());
        reply(self.auth(req).send().await.unwrap()).await
    }

    pub async fn post_gzip(&self, path: &str, body: &Value) -> Reply {
        let req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gzip(&serde_json::to_vec(body).unwrap()));
        reply(self.auth(req).send().await.unwrap()).await
    }

    pub async fn get(&self, path_and_query: &str) -> Reply {
        reply(
            self.auth(self.http.get(self.url(path_and_query)))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// GET an absolute URL with the auth headers (backend download links).
    pub async fn get_abs(&self, url: &str) -> Reply {
        reply(self.auth(self.http.get(url)).send().await.unwrap()).await
    }

    pub async fn upload_start(
        &self,
        file_name: &str,
        parts: u64,
        entity_type: &str,
        entity_id: &str,
        project: Option<&str>,
    ) -> Reply {
        self.post(
            "v1/private/attachment/upload-start",
            &json!({
                "file_name": file_name,
                "num_of_file_parts": parts,
                "mime_type": null,
                "project_name": project,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "path": path_param(&self.base),
            }),
        )
        .await
    }

    pub async fn project_id(&self, name: &str) -> String {
        let r = self
            .post("v1/private/projects/retrieve", &json!({"name": name}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_string()
    }

    pub async fn list(
        &self,
        project_id: &str,
        entity_type: &str,
        entity_id: &str,
        extra: &str,
    ) -> Reply {
        let path = path_param(&self.base);
        self.get(&format!(
            "v1/private/attachment/list?project_id={project_id}&entity_type={entity_type}&entity_id={entity_id}&path={path}{extra}"
        ))
        .await
    }

    /// Direct mode: upload-start + PUT with Content-Length. Returns the PUT status.
    pub async fn direct_upload(&self, file_name: &str, data: Vec<u8>, project: &str) -> u16 {
        let start = self
            .upload_start(file_name, 1, "trace", TRACE_ID, Some(project))
            .await;
        assert_eq!(start.status, 200, "{}", start.text());
        let url = start.json()["pre_sign_urls"][0]
            .as_str()
            .unwrap()
            .to_string();
        let put = self
            .auth(self.http.put(url))
            .body(data)
            .send()
            .await
            .unwrap();
        put.status().as_u16()
    }
}
