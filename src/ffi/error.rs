//! Error objects handed to C.

use super::guard::{c_string, call_infallible, free_handle};
use super::status::{opik_status, OPIK_ERR_INVALID_ARGUMENT};
use crate::error::Error;
use std::ffi::{c_char, CString};

/// A failure's details: status, message and HTTP status. Made by the library (through the
/// `opik_error **err` parameter of fallible functions), freed by the caller with
/// `opik_error_free`. Immutable: may be read from several threads at once.
pub struct opik_error {
    status: opik_status,
    message: CString,
    http_status: i32,
}

impl From<Error> for opik_error {
    fn from(e: Error) -> opik_error {
        opik_error {
            status: e.status as opik_status,
            message: c_string(&e.message),
            http_status: i32::from(e.http_status),
        }
    }
}

/// The status of the failure. `OPIK_ERR_INVALID_ARGUMENT` when `e` is NULL.
#[no_mangle]
pub extern "C" fn opik_error_status(e: *const opik_error) -> opik_status {
    call_infallible(OPIK_ERR_INVALID_ARGUMENT, || {
        // SAFETY: `e` is NULL or a live error from this library (C contract); errors are immutable,
        // so reading one while other threads read it is sound.
        unsafe { e.as_ref() }.map_or(OPIK_ERR_INVALID_ARGUMENT, |e| e.status)
    })
}

/// A human-readable message (UTF-8; never contains the API key). Borrowed from `e`: valid until
/// `opik_error_free(e)`. An empty string when `e` is NULL.
#[no_mangle]
pub extern "C" fn opik_error_message(e: *const opik_error) -> *const c_char {
    call_infallible(c"".as_ptr(), || {
        // SAFETY: as in `opik_error_status`; the pointer returned borrows `e`'s `CString`, valid
        // until `opik_error_free(e)` (a NULL `e` gives a static empty string).
        unsafe { e.as_ref() }.map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// The HTTP status the server answered with, or 0 when none applies (or `e` is NULL).
#[no_mangle]
pub extern "C" fn opik_error_http_status(e: *const opik_error) -> i32 {
    // SAFETY: as in `opik_error_status`.
    call_infallible(0, || unsafe { e.as_ref() }.map_or(0, |e| e.http_status))
}

/// Frees an error. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_error_free(e: *mut opik_error) {
    // SAFETY: `e` is NULL or an error boxed by `boundary::call`, freed once and not used afterwards
    // (C contract); `free_handle` ignores NULL.
    call_infallible((), || unsafe { free_handle(e) })
}
