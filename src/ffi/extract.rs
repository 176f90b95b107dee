//! Embedded media on its own: base64 blobs in a JSON text become attachments, as the sender does
//! for the input, output and metadata of traces and spans.

use super::attachment::opik_attachment;
use super::boundary::{call, str_arg, Out};
use super::error::opik_error;
use super::guard::{call_infallible, free_handle};
use super::status::opik_status;
use crate::error::Error;
use crate::media::extract::extract;
use std::ffi::{c_char, CString};

/// The result of `opik_extract_embedded`: the rewritten JSON and the attachments taken out of it.
/// Immutable: its `const` functions may be called from any thread. Free with
/// `opik_extraction_free` once the uploads that use its attachments returned.
pub struct opik_extraction {
    json: CString,
    attachments: Vec<opik_attachment>,
}

/// Searches every string value of `json` for base64 media of at least `min_chars` characters
/// (optionally with a `data:<mime>;base64,` prefix), as the Opik SDKs do, and moves each blob
/// whose bytes are a known type (PNG, JPEG, GIF, WebP, PDF, SVG, MP4, JSON) into an attachment
/// named `<context>-attachment-<n>-<unix-ms>-sdk.<ext>`, leaving `[<that name>]` in its place.
/// `context` is `"input"`, `"output"` or `"metadata"`; `min_chars` 256000 is the SDKs' default.
/// One pass, linear in the size of `json`. Text that is not JSON is `OPIK_ERR_INVALID_ARGUMENT`
/// naming the line and column. On success `*out` receives the extraction (also when nothing
/// was found: then its JSON is `json` unchanged).
#[no_mangle]
pub extern "C" fn opik_extract_embedded(
    json: *const c_char,
    context: *const c_char,
    min_chars: usize,
    out: *mut *mut opik_extraction,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_extract_embedded", err, || {
        // SAFETY: `out` is NULL (refused) or a writable `opik_extraction **`, written only on
        // success.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: the strings are NULL (refused) or NUL-terminated and live for the call; checked
        // for UTF-8; nothing borrowed from them is kept.
        let (json, context) = unsafe { (str_arg(json, "json")?, str_arg(context, "context")?) };
        let (text, found) = extract(json, context, min_chars)?.into_parts();
        let json = CString::new(text)
            .map_err(|_| Error::internal("the rewritten JSON holds a NUL byte"))?;
        out.set(opik_extraction {
            json,
            attachments: found.into_iter().map(opik_attachment::from).collect(),
        });
        Ok(())
    })
}

/// The rewritten JSON, borrowed from the extraction (valid until it is freed). NULL for NULL.
#[no_mangle]
pub extern "C" fn opik_extraction_json(x: *const opik_extraction) -> *const c_char {
    call_infallible(std::ptr::null(), || {
        // SAFETY: `x` is NULL or a live extraction; the text lives as long as it.
        unsafe { x.as_ref() }.map_or(std::ptr::null(), |x| x.json.as_ptr())
    })
}

/// How many attachments were taken out. 0 for NULL.
#[no_mangle]
pub extern "C" fn opik_extraction_len(x: *const opik_extraction) -> usize {
    call_infallible(0, || {
        // SAFETY: `x` is NULL or a live extraction, only read.
        unsafe { x.as_ref() }.map_or(0, |x| x.attachments.len())
    })
}

/// Attachment `i` (in the order of the placeholders in the text), borrowed from the extraction:
/// valid until it is freed, and usable with every function that takes an attachment (not with
/// `opik_attachment_free`). NULL when `i` is out of range or `x` is NULL.
#[no_mangle]
pub extern "C" fn opik_extraction_attachment(
    x: *const opik_extraction,
    i: usize,
) -> *const opik_attachment {
    call_infallible(std::ptr::null(), || {
        // SAFETY: `x` is NULL or a live extraction; the attachments live as long as it.
        unsafe { x.as_ref() }
            .and_then(|x| x.attachments.get(i))
            .map_or(std::ptr::null(), |a| a as *const opik_attachment)
    })
}

/// Frees an extraction and the attachments it holds. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_extraction_free(x: *mut opik_extraction) {
    // SAFETY: `x` is NULL or an extraction boxed by `Out::set`, freed once and not used
    // afterwards (C contract).
    call_infallible((), || unsafe { free_handle(x) })
}
