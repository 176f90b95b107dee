//! Traces and spans through the C API: tests/c/test_traces.c against the test server, which
//! records every batch; this harness checks what the server stored (fields, batching, the order
//! of creates and attachment uploads) and what the program reported.

#[path = "common/cbuild.rs"]
mod cbuild;

use cbuild::{compile, server, Build, Output, Run, API_KEY};
use opik_test_server::{FaultRule, StorageMode, TestServer};
use serde_json::{json, Value};

fn run(s: &TestServer, build: Build, scenario: &str) -> Output {
    let mut run = Run::new(Some(s)).arg(scenario);
    run.kill_after = std::time::Duration::from_secs(120);
    run.run(&compile("test_traces", build))
}

/// The `ID <what> <id>` lines the program printed.
fn id(out: &Output, what: &str) -> String {
    let prefix = format!("ID {what} ");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in\n{}", out.stdout))
        .to_owned()
}

fn by_id<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} not stored: {rows:#?}"))
}

/// RFC 3339 UTC with microseconds and Z.
fn is_micro_utc(t: &Value) -> bool {
    let t = t.as_str().unwrap_or("");
    t.len() == 27 && t.ends_with('Z') && t.as_bytes()[19] == b'.' && t.as_bytes()[10] == b'T'
}

#[test]
fn contract_plain_asan_and_valgrind() {
    let s = server(StorageMode::Direct);
    run(&s, Build::Plain, "contract");
    run(&s, Build::Asan, "contract");
    if cbuild::valgrind_or_skip() {
        let mut r = Run::new(Some(&s)).arg("contract");
        r.valgrind = true;
        r.run(&compile("test_traces", Build::Plain));
    }
    assert!(
        s.traces().received.is_empty(),
        "discarded entities were sent"
    );
    assert!(s.spans().received.is_empty());
}

