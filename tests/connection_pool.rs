//! The connection pool (src/http/pool.rs: connections polled by their users, no task per
//! connection): reuse where HTTP/1 allows it and never where it does not, answers that come early,
//! late, chunked or after `100 Continue`, dead idle connections, stalls. Against a scripted
//! keep-alive fake (raw TCP, many requests per connection), so every connection the client opens
//! is counted and each answer's bytes and timing are exact.

#[path = "common/fake_opik.rs"]
mod fake;

use fake::{listen, read_head};
use opik_attachments::{Attachment, Client, EntityType, Options, RetryPolicy};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "pool-test-key";
const ENTITY: &str = "0190d1c8-5a6b-7c3d-8e9f-000000000001";

/// A request head as it arrived, and the number of the connection it came on (from 1).
#[derive(Clone, Debug)]
struct Seen {
    conn: usize,
    head: String,
}

impl Seen {
    fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or("")
    }
    fn method(&self) -> &str {
        self.head.split(' ').next().unwrap_or("")
    }
    fn content_length(&self) -> usize {
        fake::header(&self.head, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// What the handler wants done with the connection after its answer.
#[derive(PartialEq)]
enum Then {
    /// Read the next request on it.
    Next,
    /// Stop reading; keep it open (never close it) until the test ends.
    Hold,
}

type Handler = dyn Fn(&Seen, &mut TcpStream, u16) -> Then + Send + Sync;

struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    conns: Arc<AtomicUsize>,
    /// Every accepted socket (clones), to close them from the test.
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    /// Connections the client closed (the server read their end).
    ended: Arc<AtomicUsize>,
}

/// A keep-alive fake: each connection is read request after request; the handler reads the body
/// itself (`read_body`) or not, and writes the whole answer.
fn fake(handler: Arc<Handler>) -> Fake {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let conns = Arc::new(AtomicUsize::new(0));
    let sockets = Arc::new(Mutex::new(Vec::new()));
    let ended = Arc::new(AtomicUsize::new(0));
    let (log, count, socks, ends) = (seen.clone(), conns.clone(), sockets.clone(), ended.clone());
    let port = listen(usize::MAX, move |mut conn, port| {
        socks.lock().unwrap().push(conn.try_clone().unwrap());
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        loop {
            conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
            let Some(head) = read_head(&mut conn) else {
                ends.fetch_add(1, Ordering::SeqCst);
                return;
            };
            let head = String::from_utf8_lossy(&head).into_owned();
            let req = Seen { conn: n, head };
            log.lock().unwrap().push(req.clone());
            if handler(&req, &mut conn, port) == Then::Hold {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
        }
    });
    Fake {
        port,
        seen,
        conns,
        sockets,
        ended,
    }
}

impl Fake {
    /// Asserts the client opened `want` connections, printing every request with its connection.
    fn assert_conns(&self, want: usize) {
        let seen = self.seen.lock().unwrap().clone();
        assert_eq!(
            self.conns.load(Ordering::SeqCst),
            want,
            "{:#?}",
            seen.iter()
                .map(|s| format!("{} {} {}", s.conn, s.method(), s.target()))
                .collect::<Vec<_>>()
        );
    }

    /// Shuts `how` down on every socket accepted so far (the server ending its connections).
    fn shut_all(&self, how: std::net::Shutdown) {
        for s in self.sockets.lock().unwrap().iter() {
            let _ = s.shutdown(how);
        }
    }
}

fn read_body(req: &Seen, conn: &mut TcpStream) -> Vec<u8> {
    let mut body = vec![0u8; req.content_length()];
    conn.read_exact(&mut body).unwrap();
    body
}

fn answer(conn: &mut TcpStream, status: &str, headers: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
    let _ = conn.flush();
}

fn json(conn: &mut TcpStream, body: &[u8]) {
    answer(conn, "200 OK", "Content-Type: application/json\r\n", body);
}

/// The project that `projects/retrieve` finds.
fn project(conn: &mut TcpStream) {
    json(
        conn,
        b"{\"id\":\"0190d1c8-5a6b-7c3d-8e9f-0a1b2c3d4e5f\",\"name\":\"p\"}",
    );
}

/// S3-mode upload-start answer: one part, presigned on this fake's `/bucket/`.
fn s3_start_body(port: u16) -> String {
    format!(
        "{{\"upload_id\":\"u1\",\"pre_sign_urls\":[\"http://127.0.0.1:{port}/bucket/k?partNumber=1&X-Amz-Signature=ab\"]}}"
    )
}

/// The S3 flow's answer to `req` (body read): status, headers and body.
fn s3_answer(req: &Seen, conn: &mut TcpStream, port: u16) -> (&'static str, &'static str, String) {
    read_body(req, conn);
    let t = req.target();
    if t.contains("upload-start") {
        (
            "200 OK",
            "Content-Type: application/json\r\n",
            s3_start_body(port),
        )
    } else if t.starts_with("/bucket/") {
        ("200 OK", "ETag: \"e1\"\r\n", String::new())
    } else if t.contains("upload-complete") {
        ("204 No Content", "", String::new())
    } else {
        ("404 Not Found", "", "{}".into())
    }
}

/// The S3 flow of one upload: upload-start on the backend, the part PUT to a presigned URL (the
/// storage pool), upload-complete on the backend.
fn s3_opik(req: &Seen, conn: &mut TcpStream, port: u16) -> Then {
    let (status, headers, body) = s3_answer(req, conn, port);
    answer(conn, status, headers, body.as_bytes());
    Then::Next
}

fn client(port: u16, timeout: Duration, attempts: u32) -> Client {
    Client::new(&Options {
        url: Some(format!("http://127.0.0.1:{port}/api/")),
        api_key: Some(KEY.into()),
        workspace: Some("default".into()),
        project_name: Some("p".into()),
        timeout: Some(timeout),
        retry: Some(RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_millis(5),
        }),
        ..Options::default()
    })
    .expect("client")
}

/// Uploads `{prefix}{i}.bin` (`len` bytes of `i`) to `ENTITY`; a failure names `i`.
fn upload(c: &Client, prefix: &str, i: usize, len: usize) {
    let a = Attachment::from_bytes(vec![i as u8; len], &format!("{prefix}{i}.bin"), None).unwrap();
    c.upload(None, EntityType::Trace, ENTITY, &a)
        .unwrap_or_else(|e| panic!("upload {i}: {:?} {}", e.status, e.message));
}

/// Uploads `count` attachments of `len` bytes one after the other.
fn uploads(c: &Client, prefix: &str, count: usize, len: usize) {
    for i in 0..count {
        upload(c, prefix, i, len);
    }
}

/// Six uploads of `len` bytes in sequence against the S3 flow: 18 requests on two connections.
fn six_uploads_use_two_connections(prefix: &str, len: usize) {
    let f = fake(Arc::new(s3_opik));
    let c = client(f.port, Duration::from_secs(10), 1);
    uploads(&c, prefix, 6, len);
    assert_eq!(f.seen.lock().unwrap().len(), 18);
    f.assert_conns(2);
}

/// Small uploads (on the caller's lane) in sequence: one connection to the backend and one for
/// storage, reused by every upload.
#[test]
fn a_sequence_of_small_uploads_uses_two_connections() {
    six_uploads_use_two_connections("s", 1000);
}

/// The same for uploads large enough to run on the I/O threads (one part each).
#[test]
fn a_sequence_of_uploads_on_the_io_threads_uses_two_connections() {
    six_uploads_use_two_connections("l", 200_000);
}

/// An answer with `Connection: close` whose server then leaves the socket open: the connection
/// must not be used again (the next request would wait on it forever).
#[test]
fn a_connection_close_answer_is_not_reused() {
    let f = fake(Arc::new(|req: &Seen, conn: &mut TcpStream, port: u16| {
        let (status, headers, body) = s3_answer(req, conn, port);
        let headers = format!("{headers}Connection: close\r\n");
        answer(conn, status, &headers, body.as_bytes());
        Then::Hold
    }));
    let c = client(f.port, Duration::from_secs(3), 1);
    let start = Instant::now();
    uploads(&c, "c", 3, 100);
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(f.conns.load(Ordering::SeqCst), 9);
}

/// A server that closes each connection just after answering on it, without `Connection: close`,
/// at once or a moment later. A blocking call that follows the previous one within a millisecond
/// does not first turn the lane's event loop (`crate::exec::lanes`), so it can take such a
/// connection before its close is noted; and a close that comes as the next request goes out
/// fails that request whatever the client does. Either way the request is retried, and every
/// upload completes, each once.
#[test]
fn back_to_back_calls_survive_a_server_that_closes_after_each_answer_silently() {
    for delay in [Duration::ZERO, Duration::from_micros(200)] {
        let f = fake(Arc::new(
            move |req: &Seen, conn: &mut TcpStream, port: u16| {
                let (status, headers, body) = s3_answer(req, conn, port);
                answer(conn, status, headers, body.as_bytes());
                std::thread::sleep(delay);
                let _ = conn.shutdown(std::net::Shutdown::Both);
                Then::Hold
            },
        ));
        let c = client(f.port, Duration::from_secs(5), 5);
        let count = 20;
        uploads(&c, "q", count, 100);
        let seen = f.seen.lock().unwrap();
        let completes = seen
            .iter()
            .filter(|s| s.target().contains("upload-complete"))
            .count();
        assert_eq!(completes, count, "{delay:?}: each upload completed once");
    }
}

/// An answer whose head trickles in, a byte every 50 ms, never complete: a blocking call waits
/// for it in `recv` (`crate::http`'s `tcp.rs`) only for one wait's time in all, then in its event
/// loop, where the stall timer (the client's 300 ms timeout) ends the call. Waiting in `recv` for
/// as long as bytes keep coming would hold the call as long as the server likes.
#[test]
fn an_answer_head_that_trickles_in_still_times_out() {
    let f = fake(Arc::new(|req: &Seen, conn: &mut TcpStream, _port: u16| {
        read_body(req, conn);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\n");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(8) {
            if conn.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Then::Hold
    }));
    let c = client(f.port, Duration::from_millis(300), 1);
    let a = Attachment::from_bytes(vec![1u8; 100], "t.bin", None).unwrap();
    let start = Instant::now();
    let err = c
        .upload(None, EntityType::Trace, ENTITY, &a)
        .expect_err("an answer that never ends");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}: {:?} {}",
        start.elapsed(),
        err.status,
        err.message
    );
}

