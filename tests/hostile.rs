//! Issue 11 through the C API: tests/c/test_hostile.c against a hostile test server, one scenario
//! per defect, plainly and under AddressSanitizer (scenario 8 also under valgrind). The C program
//! checks the status, a time bound and a peak-memory bound (VmHWM); this harness checks what the
//! server and its recorder (a second listener on another port) saw.
//!
//! `OPIK_TEST_LIB_DIR=<dir>` runs the programs against another build of the library (how the
//! "before" figures of issue 11 were taken, against the commit before the fixes).

#[path = "common/cbuild.rs"]
mod cbuild;

use cbuild::{
    compile, rule, server, stored, valgrind_or_skip, xorshift_sha256, Build, Output, Run, API_KEY,
};
use opik_test_server::{Config, FaultRule, StorageMode, TestServer};

/// Runs one scenario of test_hostile in `build` against `s`; asserts the program passed.
fn scenario(s: &TestServer, build: Build, name: &str, arg: &str) -> Output {
    let id = uuid::Uuid::new_v4().to_string();
    let (hwm, kill) = match build {
        Build::Plain => ("64", "1024"),
        // ASan's shadow memory and quarantine: a looser bound, still far below a 1 GiB body.
        Build::Asan | Build::Tsan => ("512", "2048"),
    };
    let mut run = Run::new(Some(s))
        .arg(name)
        .env("OPIK_TEST_ENTITY_ID", id)
        .env("OPIK_TEST_HWM_MIB", hwm)
        .env("OPIK_TEST_RSS_KILL_MIB", kill)
        .env("OPIK_TEST_TIME_KILL_S", "60");
    if !arg.is_empty() {
        run = run.arg(arg);
    }
    run.kill_after = std::time::Duration::from_secs(90);
    let out = run.run(&compile("test_hostile", build));
    assert!(!out.results().is_empty(), "no RESULT line");
    out
}

fn with_rules(mode: StorageMode, rules: Vec<FaultRule>) -> TestServer {
    let s = server(mode);
    add(&s, rules);
    s
}

fn add(s: &TestServer, rules: Vec<FaultRule>) {
    for r in rules {
        s.add_fault(r);
    }
}

/// A server whose throttled reading behaves like a slow link: its receive buffer is fixed at
/// 256 KiB, so what a client can push ahead of the reader is its own send buffer, as on a real
/// network, not the tens of MiB a loopback receive buffer grows to.
fn slow_link_server(mode: StorageMode, rules: Vec<FaultRule>) -> TestServer {
    let s = TestServer::start(Config {
        mode,
        api_key: Some(API_KEY.into()),
        recv_buffer_bytes: Some(256 * 1024),
        ..Config::default()
    });
    add(&s, rules);
    s
}

fn count(s: &TestServer, pred: impl Fn(&opik_test_server::RecordedRequest) -> bool) -> usize {
    s.requests().iter().filter(|r| pred(r)).count()
}

fn path_count(s: &TestServer, part: &str) -> usize {
    count(s, |r| r.path.contains(part))
}

fn stored_sha(s: &TestServer, name: &str) -> Option<String> {
    stored(s, name).and_then(|a| a.sha256)
}

// ---- 1. slow links that never stall succeed; a real stall times out ----

#[test]
fn d1_slow_direct_upload_succeeds_in_one_attempt() {
    // 16 MiB at 2 MiB/s (8 s) with a 2 s timeout: the limit is on silence, not on the PUT.
    let s = slow_link_server(
        StorageMode::Direct,
        vec![FaultRule {
            read_bytes_per_sec: Some(2 << 20),
            ..rule(Some("direct_upload"), None)
        }],
    );
    scenario(&s, Build::Plain, "slow_upload", "16 2000");
    assert_eq!(count(&s, |r| r.target == "direct_upload"), 1, "one PUT");
    assert_eq!(
        stored_sha(&s, "slow.bin"),
        Some(xorshift_sha256(16 << 20, 11))
    );
}

#[test]
fn d1_slow_s3_part_succeeds() {
    // 6 MiB = a 5 MiB part and a 1 MiB part, each read at 1 MiB/s, with a 3 s timeout.
    let s = slow_link_server(
        StorageMode::S3,
        vec![FaultRule {
            read_bytes_per_sec: Some(1 << 20),
            ..rule(Some("part"), None)
        }],
    );
    scenario(&s, Build::Asan, "slow_upload", "6 3000");
    assert_eq!(count(&s, |r| r.target == "part"), 2, "each part once");
    assert_eq!(
        stored_sha(&s, "slow.bin"),
        Some(xorshift_sha256(6 << 20, 11))
    );
}

