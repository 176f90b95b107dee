//! Blocking calls run their HTTP on the calling thread, each caller in a lane with its own pooled
//! connections (src/lanes.rs). These tests check what that design could break: connections that
//! the server closed while the lane sat idle, many threads calling at once, and the client's
//! retry policy reaching every lane.

use opik_attachments::Attachment;
use opik_attachments::Client;
use opik_attachments::EntityType;
use opik_attachments::Options;
use opik_attachments::RetryPolicy;
use opik_test_server::{Config, FaultRule, StorageMode, TestServer};
use std::time::Duration;

const KEY: &str = "blocking-calls-key";
const PROJECT: &str = "blocking-calls";

fn server(mode: StorageMode) -> TestServer {
    TestServer::start(Config {
        mode,
        api_key: Some(KEY.into()),
        ..Config::default()
    })
}

/// A client with only one attempt per request: a stale connection would surface as an error
/// instead of being hidden by a retry.
fn client(server: &TestServer, attempts: u32) -> Client {
    Client::new(&Options {
        url: Some(server.base_url()),
        api_key: Some(KEY.into()),
        workspace: Some("default".into()),
        project_name: Some(PROJECT.into()),
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

fn entity() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn download_all(c: &Client, id: &str, name: &str) -> Vec<u8> {
    let mut got = Vec::new();
    c.download(None, EntityType::Trace, id, name, None, |chunk| {
        got.extend_from_slice(chunk);
        Ok(())
    })
    .expect("download");
    got
}

#[test]
fn calls_after_the_server_closed_idle_connections_succeed_without_a_retry() {
    for mode in [StorageMode::Direct, StorageMode::S3] {
        let server = server(mode);
        let c = client(&server, 1);
        let id = entity();
        for round in 0..5 {
            let name = format!("r{round}.bin");
            let body = vec![round as u8; 1000 + round];
            let a = Attachment::from_bytes(body.clone(), &name, None).unwrap();
            c.upload(None, EntityType::Trace, &id, &a)
                .unwrap_or_else(|e| panic!("{mode:?} round {round} upload: {e}"));
            // The lane's connections are idle now; the server closes them.
            server.close_idle_connections();
            std::thread::sleep(Duration::from_millis(30));
            let listed = c
                .list(None, EntityType::Trace, &id)
                .unwrap_or_else(|e| panic!("{mode:?} round {round} list: {e}"));
            assert_eq!(listed.len(), round + 1, "{mode:?} round {round}");
            server.close_idle_connections();
            std::thread::sleep(Duration::from_millis(30));
            assert_eq!(download_all(&c, &id, &name), body, "{mode:?} round {round}");
        }
        // Every request the server saw was answered: none failed on a dead connection.
        let unanswered: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.status == 0 || r.status >= 400)
            .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
            .collect();
        assert!(unanswered.is_empty(), "{mode:?}: {unanswered:?}");
    }
}

#[test]
fn many_threads_make_blocking_calls_at_once() {
    let server = server(StorageMode::S3);
    let c = client(&server, 5);
    let id = entity();
    let threads = 12;
    let per_thread = 20;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (c, id) = (&c, &id);
            s.spawn(move || {
                for i in 0..per_thread {
                    let name = format!("t{t}-{i}.bin");
                    let body: Vec<u8> = (0..(t * 977 + i * 31) % 70_000)
                        .map(|k| (k * 7 + t) as u8)
                        .collect();
                    let a = Attachment::from_bytes(body.clone(), &name, None).unwrap();
                    c.upload(None, EntityType::Trace, id, &a).unwrap();
                    if i % 5 == 0 {
                        assert_eq!(download_all(c, id, &name), body, "{name}");
                    }
                }
            });
        }
    });
    assert_eq!(server.attachments().len(), threads * per_thread);
}

#[test]
fn the_retry_policy_applies_to_calls_on_the_calling_thread() {
    let server = server(StorageMode::Direct);
    let id = entity();
    // Two 503s, then normal answers: 3 attempts get through, 2 do not.
    for (attempts, ok) in [(3, true), (2, false)] {
        server.clear_faults();
        server.add_fault(FaultRule {
            method: Some("POST".into()),
            path_contains: Some("upload-start".into()),
            status: Some(503),
            times: 2,
            ..FaultRule::default()
        });
        let c = client(&server, attempts);
        let a = Attachment::from_bytes(vec![1u8; 10], "retry.bin", None).unwrap();
        let outcome = c.upload(None, EntityType::Trace, &id, &a);
        assert_eq!(outcome.is_ok(), ok, "{attempts} attempts: {outcome:?}");
    }
}
