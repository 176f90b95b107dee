//! The list answers: `Project` (projects/retrieve) and `AttachmentPage` (attachment/list), the
//! paging decision, the list handed to C, and each link's headers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use opik_attachments::ffi::list::{
    opik_attachment_list, opik_attachment_list_file_name, opik_attachment_list_file_size,
    opik_attachment_list_free, opik_attachment_list_len, opik_attachment_list_link,
    opik_attachment_list_mime_type,
};
use opik_attachments::fuzzing::protocol::{AttachmentPage, Project};
use std::ffi::CStr;

mod common;

fuzz_target!(|data: &[u8]| {
    // serde also builds structs from JSON arrays; the transport refuses any answer that is not
    // an object before parsing (fuzz/regressions/list_answer/project-as-json-array).
    if let Ok(p) = serde_json::from_slice::<Project>(data) {
        if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_slice(data) {
            assert_eq!(v["id"].as_str(), Some(p.id.as_str()));
        }
    }
    // (Serde also takes these structs from arrays, fields by position: checked on objects only.)
    let Ok(page) = serde_json::from_slice::<AttachmentPage>(data) else {
        return;
    };
    if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_slice(data) {
        let content = v.get("content").and_then(|c| c.as_array());
        assert_eq!(content.map_or(0, Vec::len), page.content.len());
        if let Some(t) = v.get("total").and_then(|t| t.as_u64()) {
            assert_eq!(t, page.total);
        }
    }
    // The paging rule: stop on an empty page or once `total` entries arrived. A page can never
    // make the list shrink.
    let stop = page.content.is_empty() || page.content.len() as u64 >= page.total;
    if page.content.is_empty() {
        assert!(stop);
    }
    for info in page.content.iter().take(64) {
        if let Some(link) = &info.link {
            common::check_headers_stay_home(link);
        }
    }
    // The list handed to C: every entry readable, NULs replaced (never truncated), out-of-range
    // indices give NULL / 0.
    let entries = page.content.clone();
    let l = Box::into_raw(Box::new(opik_attachment_list::from(page.content)));
    assert_eq!(opik_attachment_list_len(l), entries.len());
    for (i, e) in entries.iter().enumerate().take(256) {
        assert_eq!(
            c(opik_attachment_list_file_name(l, i)),
            Some(for_c(&e.file_name))
        );
        assert_eq!(
            c(opik_attachment_list_mime_type(l, i)),
            Some(for_c(e.mime_type.as_deref().unwrap_or("")))
        );
        assert_eq!(
            c(opik_attachment_list_link(l, i)),
            e.link.as_deref().map(for_c)
        );
        assert_eq!(opik_attachment_list_file_size(l, i), e.file_size);
    }
    for i in [entries.len(), entries.len() + 1, usize::MAX] {
        assert!(opik_attachment_list_file_name(l, i).is_null());
        assert!(opik_attachment_list_mime_type(l, i).is_null());
        assert!(opik_attachment_list_link(l, i).is_null());
        assert_eq!(opik_attachment_list_file_size(l, i), 0);
    }
    opik_attachment_list_free(l);
});

fn c(p: *const std::ffi::c_char) -> Option<String> {
    // SAFETY: NULL or a NUL-terminated string borrowed from the live list.
    (!p.is_null()).then(|| {
        unsafe { CStr::from_ptr(p) }
            .to_str()
            .expect("UTF-8")
            .to_owned()
    })
}

fn for_c(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}
