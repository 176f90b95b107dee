//! Runs the C test programs in tests/c/ through the C ABI against the Opik-compatible test
//! server, in both storage modes, plainly and under AddressSanitizer (and valgrind where it is
//! installed and fast enough). The C programs check what the API reports; these tests check what
//! the server saw.

#[path = "common/cbuild.rs"]
mod cbuild;

use cbuild::{
    compile, server, sha256_hex, stored, valgrind_or_skip, xorshift_sha256, Build, Run, API_KEY,
};
use opik_test_server::{Config, FaultRule, StorageMode, TestServer};
use std::path::Path;
use std::process::Command;

#[test]
fn contract_without_a_server() {
    Run::new(None).run(&compile("test_contract", Build::Plain));
    Run::new(None).run(&compile("test_contract", Build::Asan));
}

#[test]
fn contract_under_valgrind() {
    if !valgrind_or_skip() {
        return;
    }
    let mut r = Run::new(None);
    r.valgrind = true;
    r.run(&compile("test_contract", Build::Plain));
}

fn roundtrip(mode: StorageMode, build: Build) {
    let s = server(mode);
    let name = format!("{mode:?}").to_lowercase();
    Run::new(Some(&s))
        .env(
            "OPIK_TEST_MODE",
            format!("roundtrip-{name}-{build:?}").to_lowercase(),
        )
        .run(&compile("test_roundtrip", build));
    // What the server stored and how the client talked to it.
    let requests = s.requests();
    for r in requests
        .iter()
        .filter(|r| r.target == "part" || r.target == "storage_get")
    {
        assert!(
            !r.headers.contains_key("authorization"),
            "Opik key sent to storage: {r:?}"
        );
        assert!(
            !r.headers.contains_key("comet-workspace"),
            "workspace sent to storage: {r:?}"
        );
    }
    for r in requests.iter().filter(|r| r.target == "part") {
        assert!(
            r.headers.contains_key("content-length"),
            "part PUT without Content-Length: {r:?}"
        );
    }
    for r in requests
        .iter()
        .filter(|r| r.target == "rest" || r.target == "direct_upload" || r.target == "download")
    {
        if r.status != 401 {
            assert_eq!(
                r.headers.get("authorization").map(String::as_str),
                Some(API_KEY),
                "{r:?}"
            );
        }
    }
    let parts = requests.iter().filter(|r| r.target == "part").count();
    match mode {
        StorageMode::S3 => assert!(parts >= 3, "the 12 MB file goes in parts"),
        StorageMode::Direct => assert_eq!(parts, 0),
    }
}

#[test]
fn roundtrip_direct() {
    roundtrip(StorageMode::Direct, Build::Plain);
}

#[test]
fn roundtrip_s3() {
    roundtrip(StorageMode::S3, Build::Plain);
}

#[test]
fn roundtrip_direct_asan() {
    roundtrip(StorageMode::Direct, Build::Asan);
}

#[test]
fn roundtrip_s3_asan() {
    roundtrip(StorageMode::S3, Build::Asan);
}

/// Runs one fault scenario in a fresh server; returns the server for inspection.
fn scenario(mode: StorageMode, name: &str, faults: Vec<FaultRule>) -> (TestServer, String) {
    let s = server(mode);
    for f in faults {
        s.add_fault(f);
    }
    let id = "0193a7c2-5b1e-7d4f-8a2b-3c4d5e6f7a8b".to_string();
    Run::new(Some(&s))
        .arg(name)
        .env("OPIK_TEST_ENTITY_ID", id.clone())
        .run(&compile("test_faults", Build::Asan));
    (s, id)
}

const EXPIRED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";

fn count(s: &TestServer, path_part: &str) -> usize {
    s.requests()
        .iter()
        .filter(|r| r.path.contains(path_part))
        .count()
}

/// A rule for the first matching request only.
fn rule(target: Option<&str>, path: Option<&str>) -> FaultRule {
    FaultRule {
        times: 1,
        ..cbuild::rule(target, path)
    }
}

fn stored_size(s: &TestServer, name: &str) -> Option<u64> {
    stored(s, name).map(|a| a.file_size)
}

