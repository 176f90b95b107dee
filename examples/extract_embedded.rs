//! Takes base64 media out of a JSON document, as the Opik SDKs do before sending a trace.
//!
//!     extract_embedded [--context input|output|metadata] [--min-chars N] [--out-dir DIR] < doc.json
//!
//! prints the rewritten JSON and writes each attachment into DIR (default: the current folder)
//! under its placeholder's name. With `--jsonl`, each line of standard input is a request
//! `{"json": TEXT, "context": C, "min_chars": N}` and each output line the answer
//! `{"json": TEXT, "attachments": [{"file_name", "content_type", "base64"}]}` or `{"error": MSG}`
//! (tests/interop/test_extract_differential.py drives it so).

use base64::Engine;
use opik_attachments::{extract_embedded, Attachment, Source, DEFAULT_EMBEDDED_MIN_CHARS};
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

fn bytes(a: &Attachment) -> &[u8] {
    match a.source() {
        Source::Memory(b) => b,
        Source::File(_) => &[],
    }
}

fn jsonl() -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else {
            return ExitCode::FAILURE;
        };
        if line.trim().is_empty() {
            continue;
        }
        let req: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("bad request line: {e}");
                return ExitCode::FAILURE;
            }
        };
        let text = req["json"].as_str().unwrap_or_default();
        let context = req["context"].as_str().unwrap_or("input");
        let min = req["min_chars"]
            .as_u64()
            .map_or(DEFAULT_EMBEDDED_MIN_CHARS, |n| n as usize);
        let answer = match extract_embedded(text, context, min) {
            Ok(x) => serde_json::json!({
                "json": x.json(),
                "attachments": x.attachments().iter().map(|a| serde_json::json!({
                    "file_name": a.file_name(),
                    "content_type": a.content_type(),
                    "base64": base64::engine::general_purpose::STANDARD.encode(bytes(a)),
                })).collect::<Vec<_>>(),
            }),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        if writeln!(out, "{answer}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut context, mut min, mut dir) = (
        "input".to_owned(),
        DEFAULT_EMBEDDED_MIN_CHARS,
        ".".to_owned(),
    );
    while let Some(a) = args.next() {
        match a.as_str() {
            "--jsonl" => return jsonl(),
            "--context" => context = args.next().unwrap_or_default(),
            "--min-chars" => min = args.next().and_then(|n| n.parse().ok()).unwrap_or(min),
            "--out-dir" => dir = args.next().unwrap_or(dir),
            _ => {
                eprintln!("usage: extract_embedded [--jsonl] [--context C] [--min-chars N] [--out-dir DIR] < doc.json");
                return ExitCode::from(2);
            }
        }
    }
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("reading standard input: {e}");
        return ExitCode::FAILURE;
    }
    match extract_embedded(&text, &context, min) {
        Ok(x) => {
            for a in x.attachments() {
                let path = std::path::Path::new(&dir).join(a.file_name());
                if let Err(e) = std::fs::write(&path, bytes(a)) {
                    eprintln!("{}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                eprintln!("{} {} {} bytes", a.file_name(), a.content_type(), a.size());
            }
            println!("{}", x.json());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
