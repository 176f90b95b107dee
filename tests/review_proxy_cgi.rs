//! Review (reqwest → hyper): `ALL_PROXY` in a process whose environment has `REQUEST_METHOD`
//! (a CGI program, or any program started by one). reqwest ignored only `HTTP_PROXY`/`http_proxy`
//! there (the httpoxy defence) and still used `ALL_PROXY` and `HTTPS_PROXY`; hyper-util's
//! `Matcher` drops every proxy when `REQUEST_METHOD` is set, so the requests bypass the proxy the
//! user configured. One scenario in its own binary: the environment is the process's.

#[path = "common/review_fake.rs"]
mod fake;

use fake::*;
use opik_attachments::EntityType;
use std::net::TcpStream;
use std::sync::Arc;

#[test]
fn all_proxy_is_used_when_request_method_is_set() {
    for v in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
        std::env::remove_var(v);
        std::env::remove_var(v.to_ascii_lowercase());
    }
    let (port, _) = fake_opik(Arc::new(|req: &Seen, conn: &mut TcpStream, _| {
        if req.target().contains("projects/retrieve") {
            project(conn)
        } else {
            respond(conn, "200 OK", "", page("").as_bytes())
        }
    }));
    let (proxy_port, via_proxy) = proxy();
    std::env::set_var("REQUEST_METHOD", "GET");
    std::env::set_var("ALL_PROXY", format!("http://127.0.0.1:{proxy_port}"));
    let got = client(port).list(None, EntityType::Trace, ENTITY).expect("list");
    assert_eq!(got.len(), 1);
    let heads = via_proxy.lock().unwrap().clone();
    assert!(!heads.is_empty(), "ALL_PROXY bypassed because REQUEST_METHOD is set");
    for (line, _) in &heads {
        assert!(line.contains(&format!("http://127.0.0.1:{port}/")), "{line}");
    }
}
