//! Proxies from the environment read as reqwest read them, end to end through a client: in a CGI
//! program (`REQUEST_METHOD` set) only `HTTP_PROXY` is ignored (the httpoxy defence), so
//! `ALL_PROXY` still applies; an empty `HTTP_PROXY` does not hide `http_proxy`. (The rules in full
//! are unit-tested in src/http/connect.rs.) One test function: the environment is the process's,
//! so the scenarios run one after the other.

#[path = "common/fake_opik.rs"]
mod fake;

use fake::*;
use opik_attachments::EntityType;

#[test]
fn environment_proxies_as_reqwest_read_them() {
    all_proxy_is_used_when_request_method_is_set();
    lowercase_http_proxy_is_used_when_the_uppercase_one_is_empty();
}

/// Lists through a fresh fake Opik after `set_env(proxy port)` (proxy variables cleared first):
/// asserts the list went through the proxy (`unused` says why it might not have), and returns
/// what the proxy saw.
fn list_through_env_proxy(
    set_env: impl FnOnce(u16),
    unused: &str,
) -> Vec<(String, Option<String>)> {
    clear_proxy_env();
    let (port, _) = listing_opik();
    let (proxy_port, via_proxy) = proxy();
    set_env(proxy_port);
    let got = client(port)
        .list(None, EntityType::Trace, ENTITY)
        .expect("list");
    assert_eq!(got.len(), 1);
    let heads = via_proxy.lock().unwrap().clone();
    assert!(!heads.is_empty(), "{unused}");
    for (line, _) in &heads {
        assert!(
            line.contains(&format!("http://127.0.0.1:{port}/")),
            "{line}"
        );
    }
    heads
}

fn all_proxy_is_used_when_request_method_is_set() {
    list_through_env_proxy(
        |proxy_port| {
            std::env::set_var("REQUEST_METHOD", "GET");
            std::env::set_var("ALL_PROXY", format!("http://127.0.0.1:{proxy_port}"));
        },
        "ALL_PROXY bypassed because REQUEST_METHOD is set",
    );
}

fn lowercase_http_proxy_is_used_when_the_uppercase_one_is_empty() {
    std::env::remove_var("REQUEST_METHOD");
    let heads = list_through_env_proxy(
        |proxy_port| {
            std::env::set_var("HTTP_PROXY", "");
            std::env::set_var("http_proxy", format!("http://u:p@127.0.0.1:{proxy_port}"));
        },
        "http_proxy ignored because HTTP_PROXY is set but empty",
    );
    for (_, auth) in &heads {
        assert_eq!(auth.as_deref(), Some("Basic dTpw"));
    }
}
