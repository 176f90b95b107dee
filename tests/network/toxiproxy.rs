//! A Toxiproxy server process for the tests, driven through its HTTP API (no `toxiproxy-cli`).
//!
//! Toxiproxy is a TCP proxy whose links carry "toxics": bandwidth limits, latency, slicing,
//! resets, blackholes, byte limits. `upstream` toxics act on what the client sends (uploads),
//! `downstream` toxics on what it receives (downloads). Toxics added while a connection is open
//! apply to it at once, so a fault can land in the middle of a transfer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The binary `scripts/install-test-deps` installs, as `toxiproxy-server`: `$TOXIPROXY_SERVER`,
/// then `PATH`, then `$(go env GOPATH)/bin`, then `~/go/bin`. Only a binary that answers
/// `-version` counts.
pub fn find() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("TOXIPROXY_SERVER") {
        candidates.push(p.into());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("toxiproxy-server")));
    }
    for go in ["go", "/usr/local/go/bin/go"] {
        if let Ok(out) = Command::new(go).args(["env", "GOPATH"]).output() {
            let gopath = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !gopath.is_empty() {
                candidates
                    .extend(std::env::split_paths(&gopath).map(|d| d.join("bin/toxiproxy-server")));
            }
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join("go/bin/toxiproxy-server"));
    }
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Which way a toxic acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Client to server: request bodies, uploads.
    Up,
    /// Server to client: responses, downloads.
    Down,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Up => "upstream",
            Stream::Down => "downstream",
        }
    }
}

/// One toxic, as the API takes it.
#[derive(Clone, Debug)]
pub struct Toxic {
    pub kind: &'static str,
    pub stream: Stream,
    pub attributes: Value,
}

impl Toxic {
    /// Toxic names must be unique per proxy: kind and direction make one.
    pub fn name(&self) -> String {
        format!("{}_{}", self.kind, self.stream.as_str())
    }
    /// At most `kb_per_s` × 1000 bytes a second (Toxiproxy's unit is the decimal KB).
    pub fn bandwidth(stream: Stream, kb_per_s: u64) -> Toxic {
        Toxic {
            kind: "bandwidth",
            stream,
            attributes: json!({ "rate": kb_per_s }),
        }
    }
    /// Every chunk delayed by `ms` ± `jitter_ms`.
    pub fn latency(stream: Stream, ms: u64, jitter_ms: u64) -> Toxic {
        Toxic {
            kind: "latency",
            stream,
            attributes: json!({ "latency": ms, "jitter": jitter_ms }),
        }
    }
    /// Data cut into pieces of `average` ± `variation` bytes, `delay_us` apart.
    pub fn slicer(stream: Stream, average: u64, variation: u64, delay_us: u64) -> Toxic {
        Toxic {
            kind: "slicer",
            stream,
            attributes: json!({ "average_size": average, "size_variation": variation, "delay": delay_us }),
        }
    }
    /// The connection is reset (TCP RST) after `after_ms`.
    pub fn reset_peer(stream: Stream, after_ms: u64) -> Toxic {
        Toxic {
            kind: "reset_peer",
            stream,
            attributes: json!({ "timeout": after_ms }),
        }
    }
    /// No data passes; the connection is closed after `ms` (0: never, data is dropped).
    pub fn timeout(stream: Stream, ms: u64) -> Toxic {
        Toxic {
            kind: "timeout",
            stream,
            attributes: json!({ "timeout": ms }),
        }
    }
    /// The connection is closed once `bytes` went through it in this direction.
    pub fn limit_data(stream: Stream, bytes: u64) -> Toxic {
        Toxic {
            kind: "limit_data",
            stream,
            attributes: json!({ "bytes": bytes }),
        }
    }
    /// A short description for the results table.
    pub fn describe(&self) -> String {
        let dir = match self.stream {
            Stream::Up => "up",
            Stream::Down => "down",
        };
        let a = &self.attributes;
        match self.kind {
            "bandwidth" => format!("bandwidth {} KB/s {dir}", a["rate"]),
            "latency" => format!("latency {}±{} ms {dir}", a["latency"], a["jitter"]),
            "slicer" => format!("slicer ~{} B {dir}", a["average_size"]),
            "reset_peer" => format!("reset_peer {dir}"),
            "timeout" => format!("timeout {} ms {dir}", a["timeout"]),
            "limit_data" => format!("limit_data {} B {dir}", a["bytes"]),
            other => format!("{other} {dir}"),
        }
    }
}

