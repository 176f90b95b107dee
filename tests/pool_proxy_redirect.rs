//! Requests through an http proxy go in absolute form. A same-origin redirect whose `Location`
//! carries `user:password@` is followed (the origin does not depend on user information): the
//! credentials must not reach the proxy in the request line. One test function: the environment
//! is the process's.

#[path = "common/fake_opik.rs"]
mod fake;

use fake::*;
use opik_attachments::EntityType;
use std::net::TcpStream;
use std::sync::Arc;

#[test]
fn userinfo_of_a_redirect_never_reaches_the_proxy_request_line() {
    for v in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "REQUEST_METHOD",
    ] {
        std::env::remove_var(v);
        std::env::remove_var(v.to_ascii_lowercase());
    }
    let (port, seen) = fake_opik(Arc::new(|req: &Seen, conn: &mut TcpStream, port| {
        let t = req.target();
        if t.contains("projects/retrieve") {
            project(conn)
        } else if t.contains("/attachment/list?") {
            let location = format!(
                "Location: http://alice:s3cret@127.0.0.1:{port}/api/v1/private/attachment/list2\r\n"
            );
            respond(conn, "302 Found", &location, b"")
        } else {
            respond(conn, "200 OK", "", page("").as_bytes())
        }
    }));
    let (proxy_port, via_proxy) = proxy();
    std::env::set_var("HTTP_PROXY", format!("http://127.0.0.1:{proxy_port}"));
    let got = client(port).list(None, EntityType::Trace, ENTITY);
    let lines: Vec<String> = via_proxy
        .lock()
        .unwrap()
        .iter()
        .map(|(l, _)| l.clone())
        .collect();
    let heads: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.head.clone())
        .collect();
    assert!(got.is_ok(), "{:?}", got.err().map(|e| e.message));
    assert!(
        lines.iter().any(|l| l.contains("list2")),
        "the redirect was not followed through the proxy: {lines:#?}"
    );
    for l in &lines {
        assert!(
            !l.contains("s3cret"),
            "credentials in the request line: {l}"
        );
    }
    for h in &heads {
        assert!(!h.contains("s3cret"), "credentials sent: {h}");
    }
}