#[test]
fn retries_recover_from_transient_faults_direct() {
    let (s, _) = scenario(
        StorageMode::Direct,
        "recovers",
        vec![
            FaultRule {
                status: Some(503),
                retry_after: Some("1".into()),
                ..rule(None, Some("upload-start"))
            },
            FaultRule {
                drop_connection: true,
                drop_after_bytes: Some(1_000_000),
                ..rule(Some("direct_upload"), None)
            },
            FaultRule {
                status: Some(502),
                ..rule(Some("direct_upload"), None)
            },
            FaultRule {
                status: Some(503),
                ..rule(Some("download"), None)
            },
        ],
    );
    assert_eq!(count(&s, "upload-start"), 2, "the 503 was retried");
    assert_eq!(
        s.requests()
            .iter()
            .filter(|r| r.target == "download")
            .count(),
        2,
        "the download's 503 was retried"
    );
    assert_eq!(
        s.requests()
            .iter()
            .filter(|r| r.target == "direct_upload")
            .count(),
        3,
        "dropped, 502, then stored"
    );
    assert_eq!(stored_size(&s, "fault.bin"), Some(12_000_000));
}

#[test]
fn retries_and_expired_urls_recover_s3() {
    let (s, _) = scenario(
        StorageMode::S3,
        "recovers",
        vec![
            FaultRule {
                expire_urls: true,
                ..rule(None, Some("upload-start"))
            },
            FaultRule {
                status: Some(503),
                ..rule(Some("part"), None)
            },
            FaultRule {
                drop_connection: true,
                drop_after_bytes: Some(100_000),
                ..rule(Some("part"), None)
            },
            FaultRule {
                status: Some(403),
                body: Some(EXPIRED.into()),
                ..rule(Some("storage_get"), None)
            },
        ],
    );
    let lists = s
        .requests()
        .iter()
        .filter(|r| r.path.contains("attachment/list"))
        .count();
    assert_eq!(
        lists, 2,
        "the expired download link was replaced by listing again"
    );
    assert_eq!(
        count(&s, "upload-start"),
        2,
        "the expired URLs were replaced by a second upload-start"
    );
    assert_eq!(count(&s, "upload-complete"), 1);
    assert_eq!(stored_size(&s, "fault.bin"), Some(12_000_000));
}

#[test]
fn persistent_server_error_is_reported_after_retries() {
    let (s, _) = scenario(
        StorageMode::Direct,
        "persistent_500",
        vec![FaultRule {
            status: Some(500),
            times: 0,
            ..rule(None, Some("upload-start"))
        }],
    );
    assert_eq!(count(&s, "upload-start"), 5, "five attempts in all");
}

#[test]
fn client_errors_are_not_retried() {
    let (s, _) = scenario(
        StorageMode::Direct,
        "too_large",
        vec![FaultRule {
            status: Some(413),
            times: 0,
            ..rule(None, Some("upload-start"))
        }],
    );
    assert_eq!(count(&s, "upload-start"), 1);
    let body = format!("{{\"errors\":[\"bad request from key {API_KEY}\"]}}");
    let (s, _) = scenario(
        StorageMode::Direct,
        "bad_request_echoing_key",
        vec![FaultRule {
            status: Some(400),
            body: Some(body),
            times: 0,
            ..rule(None, Some("upload-start"))
        }],
    );
    assert_eq!(count(&s, "upload-start"), 1);
}

#[test]
fn storage_refusing_every_part_is_reported() {
    let (s, _) = scenario(
        StorageMode::S3,
        "storage_forbidden",
        vec![FaultRule {
            status: Some(403),
            times: 0,
            ..rule(Some("part"), None)
        }],
    );
    assert_eq!(
        count(&s, "upload-start"),
        3,
        "one start and two restarts with fresh URLs"
    );
    assert_eq!(count(&s, "upload-complete"), 0);
}

#[test]
fn storage_signature_refusal_is_reported_without_restarts() {
    let body = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>";
    let (s, _) = scenario(
        StorageMode::S3,
        "storage_forbidden",
        vec![FaultRule {
            status: Some(403),
            body: Some(body.into()),
            times: 0,
            ..rule(Some("part"), None)
        }],
    );
    assert_eq!(
        count(&s, "upload-start"),
        1,
        "new URLs cannot fix a bad signature"
    );
}

