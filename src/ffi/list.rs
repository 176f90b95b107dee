//! `opik_attachment_list`: the result of `opik_list`.

use super::guard::{c_string, call_infallible, free_handle};
use crate::opik::protocol::AttachmentInfo;
use std::ffi::{c_char, CString};

/// Attachments of one entity, as the server listed them. Immutable: may be read from several
/// threads at once. Free with `opik_attachment_list_free`.
pub struct opik_attachment_list {
    entries: Vec<Entry>,
}

struct Entry {
    file_name: CString,
    mime_type: CString,
    file_size: u64,
    link: Option<CString>,
}

impl From<Vec<AttachmentInfo>> for opik_attachment_list {
    fn from(items: Vec<AttachmentInfo>) -> Self {
        let entries = items
            .into_iter()
            .map(|i| Entry {
                file_name: c_string(&i.file_name),
                mime_type: c_string(i.mime_type.as_deref().unwrap_or("")),
                file_size: i.file_size,
                link: i.link.as_deref().map(c_string),
            })
            .collect();
        opik_attachment_list { entries }
    }
}

fn entry<'a>(l: *const opik_attachment_list, i: usize) -> Option<&'a Entry> {
    // SAFETY: `l` is NULL or a live list from this library (C contract); lists are immutable, and
    // the entry returned borrows it until `opik_attachment_list_free(l)`.
    unsafe { l.as_ref() }.and_then(|l| l.entries.get(i))
}

/// Number of attachments; 0 when `l` is NULL.
#[no_mangle]
pub extern "C" fn opik_attachment_list_len(l: *const opik_attachment_list) -> usize {
    // SAFETY: as in `entry`.
    call_infallible(0, || unsafe { l.as_ref() }.map_or(0, |l| l.entries.len()))
}

/// File name of entry `i`, borrowed from `l`; NULL when `i` is out of range or `l` is NULL.
#[no_mangle]
pub extern "C" fn opik_attachment_list_file_name(
    l: *const opik_attachment_list,
    i: usize,
) -> *const c_char {
    call_infallible(std::ptr::null(), || {
        entry(l, i).map_or(std::ptr::null(), |e| e.file_name.as_ptr())
    })
}

/// MIME type of entry `i` (empty when the server gave none), borrowed from `l`; NULL when out of range.
#[no_mangle]
pub extern "C" fn opik_attachment_list_mime_type(
    l: *const opik_attachment_list,
    i: usize,
) -> *const c_char {
    call_infallible(std::ptr::null(), || {
        entry(l, i).map_or(std::ptr::null(), |e| e.mime_type.as_ptr())
    })
}

/// Size in bytes of entry `i`; 0 when out of range.
#[no_mangle]
pub extern "C" fn opik_attachment_list_file_size(l: *const opik_attachment_list, i: usize) -> u64 {
    call_infallible(0, || entry(l, i).map_or(0, |e| e.file_size))
}

/// Download link of entry `i` (a presigned storage URL, valid for a limited time, or a backend URL
/// that needs the Opik headers); NULL when the server gave none or `i` is out of range.
#[no_mangle]
pub extern "C" fn opik_attachment_list_link(
    l: *const opik_attachment_list,
    i: usize,
) -> *const c_char {
    call_infallible(std::ptr::null(), || {
        entry(l, i)
            .and_then(|e| e.link.as_ref())
            .map_or(std::ptr::null(), |l| l.as_ptr())
    })
}

/// Frees a list. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_attachment_list_free(l: *mut opik_attachment_list) {
    // SAFETY: `l` is NULL or a list boxed by `Out::set` in `opik_list`, freed once and not used
    // afterwards (C contract); `free_handle` ignores NULL.
    call_infallible((), || unsafe { free_handle(l) })
}
