//! The upload-start answer (`StartUploadResponse`) and what upload does with it: choose the
//! direct or multi-part flow, check the number of part URLs against the part plan, and send each
//! URL Opik headers only when it is the configured backend.
#![no_main]
use libfuzzer_sys::fuzz_target;
use opik_attachments::fuzzing::protocol::{StartUploadResponse, DIRECT_UPLOAD_ID};
use opik_attachments::fuzzing::transport::{display_url, is_presigned};
use opik_attachments::fuzzing::upload::PartPlan;

mod common;

const MIB: u64 = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(start) = serde_json::from_slice::<StartUploadResponse>(data) else {
        return;
    };
    // Same fields as an untyped parse sees (when that parses: it is stricter on numbers). Serde
    // also takes a struct from an array (`["BEMinIO", ["url"]]`): fields by position.
    if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_slice(data) {
        assert_eq!(v["upload_id"].as_str(), Some(start.upload_id.as_str()));
        assert_eq!(
            v["pre_sign_urls"].as_array().map(Vec::len),
            Some(start.pre_sign_urls.len())
        );
    }
    // The flow upload takes for attachments of several sizes.
    for size in [0, 1, 5 * MIB, 5 * MIB + 1, 64 * MIB, 50_000 * MIB] {
        let plan = PartPlan::for_size(size).expect("plan");
        assert!(plan.count >= 1 && plan.count <= 10_000);
        let Some(_first) = start.pre_sign_urls.first() else {
            continue; // a protocol error: no URL
        };
        if start.upload_id == DIRECT_UPLOAD_ID {
            continue; // one PUT of the whole attachment to the first URL
        }
        if start.pre_sign_urls.len() != plan.count as usize {
            continue; // a protocol error: wrong number of part URLs
        }
        // Parts: their ranges tile the attachment exactly.
        let mut next = 0;
        for n in 1..=plan.count {
            let (offset, len) = plan.range(n);
            assert_eq!(offset, next);
            assert!(len <= plan.part_size);
            next = offset + len;
        }
        assert_eq!(next, size);
    }
    for url in start.pre_sign_urls.iter().take(64) {
        let shown = display_url(url);
        // No query and no `user:password@`: both are credentials.
        assert!(!shown.contains('?'));
        if let Some((_, rest)) = shown.split_once("://") {
            assert!(!rest[..rest.find('/').unwrap_or(rest.len())].contains('@'));
        }
        if !url.contains('@') {
            assert!(url.starts_with(&*shown));
        }
        if is_presigned(url) {
            assert!(!is_presigned(&shown) || shown.contains("Signature="));
        }
        common::check_headers_stay_home(url);
    }
});