/// An HTTP/1.0 answer without keep-alive, from a server that leaves the socket open.
#[test]
fn an_http_1_0_answer_is_not_reused() {
    let f = fake(Arc::new(|req: &Seen, conn: &mut TcpStream, port: u16| {
        let (status, headers, body) = s3_answer(req, conn, port);
        let head = format!(
            "HTTP/1.0 {status}\r\n{headers}Content-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(head.as_bytes());
        let _ = conn.write_all(body.as_bytes());
        Then::Hold
    }));
    let c = client(f.port, Duration::from_secs(3), 1);
    uploads(&c, "h", 3, 100);
    assert_eq!(f.conns.load(Ordering::SeqCst), 9);
}

/// The server closes idle keep-alive connections (its keep-alive timeout). Nothing polls an idle
/// connection (see src/http/pool.rs), so the client closes its end when it next uses the pool
/// for that origin (as curl's connection cache does), and all of them when the client is freed:
/// at most `keep` sockets per origin wait in CLOSE_WAIT meanwhile. Here: the next upload closes
/// both dead connections and succeeds on new ones.
#[test]
fn idle_connections_the_server_closed_are_closed_at_the_next_call() {
    let f = fake(Arc::new(s3_opik));
    let c = client(f.port, Duration::from_secs(10), 1);
    // On the I/O threads (the multi-thread runtime, which keeps running between calls).
    let a = Attachment::from_bytes(vec![7u8; 200_000], "idle.bin", None).unwrap();
    c.upload(None, EntityType::Trace, ENTITY, &a)
        .expect("upload");
    assert_eq!(f.conns.load(Ordering::SeqCst), 2);
    f.shut_all(std::net::Shutdown::Write);
    std::thread::sleep(Duration::from_millis(100));
    let b = Attachment::from_bytes(vec![8u8; 200_000], "idle2.bin", None).unwrap();
    c.upload(None, EntityType::Trace, ENTITY, &b)
        .expect("an upload after the server closed the idle connections");
    let start = Instant::now();
    while f.ended.load(Ordering::SeqCst) < 2 && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        f.ended.load(Ordering::SeqCst),
        2,
        "the dead idle connections were not closed when the pool was next used"
    );
    assert_eq!(f.conns.load(Ordering::SeqCst), 4, "two new connections");
    drop(c);
}