fn check_sent(s: &TestServer, out: &Output) {
    let (trace_id, llm_id, tool_id) = (id(out, "trace"), id(out, "llm"), id(out, "tool"));
    let traces = s.traces();
    let spans = s.spans();
    assert!(
        traces.unknown_fields.is_empty(),
        "{:?}",
        traces.unknown_fields
    );
    assert!(
        spans.unknown_fields.is_empty(),
        "{:?}",
        spans.unknown_fields
    );
    let t = by_id(&traces.received, &trace_id);
    assert_eq!(t["project_name"], "c-traces");
    assert_eq!(t["name"], "frame 1");
    assert_eq!(
        t["input"],
        json!({"value": "a prompt"}),
        "a non-object is wrapped"
    );
    assert_eq!(t["output"], json!({"answer": 42}));
    assert_eq!(t["metadata"], json!({"value": [1, 2]}));
    assert_eq!(t["tags"], json!(["game", "c"]));
    assert_eq!(t["thread_id"], "session-1");
    assert_eq!(t["source"], "sdk");
    assert!(
        is_micro_utc(&t["start_time"]) && is_micro_utc(&t["end_time"]),
        "{t}"
    );
    assert!(t["start_time"].as_str() <= t["end_time"].as_str());
    let llm = by_id(&spans.received, &llm_id);
    assert_eq!(llm["trace_id"], trace_id.as_str());
    assert!(llm.get("parent_span_id").is_none());
    assert_eq!(llm["type"], "llm");
    assert_eq!(llm["model"], "gpt-4o");
    assert_eq!(llm["provider"], "openai");
    assert_eq!(
        llm["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
    );
    let tool = by_id(&spans.received, &tool_id);
    assert_eq!(tool["parent_span_id"], llm_id.as_str());
    assert_eq!(tool["trace_id"], trace_id.as_str());
    assert_eq!(tool["type"], "tool");
    assert_eq!(
        tool["error_info"],
        json!({"exception_type": "ValueError", "message": "bad", "traceback": "bad"})
    );
    // Attachments arrived, each after its entity's create.
    let rows = s.attachments();
    for (entity, name, size) in [(&trace_id, "shot.bin", 3000), (&llm_id, "note.bin", 10)] {
        let row = rows
            .iter()
            .find(|r| &r.entity_id == entity && r.file_name == name)
            .unwrap_or_else(|| panic!("{name} not stored"));
        assert_eq!(row.file_size, size);
    }
    let requests = s.requests();
    let position = |pred: &dyn Fn(&opik_test_server::RecordedRequest) -> bool| {
        requests.iter().position(pred).expect("request recorded")
    };
    let traces_batch = position(&|r| r.path.ends_with("/traces/batch"));
    let spans_batch = position(&|r| r.path.ends_with("/spans/batch"));
    let start_of = |id: &str| {
        position(&|r: &opik_test_server::RecordedRequest| {
            r.path.ends_with("/upload-start")
                && r.body_json.as_ref().is_some_and(|b| b["entity_id"] == id)
        })
    };
    assert!(
        start_of(&trace_id) > traces_batch,
        "trace attachment before its trace"
    );
    assert!(
        start_of(&llm_id) > spans_batch,
        "span attachment before its span"
    );
}

#[test]
fn a_trace_with_spans_and_attachments_arrives_field_by_field_direct() {
    let s = server(StorageMode::Direct);
    let out = run(&s, Build::Plain, "send");
    check_sent(&s, &out);
}

#[test]
fn sending_with_attachments_is_valgrind_clean() {
    if !cbuild::valgrind_or_skip() {
        return;
    }
    let s = server(StorageMode::Direct);
    let mut r = Run::new(Some(&s)).arg("send");
    r.valgrind = true;
    r.kill_after = std::time::Duration::from_secs(300);
    let out = r.run(&compile("test_traces", Build::Plain));
    check_sent(&s, &out);
}

#[test]
fn a_trace_with_spans_and_attachments_arrives_field_by_field_s3_asan() {
    let s = server(StorageMode::S3);
    let out = run(&s, Build::Asan, "send");
    check_sent(&s, &out);
}

#[test]
fn batches_hold_at_most_a_thousand() {
    let s = server(StorageMode::Direct);
    run(&s, Build::Plain, "batching");
    let sizes: Vec<usize> = s
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/spans/batch"))
        .map(|r| {
            r.body_json.as_ref().unwrap()["spans"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 2500);
    assert!(sizes.iter().all(|n| *n <= 1000), "{sizes:?}");
    assert!(sizes.len() <= 4, "{sizes:?}: batched, not one by one");
    assert_eq!(s.traces().received.len(), 1);
}

#[test]
fn an_entity_leaves_within_a_second_without_a_flush() {
    let s = server(StorageMode::Direct);
    run(&s, Build::Plain, "age");
    assert_eq!(s.traces().received.len(), 1);
}

#[test]
fn refused_batches_are_counted_and_logged() {
    let s = server(StorageMode::Direct);
    s.add_fault(FaultRule {
        path_contains: Some("/traces/batch".into()),
        status: Some(400),
        times: 0,
        ..FaultRule::default()
    });
    run(&s, Build::Plain, "refused");
    assert!(
        s.attachments().is_empty(),
        "an attachment of an unsent trace was uploaded"
    );
}

#[test]
fn transient_failures_are_retried_counted_and_logged() {
    let s = server(StorageMode::Direct);
    s.add_fault(FaultRule {
        path_contains: Some("/spans/batch".into()),
        status: Some(503),
        retry_after: Some("0".into()),
        times: 1,
        ..FaultRule::default()
    });
    run(&s, Build::Plain, "retried");
    assert_eq!(s.spans().received.len(), 1);
}

#[test]
fn queue_limits_count_entities() {
    let s = server(StorageMode::Direct);
    run(&s, Build::Plain, "queue_limits");
    assert_eq!(s.traces().received.len(), 3);
}

#[test]
fn a_forked_child_is_refused_and_the_parent_goes_on() {
    let s = server(StorageMode::Direct);
    let out = run(&s, Build::Plain, "fork");
    check_sent(&s, &out);
}

#[test]
fn the_outbox_delivers_ended_entities_exactly_once_after_kill_9() {
    let s = server(StorageMode::S3);
    s.add_fault(FaultRule {
        path_contains: Some("/batch".into()),
        status: Some(503),
        times: 0,
        ..FaultRule::default()
    });
    let dir = std::env::temp_dir().join(format!("opik-traces-outbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = compile("test_traces", Build::Plain);
    let command = |mode: &str| {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["outbox", mode])
            .arg(&dir)
            .env("OPIK_URL_OVERRIDE", s.base_url())
            .env("OPIK_API_KEY", API_KEY)
            .env_remove("OPIK_CONFIG_PATH")
            .env("HOME", std::env::temp_dir())
            .stdout(std::process::Stdio::piped());
        cmd
    };
    // First process: ends everything (recorded before *_end returns), then dies by SIGKILL.
    let mut child = command("record").spawn().unwrap();
    let mut ids = Vec::new();
    {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(reader.read_line(&mut line).unwrap() > 0, "ended early");
            if let Some(rest) = line.strip_prefix("ID ") {
                ids.push(rest.split_whitespace().nth(1).unwrap().to_owned());
            }
            if line.starts_with("ENDED") {
                assert_eq!(line.trim(), "ENDED 0", "checks failed before the kill");
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(ids.len(), 10);
    assert!(s.traces().received.is_empty() && s.spans().received.is_empty());
    // The server comes back; a new process on the same outbox delivers everything, once.
    s.clear_faults();
    let out = command("resume").output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (traces, spans) = (s.traces(), s.spans());
    for id in &ids {
        let arrived = traces
            .received
            .iter()
            .chain(spans.received.iter())
            .filter(|r| r["id"] == id.as_str())
            .count();
        assert_eq!(arrived, 1, "{id} arrived {arrived} times");
    }
    let rows = s.attachments();
    assert_eq!(rows.len(), 5, "{rows:?}");
    for row in &rows {
        assert!(ids.contains(&row.entity_id) && row.entity_type == "span");
    }
    let left: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "data"))
        .collect();
    assert!(left.is_empty(), "records left in the outbox: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn embedded_base64_media_becomes_an_attachment_named_by_its_placeholder() {
    for mode in [StorageMode::Direct, StorageMode::S3] {
        let s = server(mode);
        let out = run(&s, Build::Asan, "embedded");
        let trace = id(&out, "trace");
        let name = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("NAME "))
            .expect("NAME line")
            .to_owned();
        let traces = s.traces();
        let t = by_id(&traces.received, &trace);
        let url = t["input"]["messages"][0]["image_url"].as_str().unwrap();
        assert_eq!(
            url,
            format!("[{name}]"),
            "the data: URI became the placeholder"
        );
        let rows = s.attachments();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].file_name, name);
        assert_eq!(rows[0].mime_type, "image/png");
        // The attachment's upload started after the trace's create.
        let requests = s.requests();
        let create = requests
            .iter()
            .position(|r| r.path.ends_with("/traces/batch"));
        let upload = requests
            .iter()
            .position(|r| r.path.ends_with("/upload-start"));
        assert!(create < upload, "{create:?} {upload:?}");
    }
}
