//! Embedded media: the extractor through the Rust API (the rules case by case, bounded work on
//! hostile text), and through the C API (tests/c/test_extract.c, plain and under ASan; an
//! extracted attachment uploaded to the test server arrives byte-identical).
//! The differential test against the official SDK is tests/interop/test_extract_differential.py.

#[path = "common/cbuild.rs"]
mod cbuild;

use base64::Engine;
use cbuild::{compile, Build, Run};
use opik_attachments::{extract_embedded, Source, Status};
use std::time::Instant;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn png(len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..len).map(|i| (i * 7 + i / 13) as u8).collect();
    v[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    v
}

fn memory(a: &opik_attachments::Attachment) -> &[u8] {
    match a.source() {
        Source::Memory(b) => b,
        Source::File(_) => panic!("an extracted attachment is held in memory"),
    }
}

/// `<context>-attachment-<n>-<ms>-sdk.<ext>` with n in 1..=99,999,999 and ms near now.
fn check_name(name: &str, context: &str, ext: &str) {
    let rest = name
        .strip_prefix(&format!("{context}-attachment-"))
        .unwrap_or_else(|| panic!("{name}"));
    let rest = rest
        .strip_suffix(&format!("-sdk.{ext}"))
        .unwrap_or_else(|| panic!("{name}"));
    let (n, ms) = rest.split_once('-').unwrap();
    let n: u64 = n.parse().unwrap();
    assert!((1..=99_999_999).contains(&n), "{name}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let ms: u64 = ms.parse().unwrap();
    assert!(ms <= now && now - ms < 60_000, "{name}");
}

#[test]
fn a_data_uri_becomes_an_attachment_and_a_placeholder() {
    let image = png(3000);
    let doc = format!(
        r#"{{"messages":[{{"role":"user","content":[{{"type":"text","text":"what is this?"}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{}"}}}}]}}],"n":1.50}}"#,
        b64(&image)
    );
    let x = extract_embedded(&doc, "input", 1000).unwrap();
    assert_eq!(x.attachments().len(), 1);
    let a = &x.attachments()[0];
    check_name(a.file_name(), "input", "png");
    assert_eq!(a.content_type(), "image/png");
    assert_eq!(memory(a), &image[..]);
    let want = format!(
        r#"{{"messages":[{{"role":"user","content":[{{"type":"text","text":"what is this?"}},{{"type":"image_url","image_url":{{"url":"[{}]"}}}}]}}],"n":1.50}}"#,
        a.file_name()
    );
    assert_eq!(x.json(), want);
}

#[test]
fn names_are_unique_and_follow_the_text_order() {
    let blob = b64(&png(600));
    let doc = format!(r#"["{blob} {blob}", {{"k": "{blob}"}}]"#);
    let x = extract_embedded(&doc, "output", 400).unwrap();
    let names: Vec<&str> = x.attachments().iter().map(|a| a.file_name()).collect();
    assert_eq!(names.len(), 3);
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{names:?}");
    let want = format!(
        r#"["[{}] [{}]", {{"k": "[{}]"}}]"#,
        names[0], names[1], names[2]
    );
    assert_eq!(x.json(), want);
    for n in names {
        check_name(n, "output", "png");
    }
}

#[test]
fn what_stays_in_the_text() {
    let random: Vec<u8> = (0..900u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut jpeg_no_end = png(900);
    jpeg_no_end[..4].copy_from_slice(b"\xff\xd8\xff\xe0");
    let text = b"plain words, many of them. ".repeat(40);
    let keyed = b64(&png(900));
    let short = b64(&png(300));
    for doc in [
        format!(r#"{{"a":"{}"}}"#, b64(&random)),
        format!(r#"{{"a":"{}"}}"#, b64(&jpeg_no_end)),
        format!(r#"{{"a":"{}"}}"#, b64(&text)),
        format!(r#"{{"{keyed}":1}}"#),
        format!(r#"{{"a":"{short}"}}"#),
        format!(
            r#"{{"a":"{}"}}"#,
            keyed
                .replace('+', "-")
                .replace('/', "_")
                .replacen('A', "_", 1)
        ),
    ] {
        let x = extract_embedded(&doc, "input", 1000).unwrap();
        assert!(x.attachments().is_empty(), "{}", &doc[..60]);
        assert_eq!(x.json(), doc);
    }
}

#[test]
fn escapes_in_and_around_the_run() {
    let image = png(1500);
    let run = b64(&image);
    // "\/" is "/", "\u0041" is "A": the SDK sees the decoded string.
    let escaped = run.replace('/', "\\/").replacen('A', "\\u0041", 2);
    let doc = format!(r#"{{"a":"x\n\u00e9\ud83d\ude00 {escaped} y\t"}}"#);
    let x = extract_embedded(&doc, "input", 1000).unwrap();
    assert_eq!(x.attachments().len(), 1);
    assert_eq!(memory(&x.attachments()[0]), &image[..]);
    let name = x.attachments()[0].file_name();
    assert_eq!(
        x.json(),
        format!(r#"{{"a":"x\n\u00e9\ud83d\ude00 [{name}] y\t"}}"#)
    );
}

#[test]
fn the_threshold_counts_characters_not_bytes() {
    // 100 characters of base64 after a 2-byte character: 101 characters, 102 bytes.
    let run = b64(&png(75));
    assert_eq!(run.len(), 100);
    let doc = format!(r#"{{"a":"é{run}"}}"#);
    assert!(extract_embedded(&doc, "input", 102)
        .unwrap()
        .attachments()
        .is_empty());
    assert_eq!(
        extract_embedded(&doc, "input", 101)
            .unwrap()
            .attachments()
            .len(),
        1
    );
    // Runs of whole groups of four: 100 characters meet 100 and 103, not 104.
    let doc = format!(r#"{{"a":"{run}....."}}"#);
    assert_eq!(
        extract_embedded(&doc, "input", 103)
            .unwrap()
            .attachments()
            .len(),
        1
    );
    assert!(extract_embedded(&doc, "input", 104)
        .unwrap()
        .attachments()
        .is_empty());
}

#[test]
fn invalid_json_names_line_and_column_and_bad_context_is_refused() {
    for (doc, at) in [
        ("{\"a\": [1,\n 2,]}", "line 2, column 4"),
        ("{\"a\" 1}", "line 1, column 6"),
        ("[1] x", "line 1, column 5"),
        ("\"abc", "line 1, column 5"),
        ("{\"a\":\"\\x\"}", "line 1, column 8"),
        ("", "line 1, column 1"),
    ] {
        let e = extract_embedded(doc, "input", 10).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(e.message.contains(at), "{doc:?}: {}", e.message);
        // serde_json refuses the same text.
        assert!(serde_json::from_str::<&serde_json::value::RawValue>(doc).is_err());
    }
    let e = extract_embedded("{}", "Input", 10).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    // Deep nesting is walked without recursion.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(extract_embedded(&deep, "input", 10).unwrap().json(), deep);
}

#[test]
fn hostile_text_costs_linear_time() {
    // Each shape would be quadratic for a naive search: many "data:" sharing one far comma and one
    // long run just under the threshold; runs just under the threshold everywhere.
    let n = 4 << 20;
    let under = "A".repeat(255_999);
    let shapes = [
        format!("[\"{}{}\"]", "data:".repeat(n / 5), ";base64,"),
        format!("[\"{}data:x;base64,{under}\"]", "data:".repeat(n / 10)),
        format!("[\"{}\"]", format!("{under}!").repeat(n / 256_000)),
        format!("[\"{}\"]", "data:;base64,AAA".repeat(n / 16)),
    ];
    for doc in &shapes {
        let t = Instant::now();
        let x = extract_embedded(doc, "input", 256_000).unwrap();
        assert!(x.attachments().is_empty());
        // Generous (debug build, shared cores): a quadratic search takes hours here.
        assert!(t.elapsed().as_secs() < 60, "{:?}", t.elapsed());
    }
}

#[test]
fn c_contract_plain_and_asan() {
    for build in [Build::Plain, Build::Asan] {
        let out = Run::new(None)
            .arg("contract")
            .run(&compile("test_extract", build));
        assert!(out.stdout.contains(" 0 failed"), "{}", out.stdout);
    }
}

#[test]
fn an_extracted_attachment_uploads_byte_identical() {
    let s = cbuild::server(opik_test_server::StorageMode::Direct);
    let out = Run::new(Some(&s))
        .arg("upload")
        .run(&compile("test_extract", Build::Plain));
    let line = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("UPLOADED "))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let parts: Vec<&str> = line.split(' ').collect();
    let (id, name, sha) = (parts[0], parts[1], parts[2]);
    check_name(name, "input", "png");
    let row = cbuild::stored(&s, name).expect("stored");
    assert_eq!(row.entity_id, id);
    assert_eq!(row.file_size, 300_000);
    assert_eq!(row.mime_type, "image/png");
    assert_eq!(row.sha256.as_deref(), Some(sha));
    assert!(out
        .stdout
        .contains(&format!("JSON {{\"image\": \"[{name}]\"}}")));
}
