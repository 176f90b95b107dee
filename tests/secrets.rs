//! The secrets sweep (issue 11): every fault kind of the test server, with `echo_key` on (error
//! answers carry the request's headers, so a careless client would pass the API key on), through
//! blocking upload, list, download, delete, `opik_upload_async` and an outbox upload, in both
//! storage modes (tests/c/test_secrets.c). No error message may contain the key, and no request
//! that reached storage (`part`, `storage_get`) or the recorder (another origin, via redirects)
//! may carry the key or an Opik header.
//!
//! Every log line the library makes during the sweep (its log callback at DEBUG) is held to the
//! same rules: no key, no presigned query.

#[path = "common/cbuild.rs"]
mod cbuild;

use cbuild::{compile, server, Build, Run, API_KEY};
use opik_test_server::{Config, FaultRule, StorageMode, TestServer};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A rule for every matching request, with `echo_key` on.
fn rule(target: Option<&str>, path: Option<&str>) -> FaultRule {
    FaultRule {
        echo_key: true,
        ..cbuild::rule(target, path)
    }
}

/// Every fault kind for one storage mode: (name, rules).
fn fault_kinds(mode: StorageMode) -> Vec<(String, Vec<FaultRule>)> {
    let (put, get) = match mode {
        StorageMode::Direct => ("direct_upload", "download"),
        StorageMode::S3 => ("part", "storage_get"),
    };
    let mut kinds = Vec::new();
    for status in [400u16, 401, 403, 404, 413, 429, 500, 503] {
        for target in ["rest", put, get] {
            kinds.push((
                format!("{status} on {target}"),
                vec![FaultRule {
                    status: Some(status),
                    // Retried statuses are retried at once, so the sweep stays short.
                    retry_after: matches!(status, 429 | 500 | 503).then(|| "0".into()),
                    ..rule(Some(target), None)
                }],
            ));
        }
    }
    for target in ["rest", put, get] {
        kinds.push((
            format!("dropped connection on {target}"),
            vec![FaultRule {
                drop_connection: true,
                drop_after_bytes: (target != "rest").then_some(100_000),
                ..rule(Some(target), None)
            }],
        ));
        kinds.push((
            format!("redirect of {target} to another origin"),
            vec![FaultRule {
                redirect_to: Some("{recorder}{path}".into()),
                ..rule(Some(target), None)
            }],
        ));
    }
    // Every other request echoes its headers in any error the server gives.
    let echo_all = || rule(None, None);
    if mode == StorageMode::S3 {
        for (name, expire) in [("expired URLs", true), ("tampered URLs", false)] {
            let urls = |path: &str| FaultRule {
                expire_urls: expire,
                tamper_urls: !expire,
                ..rule(None, Some(path))
            };
            kinds.push((
                name.to_string(),
                vec![urls("upload-start"), urls("attachment/list"), echo_all()],
            ));
        }
    }
    kinds.push((
        "unusable links".into(),
        vec![
            FaultRule {
                bad_links: true,
                ..rule(None, Some("upload-start"))
            },
            FaultRule {
                bad_links: true,
                bad_link: Some("http://[::1".into()),
                ..rule(None, Some("attachment/list"))
            },
            echo_all(),
        ],
    ));
    kinds.push((
        "huge and endless answers".into(),
        vec![
            FaultRule {
                huge_body_bytes: Some(64 << 20),
                ..rule(None, Some("upload-start"))
            },
            FaultRule {
                endless_body: true,
                ..rule(None, Some("attachment/list"))
            },
            echo_all(),
        ],
    ));
    kinds.push(("a wrong key".into(), vec![echo_all()]));
    kinds
}

/// Runs test_secrets under one fault kind; returns the failures found (empty when clean).
fn sweep_one(mode: StorageMode, name: &str, rules: &[FaultRule]) -> Vec<String> {
    let wrong_key = name == "a wrong key";
    let s = TestServer::start(Config {
        mode,
        // A wrong key: the server refuses (401) and echoes the key it got.
        api_key: Some(if wrong_key { "another-key" } else { API_KEY }.into()),
        ..Config::default()
    });
    for r in rules {
        s.add_fault(r.clone());
    }
    let dir = std::env::temp_dir().join(format!(
        "opik-secrets-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut run = Run::new(Some(&s))
        .arg(dir.to_string_lossy().to_string())
        .env("OPIK_TEST_ENTITY_ID", uuid::Uuid::new_v4().to_string());
    run.kill_after = std::time::Duration::from_secs(60);
    let out = run.output(&compile("test_secrets", Build::Plain));
    let _ = std::fs::remove_dir_all(&dir);
    let mut failures = Vec::new();
    let what = format!("{mode:?} / {name}");
    if !out.ok {
        failures.push(format!("{what}: test_secrets failed ({})", out.status));
    }
    for line in out.stdout.lines().chain(out.stderr.lines()) {
        if line.contains(API_KEY) {
            failures.push(format!("{what}: the key in: {line}"));
        }
    }
    let msgs = out.stdout.lines().filter(|l| l.starts_with("MSG ")).count();
    if msgs < 6 {
        failures.push(format!("{what}: only {msgs} operations reported"));
    }
    // The server's echo must have been exercised: some error answer echoed headers.
    // A request that carries an Opik header or the key (in a header or the query).
    let leaked = |headers: &BTreeMap<String, String>, query: &Option<String>| {
        headers.contains_key("authorization")
            || headers.contains_key("comet-workspace")
            || headers.values().any(|v| v.contains(API_KEY))
            || query.as_deref().is_some_and(|q| q.contains(API_KEY))
    };
    for r in s.requests() {
        if (r.target == "part" || r.target == "storage_get") && leaked(&r.headers, &r.query) {
            failures.push(format!("{what}: storage request with Opik headers: {r:?}"));
        }
    }
    for r in s.recorder_requests() {
        if leaked(&r.headers, &r.query) {
            failures.push(format!("{what}: another origin got Opik headers: {r:?}"));
        }
    }
    failures
}

fn sweep(mode: StorageMode) {
    let kinds = fault_kinds(mode);
    let queue = Mutex::new(kinds.into_iter());
    let failures = Mutex::new(Vec::new());
    // The runs mostly wait (retries, timeouts, throttles): several at once on two cores.
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| loop {
                let next = queue.lock().unwrap().next();
                let Some((name, rules)) = next else { break };
                let found = sweep_one(mode, &name, &rules);
                failures.lock().unwrap().extend(found);
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_secret_leaks_direct_mode() {
    sweep(StorageMode::Direct);
}

#[test]
fn no_secret_leaks_s3_mode() {
    sweep(StorageMode::S3);
}

/// The sweep's probe works: a server that echoes the key does put it into an error body, so the
/// checks above would see a leak if the library passed it on.
#[test]
fn the_echo_really_carries_the_key() {
    let s = server(StorageMode::Direct);
    s.add_fault(FaultRule {
        status: Some(400),
        ..rule(None, Some("upload-start"))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}v1/private/attachment/upload-start", s.base_url());
    let body = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST /v1/private/attachment/upload-start HTTP/1.1\r\nHost: x\r\nAuthorization: {API_KEY}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        conn.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        conn.read_to_string(&mut out).await.unwrap();
        out
    });
    assert!(body.starts_with("HTTP/1.1 400"), "{body}");
    assert!(body.contains(API_KEY), "{body}");
}
