//! Shared by the tests that need a scripted fake Opik on raw TCP (one request per connection) or
//! a tiny forwarding HTTP proxy that records what it was asked.
#![allow(dead_code)]

use opik_attachments::{AttachmentInfo, Client, EntityType, Error, Options, RetryPolicy};
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
        header(&self.head, name)
    }
}

/// The value of header `name` in a request head (the request line is skipped).
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Listens on 127.0.0.1 and runs `serve(socket, own port)` on a thread per connection (at most
/// `limit` connections). Returns the port.
pub fn listen(limit: usize, serve: impl Fn(TcpStream, u16) + Clone + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(limit) {
            let Ok(conn) = conn else { return };
            let serve = serve.clone();
            std::thread::spawn(move || serve(conn, port));
        }
    });
    port
}

/// Reads a request head up to its blank line; `None` at end of stream, on an error or past 64 KiB.
pub fn read_head(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).ok()? == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(head)
}

pub type Answer = dyn Fn(&Seen, &mut TcpStream, u16) + Send + Sync;

/// Starts the fake Opik; `answer(request, socket, own port)` writes the whole answer. Returns its
/// port and every request it saw.
pub fn fake_opik(answer: Arc<Answer>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let port = listen(usize::MAX, move |mut conn, port| {
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
    (port, seen)
}

/// `fake_opik` with `projects/retrieve` answered by `project`; `rest` answers everything else.
pub fn fake_opik_with_project(
    rest: impl Fn(&Seen, &mut TcpStream, u16) + Send + Sync + 'static,
) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    fake_opik(Arc::new(move |req: &Seen, conn: &mut TcpStream, port| {
        if req.target().contains("projects/retrieve") {
            project(conn)
        } else {
            rest(req, conn, port)
        }
    }))
}

/// A fake Opik that answers every list with one attachment and no link.
pub fn listing_opik() -> (u16, Arc<Mutex<Vec<Seen>>>) {
    fake_opik_with_project(|_, conn, _| one_page(conn, ""))
}

fn read_request(conn: &mut TcpStream) -> Option<Seen> {
    let head = String::from_utf8_lossy(&read_head(conn)?).into_owned();
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

/// Answers a list with `page(link)`.
pub fn one_page(conn: &mut TcpStream, link: &str) {
    respond(conn, "200 OK", "", page(link).as_bytes())
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

/// Lists `ENTITY` through the fake at `port`; returns the list and what the fake saw, which a
/// failure prints.
pub fn list_seen(port: u16, seen: &Mutex<Vec<Seen>>) -> (Vec<AttachmentInfo>, Vec<Seen>) {
    let got = client(port).list(None, EntityType::Trace, ENTITY);
    let seen = seen.lock().unwrap().clone();
    let got = got.unwrap_or_else(|e| panic!("{:?} {}: {seen:#?}", e.status, e.message));
    (got, seen)
}

/// Downloads `a.bin` of `ENTITY` through the fake at `port`: the outcome, the bytes received and
/// what the fake saw.
pub fn download_seen(
    port: u16,
    seen: &Mutex<Vec<Seen>>,
) -> (Result<u64, Error>, Vec<u8>, Vec<Seen>) {
    let mut got = Vec::new();
    let r = client(port).download(None, EntityType::Trace, ENTITY, "a.bin", None, |b| {
        got.extend_from_slice(b);
        Ok(())
    });
    (r, got, seen.lock().unwrap().clone())
}

/// Removes every proxy variable (both cases) from the environment.
pub fn clear_proxy_env() {
    for v in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
        std::env::remove_var(v);
        std::env::remove_var(v.to_ascii_lowercase());
    }
}

/// Each proxied connection's first request line and its `Proxy-Authorization`.
pub type ProxyLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A forwarding proxy on 127.0.0.1 (forwards only to 127.0.0.1, at most 64 connections, its
/// sockets bounded by read timeouts): records each connection's first request line and its
/// `Proxy-Authorization`; later requests on a forwarded connection pass through unread.
pub fn proxy() -> (u16, ProxyLog) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let port = listen(64, move |client, _| {
        let _ = forward(client, &log);
    });
    (port, seen)
}

fn forward(
    mut client: TcpStream,
    log: &Mutex<Vec<(String, Option<String>)>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(20)))?;
    let Some(head) = read_head(&mut client) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let first = text.lines().next().unwrap_or("").to_string();
    log.lock()
        .unwrap()
        .push((first.clone(), header(&text, "proxy-authorization")));
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
        client.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")?;
        return Ok(());
    }
    let mut upstream = TcpStream::connect(&authority)?;
    upstream.set_read_timeout(Some(Duration::from_secs(20)))?;
    if method == "CONNECT" {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    } else {
        // Test servers take absolute-form requests as they are.
        upstream.write_all(&head)?;
    }
    let (mut c2, mut u2) = (client.try_clone()?, upstream.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
    Ok(())
}