/// A running `toxiproxy-server` on 127.0.0.1, killed when dropped.
pub struct Toxiproxy {
    child: Child,
    api: String,
    pub log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Toxiproxy {
    /// Starts the server on a free port and waits until its API answers. The port is found by
    /// binding and releasing it, so another process may take it first: a few tries.
    pub fn start(binary: &Path, log: PathBuf) -> Result<Toxiproxy, String> {
        let mut last = String::new();
        for _ in 0..4 {
            let port = free_port();
            let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let child = Command::new(binary)
                .args(["-host", "127.0.0.1", "-port", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
                .stderr(log_file)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
            let mut t = Toxiproxy {
                child,
                api: format!("127.0.0.1:{port}"),
                log: log.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = t.child.try_wait() {
                    last = format!("toxiproxy-server exited at start ({status})");
                    break;
                }
                if let Ok((200, _)) = t.request("GET", "/version", None) {
                    return Ok(t);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if last.is_empty() {
                last = "toxiproxy-server's API did not answer within 10 s".into();
            }
        }
        Err(format!("{last} (log: {})", log.display()))
    }

    /// One API call (HTTP/1.0, so the answer is never chunked): status and JSON body (`null`
    /// when empty, a string when not JSON).
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let mut s = TcpStream::connect(&self.api).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.api,
            body.len()
        )
        .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw);
        let (head, payload) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no HTTP status in {head:?}"))?;
        let json = if payload.trim().is_empty() {
            Value::Null
        } else {
            // JSON everywhere but `/version`, which is plain text.
            serde_json::from_str(payload).unwrap_or_else(|_| Value::String(payload.to_string()))
        };
        Ok((status, json))
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>, ok: &[u16]) -> Value {
        match self.request(method, path, body) {
            Ok((status, json)) if ok.contains(&status) => json,
            Ok((status, json)) => panic!("toxiproxy {method} {path}: HTTP {status}: {json}"),
            Err(e) => panic!("toxiproxy {method} {path}: {e}"),
        }
    }

    /// Creates a proxy listening on a free port of 127.0.0.1, aimed at a closed port until
    /// [`Toxiproxy::set_upstream`]; returns its `host:port`. Knowing the port before the
    /// upstream lets a server be started with the proxy's address in its presigned URLs.
    pub fn create_proxy(&self, name: &str) -> String {
        let p = self.call(
            "POST",
            "/proxies",
            Some(&json!({"name": name, "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9", "enabled": true})),
            &[201],
        );
        let listen = p["listen"].as_str().unwrap_or_default().to_string();
        assert!(!listen.ends_with(":0"), "toxiproxy gave no port: {p}");
        listen
    }

    /// Points the proxy at `upstream` (`host:port`); it keeps its listening port.
    pub fn set_upstream(&self, name: &str, upstream: &str) {
        let p = self.call(
            "POST",
            &format!("/proxies/{name}"),
            Some(&json!({"upstream": upstream})),
            &[200],
        );
        assert_eq!(p["upstream"].as_str(), Some(upstream), "{p}");
    }

    pub fn delete_proxy(&self, name: &str) {
        self.call("DELETE", &format!("/proxies/{name}"), None, &[204, 404]);
    }

    pub fn add_toxic(&self, proxy: &str, toxic: &Toxic) {
        self.call(
            "POST",
            &format!("/proxies/{proxy}/toxics"),
            Some(&json!({
                "name": toxic.name(),
                "type": toxic.kind,
                "stream": toxic.stream.as_str(),
                "toxicity": 1.0,
                "attributes": toxic.attributes,
            })),
            &[200],
        );
    }

    pub fn remove_toxic(&self, proxy: &str, toxic: &Toxic) {
        self.call(
            "DELETE",
            &format!("/proxies/{proxy}/toxics/{}", toxic.name()),
            None,
            &[204, 404],
        );
    }

    /// Removes every toxic of the proxy; returns how many there were.
    pub fn clear_toxics(&self, proxy: &str) -> usize {
        let list = self.call("GET", &format!("/proxies/{proxy}/toxics"), None, &[200]);
        let names: Vec<String> = list
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for n in &names {
            self.call(
                "DELETE",
                &format!("/proxies/{proxy}/toxics/{n}"),
                None,
                &[204, 404],
            );
        }
        names.len()
    }
}

impl Drop for Toxiproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
