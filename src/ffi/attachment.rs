//! `opik_attachment`: what to upload.

use super::boundary::{bytes_arg, call, opt_str_arg, str_arg, Out};
use super::error::opik_error;
use super::guard::{c_string, call_infallible, free_handle};
use super::status::opik_status;
use crate::media::attachment::Attachment;
use std::ffi::{c_char, CString};

/// An immutable attachment (a file streamed at upload time, or bytes held by the library). May be
/// uploaded any number of times, from any thread at once. Free with `opik_attachment_free` (after
/// the uploads that use it returned).
pub struct opik_attachment {
    pub(crate) inner: Attachment,
    file_name: CString,
    content_type: CString,
}

impl From<Attachment> for opik_attachment {
    fn from(inner: Attachment) -> Self {
        opik_attachment {
            file_name: c_string(inner.file_name()),
            content_type: c_string(inner.content_type()),
            inner,
        }
    }
}

/// An attachment from a local file. Checks now that `path` is a readable regular file and records
/// its size; the content is streamed when uploaded, never loaded whole. `file_name` defaults to the
/// path's base name; `content_type` (may be NULL) is inferred from the name's extension, then the
/// file's first bytes, then `application/octet-stream`. Missing or unreadable file: `OPIK_ERR_IO`.
#[no_mangle]
pub extern "C" fn opik_attachment_from_file(
    path: *const c_char,
    file_name: *const c_char,
    content_type: *const c_char,
    out: *mut *mut opik_attachment,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_attachment_from_file", err, || {
        // SAFETY: `out` is NULL or points to a writable `opik_attachment *` (C contract);
        // `Out::new` refuses NULL, and `set` writes it only on success.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: each string is NULL or NUL-terminated and kept alive by the caller for the call
        // (C contract); the helpers refuse a NULL where one is required and invalid UTF-8, and
        // `from_file` copies what it keeps, so no borrow outlives the call.
        let (path, name, ctype) = unsafe {
            (
                str_arg(path, "path")?,
                opt_str_arg(file_name, "file_name")?,
                opt_str_arg(content_type, "content_type")?,
            )
        };
        out.set(Attachment::from_file(path, name, ctype)?.into());
        Ok(())
    })
}

/// An attachment from `len` bytes at `data` (copied; `data` may be NULL when `len` is 0).
/// `file_name` is required; `content_type` may be NULL (inferred as for files).
#[no_mangle]
pub extern "C" fn opik_attachment_from_bytes(
    data: *const u8,
    len: usize,
    file_name: *const c_char,
    content_type: *const c_char,
    out: *mut *mut opik_attachment,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_attachment_from_bytes", err, || {
        // SAFETY: `out` is NULL or points to a writable `opik_attachment *` (C contract);
        // `Out::new` refuses NULL, and `set` writes it only on success.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: `data` is NULL or points to `len` readable bytes, and each string is NULL or
        // NUL-terminated, all kept alive by the caller for the call (C contract). `bytes_arg`
        // refuses NULL with a non-zero `len`; the string helpers refuse a NULL where one is
        // required and invalid UTF-8. The bytes are copied (`copy_from_slice`) before returning.
        let (data, name, ctype) = unsafe {
            (
                bytes_arg(data, len, "data")?,
                str_arg(file_name, "file_name")?,
                opt_str_arg(content_type, "content_type")?,
            )
        };
        out.set(Attachment::from_bytes(bytes::Bytes::copy_from_slice(data), name, ctype)?.into());
        Ok(())
    })
}

/// An attachment from base64 text: the standard or URL-safe alphabet, with or without padding,
/// line breaks ignored, optionally prefixed by `data:<mime>;base64,` (whose MIME type is used when
/// `content_type` is NULL). Malformed base64: `OPIK_ERR_INVALID_ARGUMENT`. `file_name` is required.
#[no_mangle]
pub extern "C" fn opik_attachment_from_base64(
    base64: *const c_char,
    file_name: *const c_char,
    content_type: *const c_char,
    out: *mut *mut opik_attachment,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_attachment_from_base64", err, || {
        // SAFETY: `out` is NULL or points to a writable `opik_attachment *` (C contract);
        // `Out::new` refuses NULL, and `set` writes it only on success.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: each string is NULL or NUL-terminated and kept alive by the caller for the call
        // (C contract); the helpers refuse a NULL where one is required and invalid UTF-8, and
        // `from_base64` decodes into memory of its own, so no borrow outlives the call.
        let (text, name, ctype) = unsafe {
            (
                str_arg(base64, "base64")?,
                str_arg(file_name, "file_name")?,
                opt_str_arg(content_type, "content_type")?,
            )
        };
        out.set(Attachment::from_base64(text, name, ctype)?.into());
        Ok(())
    })
}

/// The attachment's file name. Borrowed from `a` (valid until it is freed); NULL when `a` is NULL.
#[no_mangle]
pub extern "C" fn opik_attachment_file_name(a: *const opik_attachment) -> *const c_char {
    call_infallible(std::ptr::null(), || {
        // SAFETY: `a` is NULL or a live attachment from this library (C contract), only read; the
        // pointer returned borrows its `CString`, valid until `opik_attachment_free(a)`.
        unsafe { a.as_ref() }.map_or(std::ptr::null(), |a| a.file_name.as_ptr())
    })
}

/// The attachment's MIME type. Borrowed from `a`; NULL when `a` is NULL.
#[no_mangle]
pub extern "C" fn opik_attachment_content_type(a: *const opik_attachment) -> *const c_char {
    call_infallible(std::ptr::null(), || {
        // SAFETY: as in `opik_attachment_file_name`.
        unsafe { a.as_ref() }.map_or(std::ptr::null(), |a| a.content_type.as_ptr())
    })
}

/// The size in bytes recorded when the attachment was made (a file is measured again when an
/// upload starts). 0 when `a` is NULL.
#[no_mangle]
pub extern "C" fn opik_attachment_size(a: *const opik_attachment) -> u64 {
    // SAFETY: `a` is NULL or a live attachment from this library (C contract); it is immutable
    // and only read here.
    call_infallible(0, || unsafe { a.as_ref() }.map_or(0, |a| a.inner.size()))
}

/// Frees an attachment. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_attachment_free(a: *mut opik_attachment) {
    // SAFETY: `a` is NULL or an attachment boxed by `Out::set`, freed once and not used afterwards
    // (C contract); `free_handle` ignores NULL.
    call_infallible((), || unsafe { free_handle(a) })
}