/// A direct-mode fake: upload-start is answered with an upload URL on the backend itself;
/// `upload` answers the rest.
fn direct_opik(upload: impl Fn(&Seen, &mut TcpStream) -> Then + Send + Sync + 'static) -> Fake {
    fake(Arc::new(
        move |req: &Seen, conn: &mut TcpStream, port: u16| {
            if !req.target().contains("upload-start") {
                return upload(req, conn);
            }
            read_body(req, conn);
            json(
            conn,
            format!(
                "{{\"upload_id\":\"BEMinIO\",\"pre_sign_urls\":[\"http://127.0.0.1:{port}/api/v1/private/attachment/upload/x\"]}}"
            )
            .as_bytes(),
        );
            Then::Next
        },
    ))
}

fn big_file(len: usize) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("pool-test-{}-{len}.bin", std::process::id()));
    std::fs::write(&path, vec![0x5au8; len]).unwrap();
    path
}

/// A server that refuses a large upload as soon as it sees its head (413, the connection left
/// open, the body never read): the upload ends with the 413, within the client's timeout.
#[test]
fn an_early_413_during_a_large_upload_is_reported() {
    let f = direct_opik(|_, conn| {
        answer(
            conn,
            "413 Payload Too Large",
            "Content-Type: application/json\r\n",
            b"{\"errors\":[\"too large\"]}",
        );
        Then::Hold
    });
    let c = client(f.port, Duration::from_secs(4), 1);
    let path = big_file(64 << 20);
    let a = Attachment::from_file(&path, None, None).unwrap();
    let start = Instant::now();
    let got = c.upload(None, EntityType::Trace, ENTITY, &a);
    let _ = std::fs::remove_file(&path);
    let e = got.expect_err("a 413");
    assert_eq!(
        e.http_status,
        413,
        "{:?} {} after {:?}",
        e.status,
        e.message,
        start.elapsed()
    );
}

