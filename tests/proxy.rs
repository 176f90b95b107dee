//! Proxies from the environment, as reqwest honoured them: `HTTP_PROXY` (requests in absolute
//! form, with `Proxy-Authorization` from the proxy URL's user and password), `HTTPS_PROXY` (a
//! CONNECT tunnel, TLS inside it), `https://` proxies (TLS to the proxy itself, then the same)
//! and `NO_PROXY`. The proxy is the tiny one in tests/common/fake_opik.rs, on 127.0.0.1,
//! forwarding only to 127.0.0.1, its sockets bounded by read timeouts; its https:// variant is a
//! TLS end (the test server's certificate, in this file) in front of it.
//!
//! One test function: the environment is the process's, set before each client is made.

#[path = "common/fake_opik.rs"]
mod fake;

use fake::{clear_proxy_env, proxy, ProxyLog};
use opik_attachments::{Attachment, Client, EntityType, Error, Options, RetryPolicy};
use opik_test_server::{Config, StorageMode, TestServer, TlsPem};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "proxy-test-key";

/// Starts a TLS end on 127.0.0.1 (the test server's certificate for 127.0.0.1, from its test
/// CA) that passes the plain text to the proxy at `proxy_port`: an https:// proxy. Returns its
/// port.
fn tls_front(proxy_port: u16) -> u16 {
    let certs =
        rustls_pemfile::certs(&mut include_bytes!("server/tests/tls/server.pem").as_slice())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
    let key =
        rustls_pemfile::private_key(&mut include_bytes!("server/tests/tls/server.key").as_slice())
            .unwrap()
            .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            for _ in 0..64 {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let limit = Duration::from_secs(20);
                    let Ok(Ok(mut tls)) = tokio::time::timeout(limit, acceptor.accept(conn)).await
                    else {
                        return;
                    };
                    let Ok(mut plain) =
                        tokio::net::TcpStream::connect(("127.0.0.1", proxy_port)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
    port
}

fn round_trip(server: &TestServer, ca_file: Option<std::path::PathBuf>) {
    let c = Client::new(&Options {
        url: Some(server.base_url()),
        api_key: Some(KEY.into()),
        workspace: Some("default".into()),
        project_name: Some("proxy".into()),
        ca_file,
        ..Options::default()
    })
    .expect("client");
    let id = uuid::Uuid::new_v4().to_string();
    let body = vec![7u8; 3000];
    let a = Attachment::from_bytes(body.clone(), "p.bin", None).unwrap();
    c.upload(None, EntityType::Trace, &id, &a).expect("upload");
    let mut got = Vec::new();
    c.download(None, EntityType::Trace, &id, "p.bin", None, |chunk| {
        got.extend_from_slice(chunk);
        Ok(())
    })
    .expect("download");
    assert_eq!(got, body);
}

/// What the proxy saw since the last call, asserted not empty (`what` names the proxy).
fn take_heads(seen: &ProxyLog, what: &str) -> Vec<(String, Option<String>)> {
    let heads = std::mem::take(&mut *seen.lock().unwrap());
    assert!(!heads.is_empty(), "nothing went through the {what}");
    heads
}

/// Each request line is in absolute form for `base`, with the proxy URL's `user:pw`.
fn assert_absolute_form(heads: &[(String, Option<String>)], base: &str) {
    for (line, auth) in heads {
        assert!(
            line.split(' ').nth(1).is_some_and(|t| t.starts_with(base)),
            "not absolute form: {line:?}"
        );
        // base64("user:pw")
        assert_eq!(auth.as_deref(), Some("Basic dXNlcjpwdw=="), "{line:?}");
    }
}

/// Each request line is a CONNECT to `authority`, with `auth` as its `Proxy-Authorization`.
fn assert_tunnels(heads: &[(String, Option<String>)], authority: &str, auth: Option<&str>) {
    for (line, got) in heads {
        assert_eq!(line, &format!("CONNECT {authority} HTTP/1.1"));
        assert_eq!(got.as_deref(), auth, "{line:?}");
    }
}

/// A client of `url` with one attempt per request, so a failure is not retried away.
fn one_attempt_client(url: String, more: Options) -> Client {
    Client::new(&Options {
        url: Some(url),
        api_key: Some(KEY.into()),
        retry: Some(RetryPolicy {
            attempts: 1,
            ..Default::default()
        }),
        ..more
    })
    .expect("client")
}

/// Uploads `a` to a new entity, expecting a failure.
fn failed_upload(c: &Client, a: &Attachment) -> Error {
    c.upload(
        None,
        EntityType::Trace,
        &uuid::Uuid::new_v4().to_string(),
        a,
    )
    .unwrap_err()
}

#[test]
fn environment_proxies_are_used_as_reqwest_used_them() {
    // http targets: absolute-form requests to the proxy, with its credentials.
    clear_proxy_env();
    let (port, seen) = proxy();
    let server = TestServer::start(Config {
        mode: StorageMode::S3,
        api_key: Some(KEY.into()),
        ..Config::default()
    });
    std::env::set_var("HTTP_PROXY", format!("http://user:pw@127.0.0.1:{port}"));
    round_trip(&server, None);
    let base = server.base_url();
    assert_absolute_form(&take_heads(&seen, "proxy"), &base);

    // NO_PROXY: straight to the server.
    std::env::set_var("NO_PROXY", "127.0.0.1");
    round_trip(&server, None);
    assert!(
        seen.lock().unwrap().is_empty(),
        "NO_PROXY ignored: {:?}",
        seen.lock().unwrap()
    );

    // https targets: a CONNECT tunnel, TLS inside it (verified with the CA file).
    clear_proxy_env();
    let tls = TestServer::start(Config {
        mode: StorageMode::S3,
        api_key: Some(KEY.into()),
        tls: Some(TlsPem {
            cert_chain: include_str!("server/tests/tls/server.pem").into(),
            private_key: include_str!("server/tests/tls/server.key").into(),
        }),
        ..Config::default()
    });
    std::env::set_var("HTTPS_PROXY", format!("http://127.0.0.1:{port}"));
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/server/tests/tls/ca.pem");
    round_trip(&tls, Some(ca.clone()));
    let authority = tls.base_url()["https://".len()..]
        .trim_end_matches('/')
        .to_string();
    assert_tunnels(&take_heads(&seen, "proxy"), &authority, None);

    // An https:// proxy: TLS to the proxy (verified with the same CA file), then absolute-form
    // requests for the http target and a tunnel for the https one, the proxy's credentials
    // going to the proxy only.
    let front = tls_front(port);
    let https_proxy = format!("https://user:pw@127.0.0.1:{front}");
    std::env::set_var("HTTP_PROXY", &https_proxy);
    std::env::set_var("HTTPS_PROXY", &https_proxy);
    round_trip(&server, Some(ca.clone()));
    assert_absolute_form(&take_heads(&seen, "https proxy"), &base);
    tls.clear_requests();
    round_trip(&tls, Some(ca.clone()));
    assert_tunnels(
        &take_heads(&seen, "https proxy"),
        &authority,
        Some("Basic dXNlcjpwdw=="),
    );
    let requests = tls.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(
            !r.headers.contains_key("proxy-authorization"),
            "the target saw the proxy's credentials: {} {}",
            r.method,
            r.path
        );
    }

    // The https:// proxy's certificate is verified: without the CA file, no connection.
    let c = one_attempt_client(server.base_url(), Options::default());
    let a = Attachment::from_bytes(vec![1u8; 10], "v.bin", None).unwrap();
    let e = failed_upload(&c, &a);
    assert_eq!(e.status, opik_attachments::Status::Network, "{e}");
    assert!(seen.lock().unwrap().is_empty(), "the proxy was reached");

    // socks proxies stay unsupported, with a clear error.
    std::env::set_var("HTTP_PROXY", "socks5://127.0.0.1:1");
    let c = one_attempt_client(server.base_url(), Options::default());
    let e = failed_upload(&c, &a);
    assert!(
        e.message.contains("socks5:// proxies are not supported"),
        "{e}"
    );
    clear_proxy_env();

    // A proxy that never answers CONNECT: the time limit ends the attempt (TIMEOUT), no hang.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    std::env::set_var(
        "HTTPS_PROXY",
        format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port()),
    );
    let c = one_attempt_client(
        tls.base_url(),
        Options {
            timeout: Some(Duration::from_millis(500)),
            tls_verify: Some(false),
            ..Options::default()
        },
    );
    let t0 = std::time::Instant::now();
    let a = Attachment::from_bytes(vec![1u8; 10], "s.bin", None).unwrap();
    let e = failed_upload(&c, &a);
    assert_eq!(e.status, opik_attachments::Status::Timeout, "{e}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    drop(silent);
    clear_proxy_env();
}