#[test]
fn malformed_answers_are_protocol_errors() {
    for body in [
        "<html>proxy error</html>",
        "{\"upload_id\": \"x\", \"pre_sign_urls\": []}",
        "{\"upload_id\": 5}",
    ] {
        scenario(
            StorageMode::Direct,
            "protocol",
            vec![FaultRule {
                status: Some(200),
                body: Some(body.into()),
                times: 0,
                ..rule(None, Some("upload-start"))
            }],
        );
    }
}

#[test]
fn slow_server_times_out() {
    scenario(
        StorageMode::Direct,
        "timeout",
        vec![FaultRule {
            delay_ms: 2000,
            times: 0,
            ..rule(None, Some("upload-start"))
        }],
    );
}

#[test]
fn interrupted_download_leaves_no_file() {
    for (mode, target) in [
        (StorageMode::Direct, "download"),
        (StorageMode::S3, "storage_get"),
    ] {
        scenario(
            mode,
            "download_interrupted",
            vec![FaultRule {
                drop_connection: true,
                drop_after_bytes: Some(1_000_000),
                times: 0,
                ..rule(Some(target), None)
            }],
        );
    }
}

#[test]
fn large_upload_and_download_in_bounded_memory() {
    let mib = std::env::var("OPIK_LARGE_TEST_MIB").unwrap_or_else(|_| "200".into());
    for mode in [StorageMode::Direct, StorageMode::S3] {
        let s = server(mode);
        let out = Run::new(Some(&s))
            .arg(mib.clone())
            .run(&compile("test_large", Build::Plain));
        assert!(out.stdout.contains("test_large: "), "{}", out.stdout);
        let mib: u64 = mib.parse().unwrap();
        assert_eq!(stored_size(&s, "large.bin"), Some(mib << 20));
    }
}

// ---- background uploads (opik_upload_async, operations, flush, shutdown) ----

fn background(
    mode: StorageMode,
    scenario: &str,
    build: Build,
    faults: Vec<FaultRule>,
) -> TestServer {
    let s = server(mode);
    for f in faults {
        s.add_fault(f);
    }
    Run::new(Some(&s))
        .arg(scenario)
        .run(&compile("test_background", build));
    s
}

fn slow_starts(ms: u64) -> Vec<FaultRule> {
    vec![FaultRule {
        delay_ms: ms,
        times: 0,
        ..rule(None, Some("upload-start"))
    }]
}

#[test]
fn background_thousands_from_several_threads() {
    let s = background(StorageMode::Direct, "many", Build::Plain, vec![]);
    assert_eq!(
        s.attachments().len(),
        3000,
        "every accepted upload arrived exactly once"
    );
}

#[test]
fn background_thousands_under_tsan() {
    background(StorageMode::Direct, "many", Build::Tsan, vec![]);
}

#[test]
fn background_server_errors_complete_once() {
    for build in [Build::Asan, Build::Tsan] {
        background(
            StorageMode::Direct,
            "server_errors",
            build,
            vec![FaultRule {
                status: Some(400),
                times: 0,
                ..rule(None, Some("upload-start"))
            }],
        );
    }
}

#[test]
fn background_cancel_and_detach() {
    for build in [Build::Asan, Build::Tsan] {
        let s = background(
            StorageMode::Direct,
            "cancel_detach",
            build,
            slow_starts(700),
        );
        assert_eq!(
            s.attachments().len(),
            1,
            "the cancelled upload never arrived; the two others share one name"
        );
    }
}

#[test]
fn background_shutdown_with_work_in_flight() {
    for build in [Build::Asan, Build::Tsan] {
        background(StorageMode::Direct, "shutdown", build, slow_starts(2000));
    }
}

#[test]
fn background_reentrant_calls_from_callbacks() {
    for build in [Build::Asan, Build::Tsan] {
        background(StorageMode::Direct, "reentrant", build, vec![]);
    }
}

#[test]
fn background_backpressure_and_flush_timeout() {
    for build in [Build::Asan, Build::Tsan] {
        background(StorageMode::Direct, "backpressure", build, slow_starts(300));
    }
}

