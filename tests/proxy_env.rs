//! Proxies from the environment read as reqwest read them, end to end through a client: in a CGI
//! program (`REQUEST_METHOD` set) only `HTTP_PROXY` is ignored (the httpoxy defence), so
//! `ALL_PROXY` still applies; an empty `HTTP_PROXY` does not hide `http_proxy`. (The rules in full
//! are unit-tested in src/http/connect.rs.) One test function: the environment is the process's,
//! so the scenarios run one after the other.

#[path = "common/fake_opik.rs"]
mod fake;

use fake::*;
use opik_attachments::EntityType;
use std::net::TcpStream;
use std::sync::Arc;

#[test]
fn environment_proxies_as_reqwest_read_them() {
    all_proxy_is_used_when_request_method_is_set();
    lowercase_http_proxy_is_used_when_the_uppercase_one_is_empty();
}

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
    let got = client(port)
        .list(None, EntityType::Trace, ENTITY)
        .expect("list");
    assert_eq!(got.len(), 1);
    let heads = via_proxy.lock().unwrap().clone();
    assert!(
        !heads.is_empty(),
        "ALL_PROXY bypassed because REQUEST_METHOD is set"
    );
    for (line, _) in &heads {
        assert!(
            line.contains(&format!("http://127.0.0.1:{port}/")),
            "{line}"
        );
    }
}

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
    let got = client(port)
        .list(None, EntityType::Trace, ENTITY)
        .expect("list");
    assert_eq!(got.len(), 1);
    let heads = via_proxy.lock().unwrap().clone();
    assert!(
        !heads.is_empty(),
        "http_proxy ignored because HTTP_PROXY is set but empty"
    );
    for (line, auth) in &heads {
        assert!(
            line.contains(&format!("http://127.0.0.1:{port}/")),
            "{line}"
        );
        assert_eq!(auth.as_deref(), Some("Basic dTpw"));
    }
}