#[test]
fn d1_real_stall_times_out() {
    let s = with_rules(
        StorageMode::Direct,
        vec![FaultRule {
            stall_after_bytes: Some(1 << 20),
            stall_ms: 30_000,
            ..rule(Some("direct_upload"), None)
        }],
    );
    scenario(&s, Build::Plain, "stalled_upload", "");
    let puts = count(&s, |r| r.target == "direct_upload");
    assert!((1..=5).contains(&puts), "{puts} attempts");
}

#[test]
fn d1_slow_download_succeeds() {
    for build in [Build::Plain, Build::Asan] {
        let s = with_rules(
            StorageMode::Direct,
            vec![FaultRule {
                write_bytes_per_sec: Some(2 << 20),
                ..rule(Some("download"), None)
            }],
        );
        scenario(&s, build, "slow_download", "");
        assert_eq!(count(&s, |r| r.target == "download"), 1);
    }
}

// ---- 2. huge and endless answers: an error, in bounded memory and time ----

#[test]
fn d2_huge_and_endless_answers() {
    let huge = |path: &str, endless: bool| FaultRule {
        huge_body_bytes: (!endless).then_some(2 << 30),
        endless_body: endless,
        ..rule(None, Some(path))
    };
    for build in [Build::Plain, Build::Asan] {
        for endless in [false, true] {
            let s = with_rules(StorageMode::Direct, vec![huge("upload-start", endless)]);
            scenario(&s, build, "huge_start", "");
            assert!(path_count(&s, "upload-start") <= 5);
            let s = with_rules(StorageMode::S3, vec![huge("attachment/list", endless)]);
            scenario(&s, build, "huge_list", "");
            assert!(path_count(&s, "attachment/list") <= 5);
        }
    }
}

// ---- 3. list pages that never end ----

#[test]
fn d3_endless_pages_are_an_error() {
    for build in [Build::Plain, Build::Asan] {
        for distinct in [false, true] {
            let s = with_rules(
                StorageMode::S3,
                vec![FaultRule {
                    endless_pages: !distinct,
                    endless_distinct_pages: distinct,
                    ..rule(None, Some("attachment/list"))
                }],
            );
            scenario(&s, build, "endless_pages", "");
            let pages = path_count(&s, "attachment/list");
            assert!(pages < 2000, "{pages} list requests");
            if !distinct {
                assert!(
                    pages <= 5,
                    "a repeated page is seen at once: {pages} requests"
                );
            }
        }
    }
}

// ---- 4. the key echoed in error bodies ----

#[test]
fn d4_echoed_key_is_redacted_everywhere() {
    for (build, status) in [(Build::Plain, 400), (Build::Asan, 400), (Build::Plain, 500)] {
        let s = with_rules(
            StorageMode::Direct,
            vec![FaultRule {
                status: Some(status),
                echo_key: true,
                ..rule(None, Some("upload-start"))
            }],
        );
        let out = scenario(&s, build, "echo_key", "");
        assert!(!out.stdout.contains(API_KEY) && !out.stderr.contains(API_KEY));
    }
}

// ---- 5. redirects: no Opik headers and no body to another origin ----

fn assert_no_opik_headers_at_recorder(s: &TestServer) {
    for r in s.recorder_requests() {
        assert!(!r.headers.contains_key("authorization"), "{r:?}");
        assert!(!r.headers.contains_key("comet-workspace"), "{r:?}");
        assert!(!r.headers.values().any(|v| v.contains(API_KEY)), "{r:?}");
    }
}

#[test]
fn d5_backend_redirect_to_another_port() {
    for build in [Build::Plain, Build::Asan] {
        let s = with_rules(
            StorageMode::Direct,
            vec![FaultRule {
                redirect_to: Some("{recorder}{path}".into()),
                ..rule(None, Some("upload-start"))
            }],
        );
        scenario(&s, build, "redirect", "10");
        assert_no_opik_headers_at_recorder(&s);

        let s = with_rules(
            StorageMode::Direct,
            vec![FaultRule {
                redirect_to: Some("{recorder}{path}".into()),
                ..rule(None, Some("attachment/list"))
            }],
        );
        scenario(&s, build, "redirect_list", "");
        assert_no_opik_headers_at_recorder(&s);
    }
}

