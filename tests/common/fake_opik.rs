//! Shared by tests/transport_edges.rs and tests/proxy_env.rs: a scripted fake Opik on raw TCP,
//! one request per connection, and a tiny forwarding HTTP proxy that records what it was asked.
#![allow(dead_code)]

use opik_attachments::{Client, Options, RetryPolicy};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const KEY: &str = "edge-test-key";
pub const PROJECT_ID: &str = "0190d1c8-5a6b-7c3d-8e9f-0a1b2c3d4e5f";
pub const ENTITY: &str = "0190d1c8-5a6b-7c3d-8e9f-000000000001";

/// One request as it arrived: its head (request line and headers, as sent) and body.
#[derive(Clone, Debug)]
pub struct Seen {
    pub head: String,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

pub type Answer = dyn Fn(&Seen, &mut TcpStream, u16) + Send + Sync;

/// Starts the fake Opik; `answer(request, socket, own port)` writes the whole answer. Returns its
/// port and every request it saw.
pub fn fake_opik(answer: Arc<Answer>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let (log, answer) = (log.clone(), answer.clone());
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let Some(req) = read_request(&mut conn) else {
                    return;
                };
                log.lock().unwrap().push(req.clone());
                answer(&req, &mut conn, port);
                let _ = conn.flush();
                let _ = conn.shutdown(std::net::Shutdown::Write);
                // Let the client read the answer before the socket closes.
                let mut sink = [0u8; 4096];
                while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    (port, seen)
}

fn read_request(conn: &mut TcpStream) -> Option<Seen> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut req = Seen {
        head,
        body: Vec::new(),
    };
    if let Some(len) = req.header("content-length") {
        let mut body = vec![0u8; len.parse().ok()?];
        conn.read_exact(&mut body).ok()?;
        req.body = body;
    }
    Some(req)
}

pub fn respond(conn: &mut TcpStream, status: &str, headers: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
}

pub fn project(conn: &mut TcpStream) {
    respond(
        conn,
        "200 OK",
        "Content-Type: application/json\r\n",
        format!("{{\"id\":\"{PROJECT_ID}\",\"name\":\"p\"}}").as_bytes(),
    );
}

pub fn page(link: &str) -> String {
    format!(
        "{{\"page\":1,\"size\":1,\"total\":1,\"sortableBy\":[],\"content\":[{{\"link\":\"{link}\",\
         \"file_name\":\"a.bin\",\"file_size\":5,\"mime_type\":\"application/octet-stream\"}}]}}"
    )
}

pub fn client(port: u16) -> Client {
    Client::new(&Options {
        url: Some(format!("http://127.0.0.1:{port}/api/")),
        api_key: Some(KEY.into()),
        workspace: Some("default".into()),
        project_name: Some("p".into()),
        timeout: Some(Duration::from_secs(5)),
        retry: Some(RetryPolicy {
            attempts: 1,
            ..Default::default()
        }),
        ..Options::default()
    })
    .expect("client")
}

/// Each proxied connection's first request line and its `Proxy-Authorization`.
pub type ProxyLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A forwarding proxy on 127.0.0.1 (forwards only to 127.0.0.1): records each connection's first
/// request line and its `Proxy-Authorization`.
pub fn proxy() -> (u16, ProxyLog) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                client.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if !matches!(client.read(&mut byte), Ok(1)) {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let first = text.lines().next().unwrap_or("").to_string();
                let auth = text.lines().find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("proxy-authorization")
                        .then(|| v.trim().to_string())
                });
                log.lock().unwrap().push((first.clone(), auth));
                let mut words = first.split(' ');
                let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let authority = if method == "CONNECT" {
                    target.to_string()
                } else {
                    let rest = target.strip_prefix("http://").unwrap_or("");
                    let a = rest.split('/').next().unwrap_or("");
                    a.rsplit('@').next().unwrap_or(a).to_string()
                };
                if !authority.starts_with("127.0.0.1:") {
                    let _ =
                        client.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
                    return;
                }
                let Ok(mut upstream) = TcpStream::connect(&authority) else {
                    return;
                };
                if method == "CONNECT" {
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                } else if upstream.write_all(&head).is_err() {
                    return;
                }
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut upstream, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    (port, seen)
}