#[test]
fn background_progress() {
    background(
        StorageMode::S3,
        "progress",
        Build::Asan,
        vec![FaultRule {
            delay_ms: 300,
            times: 0,
            ..rule(Some("part"), None)
        }],
    );
}

#[test]
fn background_fork() {
    background(StorageMode::Direct, "fork", Build::Asan, vec![]);
}

// ---- the durable outbox ----

/// What `test_outbox enqueue` queues: name → SHA-256 of the content.
fn outbox_expected(big: usize, small: usize) -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    for i in 0..big {
        m.insert(
            format!("big-{i}.bin"),
            xorshift_sha256(12_000_000, 1000 + i as u64),
        );
    }
    for i in 0..small {
        let name = format!("small-{i:02}.txt");
        m.insert(name.clone(), sha256_hex(name.as_bytes()));
    }
    m
}

fn assert_arrived_once(s: &TestServer, expected: &std::collections::BTreeMap<String, String>) {
    let rows = s.attachments();
    assert_eq!(
        rows.len(),
        expected.len(),
        "one row per attachment: {:?}",
        rows.iter().map(|r| &r.file_name).collect::<Vec<_>>()
    );
    for row in rows {
        assert_eq!(
            Some(&row.sha256.clone().unwrap_or_default()),
            expected.get(&row.file_name),
            "{} is not byte-identical",
            row.file_name
        );
    }
}

fn outbox_command(exe: &Path, base_url: &str, mode: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg(mode)
        .arg(dir)
        .env("OPIK_URL_OVERRIDE", base_url)
        .env("OPIK_API_KEY", API_KEY)
        .env_remove("OPIK_CONFIG_PATH")
        .env("HOME", std::env::temp_dir())
        .env("ASAN_OPTIONS", "detect_leaks=1:exitcode=98")
        .stdout(std::process::Stdio::piped());
    cmd
}

fn wait_for_line(child: &mut std::process::Child, needle: &str) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the program ended before printing {needle}"
        );
        print!("{line}");
        if line.contains(needle) {
            // Keep reading, so the program never writes into a closed pipe.
            std::thread::spawn(move || {
                for l in reader.lines().map_while(Result::ok) {
                    println!("{l}");
                }
            });
            return line;
        }
    }
}

#[test]
fn outbox_survives_sigkill_mid_upload() {
    let s = server(StorageMode::S3);
    // Slow parts, so the kill lands while multi-part uploads are in flight.
    s.add_fault(FaultRule {
        delay_ms: 1500,
        times: 0,
        ..rule(Some("part"), None)
    });
    let dir = std::env::temp_dir().join(format!("opik-outbox-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = compile("test_outbox", Build::Asan);
    let mut child = outbox_command(&exe, &s.base_url(), "enqueue", &dir)
        .spawn()
        .unwrap();
    let line = wait_for_line(&mut child, "ENQUEUED");
    assert!(line.contains(" 0 failed"), "{line}");
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let parts_before = s.requests().iter().filter(|r| r.target == "part").count();
    assert!(parts_before > 0, "the kill must land mid-upload");
    assert!(
        s.attachments().len() < 23,
        "not everything had arrived before the kill"
    );

    s.clear_faults();
    let out = outbox_command(&exe, &s.base_url(), "resume", &dir)
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "resume failed");
    assert_arrived_once(&s, &outbox_expected(3, 20));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn outbox_waits_for_a_server_that_is_down() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("opik-outbox-down-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = compile("test_outbox", Build::Asan);
    let base = format!("http://127.0.0.1:{port}/");
    let mut child = outbox_command(&exe, &base, "down_up", &dir)
        .spawn()
        .unwrap();
    wait_for_line(&mut child, "ENQUEUED");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let s = TestServer::start(Config {
        mode: StorageMode::S3,
        api_key: Some(API_KEY.into()),
        port,
        ..Config::default()
    });
    let status = child.wait().unwrap();
    assert!(status.success(), "down_up failed: {status}");
    assert_arrived_once(&s, &outbox_expected(1, 5));
    let _ = std::fs::remove_dir_all(&dir);
}