#[test]
fn d5_direct_put_is_never_resent_to_another_host() {
    for (status, size) in [
        (307, "10000"),
        (302, "10000"),
        (307, "3000000"),
        (308, "65536"),
    ] {
        let s = with_rules(
            StorageMode::Direct,
            vec![FaultRule {
                redirect_to: Some("{recorder}{path}".into()),
                redirect_status: Some(status),
                ..rule(Some("direct_upload"), None)
            }],
        );
        scenario(&s, Build::Plain, "redirect", size);
        let puts: Vec<_> = s
            .recorder_requests()
            .into_iter()
            .filter(|r| r.method == "PUT" || r.body_len > 0)
            .collect();
        assert!(puts.is_empty(), "{status}, {size} bytes: {puts:?}");
        assert_no_opik_headers_at_recorder(&s);
        assert_eq!(count(&s, |r| r.target == "direct_upload"), 1, "not retried");
    }
}

// ---- 6. a file truncated during its upload ----

#[test]
fn d6_truncated_file_is_an_io_error_not_retried() {
    for build in [Build::Plain, Build::Asan] {
        let s = with_rules(
            StorageMode::Direct,
            vec![FaultRule {
                read_bytes_per_sec: Some(1 << 20),
                ..rule(Some("direct_upload"), None)
            }],
        );
        scenario(&s, build, "truncated", "");
        assert_eq!(count(&s, |r| r.target == "direct_upload"), 1, "no retries");
        assert!(s.attachments().is_empty(), "nothing stored");
    }
}

// ---- 7. a file replaced by a FIFO ----

#[test]
fn d7_fifo_never_blocks() {
    for build in [Build::Plain, Build::Asan] {
        let s = server(StorageMode::Direct);
        scenario(&s, build, "fifo", "");
        assert_eq!(count(&s, |r| r.target == "direct_upload"), 0);
    }
}

// ---- 8. opik_client_free inside on_data ----

#[test]
fn d8_client_free_inside_on_data() {
    for build in [Build::Plain, Build::Asan] {
        let s = server(StorageMode::S3);
        scenario(&s, build, "free_in_on_data", "");
    }
    if !valgrind_or_skip() {
        return;
    }
    let s = server(StorageMode::Direct);
    let mut run = Run::new(Some(&s))
        .arg("free_in_on_data")
        .env("OPIK_TEST_ENTITY_ID", uuid::Uuid::new_v4().to_string())
        .env("OPIK_TEST_HWM_MIB", "1024");
    run.valgrind = true;
    run.run(&compile("test_hostile", Build::Plain));
}

// ---- 9. links that cannot be requested, and a redirect loop ----

#[test]
fn d9_unrequestable_links_and_redirect_loops_are_not_retried() {
    for mode in [StorageMode::Direct, StorageMode::S3] {
        for (i, link) in ["not a url", "http://[::1", "ftp://x/y"].iter().enumerate() {
            let build = if i == 0 { Build::Asan } else { Build::Plain };
            let s = with_rules(
                mode,
                vec![FaultRule {
                    bad_links: true,
                    bad_link: Some(link.to_string()),
                    ..rule(None, Some("upload-start"))
                }],
            );
            scenario(&s, build, "bad_link", "");
            assert_eq!(path_count(&s, "upload-start"), 1, "{mode:?} {link}");
            assert_eq!(
                count(&s, |r| r.target == "part" || r.target == "direct_upload"),
                0
            );
        }
        let s = with_rules(
            mode,
            vec![FaultRule {
                bad_links: true,
                ..rule(None, Some("attachment/list"))
            }],
        );
        scenario(&s, Build::Plain, "bad_list_link", "");
        assert_eq!(path_count(&s, "attachment/list"), 1, "{mode:?}");
    }
    // A redirect loop: one attempt's chain at most, never five attempts.
    let s = with_rules(
        StorageMode::Direct,
        vec![FaultRule {
            redirect_to: Some("{self}{path}".into()),
            ..rule(None, Some("upload-start"))
        }],
    );
    scenario(&s, Build::Plain, "redirect", "10");
    let starts = path_count(&s, "upload-start");
    assert!(starts <= 11, "{starts} upload-start requests");
}
