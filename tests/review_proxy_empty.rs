//! Review (reqwest → hyper): `HTTP_PROXY` set but empty, `http_proxy` naming a proxy. reqwest read
//! `HTTP_PROXY`, found no usable proxy in it and fell back to `http_proxy`; hyper-util's `Matcher`
//! takes the first variable that is set at all (the empty one) and so uses no proxy. One scenario
//! in its own binary: the environment is the process's.

#[path = "common/review_fake.rs"]
mod fake;

use fake::*;
use opik_attachments::EntityType;
use std::net::TcpStream;
use std::sync::Arc;

#[test]
fn lowercase_http_proxy_is_used_when_the_uppercase_one_is_empty() {
    for v in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
        std::env::remove_var(v);
        std::env::remove_var(v.to_ascii_lowercase());
    }
    std::env::remove_var("REQUEST_METHOD");
    let (port, _) = fake_opik(Arc::new(|req: &Seen, conn: &mut TcpStream, _| {
        if req.target().contains("projects/retrieve") {
            project(conn)
        } else {
            respond(conn, "200 OK", "", page("").as_bytes())
        }
    }));
    let (proxy_port, via_proxy) = proxy();
    std::env::set_var("HTTP_PROXY", "");
    std::env::set_var("http_proxy", format!("http://u:p@127.0.0.1:{proxy_port}"));
    let got = client(port).list(None, EntityType::Trace, ENTITY).expect("list");
    assert_eq!(got.len(), 1);
    let heads = via_proxy.lock().unwrap().clone();
    assert!(!heads.is_empty(), "http_proxy ignored because HTTP_PROXY is set but empty");
    for (line, auth) in &heads {
        assert!(line.contains(&format!("http://127.0.0.1:{port}/")), "{line}");
        assert_eq!(auth.as_deref(), Some("Basic dTpw"));
    }
}
