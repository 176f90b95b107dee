//! `mime::sniff`, `mime::from_file_name` and `mime::infer`, and the type an in-memory attachment
//! gets: input = [name length][explicit-type length][name][explicit type][content].
#![no_main]
use libfuzzer_sys::fuzz_target;
use opik_attachments::fuzzing::mime::{self, OCTET_STREAM, SNIFF_LEN};
use opik_attachments::Attachment;

const SNIFFED: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "audio/wav",
    "application/pdf",
    "video/mp4",
    "video/webm",
    "audio/ogg",
    "application/json",
    "image/svg+xml",
];

fuzz_target!(|data: &[u8]| {
    let (name, explicit, head) = split(data);
    let sniffed = mime::sniff(head);
    if let Some(t) = sniffed {
        assert!(SNIFFED.contains(&t), "unexpected sniffed type {t}");
    }
    // Only the first SNIFF_LEN bytes count.
    assert_eq!(sniffed, mime::sniff(&head[..head.len().min(SNIFF_LEN)]));

    let by_name = mime::from_file_name(&name);
    if let Some(t) = &by_name {
        assert!(
            t.contains('/') && !t.chars().any(char::is_whitespace),
            "{t:?}"
        );
    }
    // The extension is matched without regard to ASCII case.
    assert_eq!(by_name, mime::from_file_name(&name.to_ascii_uppercase()));

    let inferred = mime::infer(explicit.as_deref(), &name, head);
    match explicit.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => assert_eq!(inferred, t),
        None => {
            let want = by_name
                .clone()
                .or_else(|| sniffed.map(str::to_owned))
                .unwrap_or_else(|| OCTET_STREAM.to_owned());
            assert_eq!(inferred, want);
        }
    }

    // The attachment made from these bytes carries the same type and size.
    if let Ok(a) = Attachment::from_bytes(head.to_vec(), &name, explicit.as_deref()) {
        assert_eq!(a.content_type(), inferred);
        assert_eq!(a.size(), head.len() as u64);
        assert_eq!(a.file_name(), name);
    }
});

fn split(data: &[u8]) -> (String, Option<String>, &[u8]) {
    let Some((&[n, e], rest)) = data.split_first_chunk::<2>() else {
        return ("x".into(), None, data);
    };
    let n = (n as usize).min(rest.len());
    let (name, rest) = rest.split_at(n);
    let explicit = if e == 0 {
        None
    } else {
        let e = ((e - 1) as usize).min(rest.len());
        Some(rest.split_at(e))
    };
    let (explicit, head) = match explicit {
        None => (None, rest),
        Some((t, head)) => (Some(String::from_utf8_lossy(t).into_owned()), head),
    };
    (String::from_utf8_lossy(name).into_owned(), explicit, head)
}