/// The same with a small upload on the caller's lane, the server reading the body after its
/// early answer: the next upload must work (on whatever connection).
#[test]
fn an_early_answer_then_the_next_upload_works() {
    let f = direct_opik(|req, conn| {
        answer(conn, "200 OK", "", b"");
        std::thread::sleep(Duration::from_millis(100));
        read_body(req, conn);
        Then::Next
    });
    let c = client(f.port, Duration::from_secs(4), 1);
    uploads(&c, "e", 3, 50_000);
}

/// A download whose storage answer stops in the middle of its body (the socket left open): it
/// ends with TIMEOUT within about the client's timeout.
#[test]
fn a_download_that_stops_mid_body_times_out() {
    let f = fake(Arc::new(|req: &Seen, conn: &mut TcpStream, port: u16| {
        read_body(req, conn);
        let t = req.target();
        if t.contains("projects/retrieve") {
            project(conn);
            Then::Next
        } else if t.contains("attachment/list") {
            let body = format!(
                "{{\"page\":1,\"size\":1,\"total\":1,\"sortableBy\":[],\"content\":[{{\"link\":\"http://127.0.0.1:{port}/bucket/a.bin?X-Amz-Signature=ab\",\
                 \"file_name\":\"a.bin\",\"file_size\":1000000,\"mime_type\":\"application/octet-stream\"}}]}}"
            );
            json(conn, body.as_bytes());
            Then::Next
        } else {
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
            let _ = conn.write_all(&vec![1u8; 300_000]);
            Then::Hold
        }
    }));
    let c = client(f.port, Duration::from_secs(2), 1);
    let start = Instant::now();
    let mut got = 0usize;
    let r = c.download(None, EntityType::Trace, ENTITY, "a.bin", None, |chunk| {
        got += chunk.len();
        std::thread::sleep(Duration::from_millis(2));
        Ok(())
    });
    let e = r.expect_err("a timeout");
    assert_eq!(got, 300_000);
    assert_eq!(format!("{:?}", e.status), "Timeout", "{}", e.message);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// Chunked JSON answers whose last chunk comes late, and a `100 Continue` before the storage's
/// answer: no hang, and the connections are still reused.
#[test]
fn chunked_answers_and_100_continue_keep_connections_reusable() {
    let f = fake(Arc::new(|req: &Seen, conn: &mut TcpStream, port: u16| {
        read_body(req, conn);
        let t = req.target();
        if t.contains("upload-start") {
            let body = s3_start_body(port);
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(format!("{:x}\r\n{body}\r\n", body.len()).as_bytes());
            let _ = conn.flush();
            std::thread::sleep(Duration::from_millis(150));
            let _ = conn.write_all(b"0\r\n\r\n");
        } else if t.starts_with("/bucket/") {
            let _ = conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            let _ = conn.flush();
            std::thread::sleep(Duration::from_millis(50));
            answer(conn, "200 OK", "ETag: \"e1\"\r\n", b"");
        } else {
            answer(conn, "204 No Content", "", b"");
        }
        Then::Next
    }));
    let c = client(f.port, Duration::from_secs(5), 1);
    uploads(&c, "k", 3, 100);
    assert_eq!(f.conns.load(Ordering::SeqCst), 2);
}

/// A same-origin redirect (302, empty body) on the backend: the hop can reuse the connection
/// the 302 came on; three list calls need one backend connection.
#[test]
fn a_same_origin_redirect_reuses_the_connection() {
    let f = fake(Arc::new(|req: &Seen, conn: &mut TcpStream, _port: u16| {
        read_body(req, conn);
        let t = req.target();
        if t.contains("projects/retrieve") {
            project(conn);
        } else if t.contains("/attachment/list?") {
            answer(
                conn,
                "302 Found",
                "Location: /api/v1/private/attachment/list2\r\n",
                b"",
            );
        } else {
            json(
                conn,
                b"{\"page\":1,\"size\":0,\"total\":0,\"sortableBy\":[],\"content\":[]}",
            );
        }
        Then::Next
    }));
    let c = client(f.port, Duration::from_secs(5), 1);
    for _ in 0..3 {
        c.list(None, EntityType::Trace, ENTITY).expect("list");
    }
    f.assert_conns(1);
}

/// The server closes idle connections between two uploads on the I/O threads: the second one
/// must not pick a dead connection (one attempt, so no retry hides it).
#[test]
fn uploads_on_the_io_threads_after_the_server_closed_idle_connections() {
    let f = fake(Arc::new(s3_opik));
    let c = client(f.port, Duration::from_secs(5), 1);
    for i in 0..4 {
        upload(&c, "w", i, 200_000);
        f.shut_all(std::net::Shutdown::Both);
        std::thread::sleep(Duration::from_millis(30));
    }
}
