//! The embedded-media extractor (`media::extract`) on any text: input = [threshold and context
//! byte][JSON text].
//!
//! Checked: no panic; the result is Ok exactly when serde_json accepts the text (RawValue, the
//! check the trace setters make), and then the output is JSON too; each attachment's placeholder
//! appears once; and, for texts up to 8 KiB, the output equals what a slow, literal
//! backtracking implementation of the SDK's regular expression gives on serde_json's parse of
//! the input (placeholders only where the rules put them, with the same bytes and types).
#![no_main]
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use opik_attachments::fuzzing::extract::extract_with;
use opik_attachments::fuzzing::sniff::{sdk_extension, sdk_mime};
use opik_attachments::Source;
use serde_json::value::RawValue;
use serde_json::Value;

const THRESHOLDS: [usize; 12] = [0, 3, 4, 8, 12, 16, 20, 24, 32, 48, 64, 100];
const ORACLE_MAX: usize = 8 << 10;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let min = THRESHOLDS[first as usize % THRESHOLDS.len()];
    let mut issued: Vec<(String, &'static str)> = Vec::new();
    let mut name = |ext: &'static str| {
        let n = format!("input-attachment-{}-0-sdk.{ext}", 97_531_000 + issued.len());
        issued.push((n.clone(), ext));
        n
    };
    let ours = extract_with(text, min, &mut name);
    let serde = serde_json::from_str::<&RawValue>(text);
    let deep = matches!(&serde, Err(e) if e.to_string().contains("recursion limit"));
    if deep {
        return; // serde_json stops at 128 levels; the extractor has no limit
    }
    let x = match (ours, serde) {
        (Ok(x), Ok(_)) => x,
        (Err(_), Err(_)) => return,
        (Ok(_), Err(e)) => panic!("accepted text serde_json refuses: {e}"),
        (Err(e), Ok(_)) => panic!("refused JSON: {}", e.message),
    };
    let out = x.json();
    assert!(
        serde_json::from_str::<&RawValue>(out).is_ok(),
        "output is not JSON"
    );
    assert_eq!(x.attachments().len(), issued.len());
    for (a, (n, ext)) in x.attachments().iter().zip(&issued) {
        assert_eq!(a.file_name(), n);
        // The fuzzer learns names from comparisons and may write them into the input, even
        // inside a `data:` prefix that the replacement then removes: count only when it did not.
        let p = format!("[{n}]");
        if text.contains(&p) {
            assert!(out.contains(&p), "placeholder of {n}");
        } else {
            assert_eq!(out.matches(&p).count(), 1, "placeholder of {n}");
        }
        assert_eq!(sdk_extension(a.content_type()), *ext);
    }
    if text.len() > ORACLE_MAX || text.contains("-attachment-") {
        return; // too slow for the oracle, or names in the input that normalising would touch
    }
    // serde_json refuses lone surrogates in a Value; such texts get only the checks above.
    let Ok(input) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let mut want_atts = Vec::new();
    let want = oracle(input, min, &mut want_atts);
    let mut got = serde_json::from_str::<Value>(out).expect("output parses");
    let mut kept = 0;
    normalise(&mut got, &issued, &mut kept);
    assert_eq!(
        got, want,
        "rewritten document differs from the literal regex"
    );
    // With duplicate keys serde_json keeps the last value; only compare when nothing was dropped.
    if kept == issued.len() {
        let mut ours: Vec<(String, Vec<u8>)> = x
            .attachments()
            .iter()
            .map(|a| match a.source() {
                Source::Memory(b) => (a.content_type().to_owned(), b.to_vec()),
                Source::File(_) => panic!("file source"),
            })
            .collect();
        ours.sort();
        want_atts.sort();
        assert_eq!(ours, want_atts);
    }
});

/// Our placeholders as `[P.<ext>]`, counting those still in the document.
fn normalise(v: &mut Value, issued: &[(String, &str)], kept: &mut usize) {
    match v {
        Value::String(s) => {
            for (n, ext) in issued {
                let p = format!("[{n}]");
                if s.contains(&p) {
                    *kept += s.matches(&p).count();
                    *s = s.replace(&p, &format!("[P.{ext}]"));
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| normalise(i, issued, kept)),
        Value::Object(map) => map.values_mut().for_each(|i| normalise(i, issued, kept)),
        _ => {}
    }
}

/// The SDK's extraction, literally: every string value (not keys) of at least `min` characters
/// searched with `(data:[^,]*;base64,)?((?:[A-Za-z0-9+/]{4}){N,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)`
/// by backtracking in the regex's order of preference, matches decoded and sniffed.
fn oracle(v: Value, min: usize, atts: &mut Vec<(String, Vec<u8>)>) -> Value {
    match v {
        Value::String(s) => Value::String(oracle_string(&s, min, atts)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|i| oracle(i, min, atts)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, i)| (k, oracle(i, min, atts)))
                .collect(),
        ),
        other => other,
    }
}

fn is_b(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/'
}

fn starts(c: &[char], at: usize, lit: &str) -> bool {
    let lit: Vec<char> = lit.chars().collect();
    c.len() >= at + lit.len() && c[at..at + lit.len()] == lit[..]
}

/// `(?:B{4}){N,}` greedy, then the optional tail, first success in backtracking order.
fn base64_part(c: &[char], r: usize, groups: usize) -> Option<usize> {
    let mut most = 0;
    while r + 4 * (most + 1) <= c.len()
        && c[r + 4 * most..r + 4 * most + 4].iter().all(|&x| is_b(x))
    {
        most += 1;
    }
    // The first try with the most groups succeeds (the tail may be empty), if there are enough.
    #[allow(clippy::never_loop)]
    for g in (groups..=most).rev() {
        let e = r + 4 * g;
        let at = |k: usize| c.get(e + k).copied();
        let b = |k: usize| at(k).is_some_and(is_b);
        if b(0) && b(1) && at(2) == Some('=') && at(3) == Some('=') {
            return Some(e + 4);
        }
        if b(0) && b(1) && b(2) && at(3) == Some('=') {
            return Some(e + 4);
        }
        return Some(e);
    }
    None
}

fn match_at(c: &[char], p: usize, groups: usize) -> Option<(usize, usize)> {
    if starts(c, p, "data:") {
        let mut k = p + 5;
        while k < c.len() && c[k] != ',' {
            k += 1;
        }
        for x_end in (p + 5..=k).rev() {
            if starts(c, x_end, ";base64,") {
                if let Some(e) = base64_part(c, x_end + 8, groups) {
                    return Some((x_end + 8, e));
                }
            }
        }
    }
    base64_part(c, p, groups).map(|e| (p, e))
}

fn oracle_string(s: &str, min: usize, atts: &mut Vec<(String, Vec<u8>)>) -> String {
    let c: Vec<char> = s.chars().collect();
    if c.len() < min {
        return s.to_owned();
    }
    let decoder = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut out = String::new();
    let mut last = 0;
    let mut p = 0;
    while p <= c.len() {
        let Some((b64, end)) = match_at(&c, p, min / 4) else {
            p += 1;
            continue;
        };
        if end == p {
            p += 1; // an empty match
            continue;
        }
        let run: String = c[b64..end].iter().collect();
        if let Ok(bytes) = decoder.decode(run.as_bytes()) {
            let mime = sdk_mime(&bytes);
            if mime != "application/octet-stream" && mime != "text/plain" {
                out.extend(&c[last..p]);
                out.push_str(&format!("[P.{}]", sdk_extension(mime)));
                last = end;
                atts.push((mime.to_owned(), bytes));
            }
        }
        p = end;
    }
    out.extend(&c[last..]);
    out
}
