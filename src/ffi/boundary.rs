//! Helpers that every exported function goes through.

use super::error::opik_error;
use super::guard::guarded;
use super::status::{opik_status, OPIK_OK};
use crate::error::{Error, Result};
use std::ffi::{c_char, CStr};

/// Runs the body of a fallible exported function: catches a panic (→ `OPIK_ERR_INTERNAL` naming
/// `function`), and on failure hands a new error object to `*err` when `err` is not NULL.
pub(crate) fn call(
    function: &'static str,
    err: *mut *mut opik_error,
    body: impl FnOnce() -> Result<()>,
) -> opik_status {
    match guarded(function, body) {
        Ok(()) => OPIK_OK,
        Err(e) => {
            let status = e.status as opik_status;
            if !err.is_null() {
                // SAFETY: the caller passed a writable `opik_error **` (checked non-NULL).
                unsafe { *err = Box::into_raw(Box::new(opik_error::from(e))) };
            }
            status
        }
    }
}

/// Like [`call`], for functions without an `err` parameter.
pub(crate) fn call_status(
    function: &'static str,
    body: impl FnOnce() -> Result<()>,
) -> opik_status {
    match guarded(function, body) {
        Ok(()) => OPIK_OK,
        Err(e) => e.status as opik_status,
    }
}

/// A required string argument: non-NULL, valid UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    opt_str_arg(p, name)?.ok_or_else(|| Error::invalid(format!("{name} must not be NULL")))
}

/// An optional string argument: NULL gives `None`; otherwise valid UTF-8.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    CStr::from_ptr(p).to_str().map(Some).map_err(|e| {
        Error::invalid(format!(
            "{name} is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })
}

/// A required handle, borrowed.
///
/// # Safety
/// `p` is NULL or a live handle of type `T` made by this library.
pub(crate) unsafe fn ref_arg<'a, T>(p: *const T, name: &str) -> Result<&'a T> {
    p.as_ref()
        .ok_or_else(|| Error::invalid(format!("{name} must not be NULL")))
}

/// A required handle, borrowed mutably.
///
/// # Safety
/// As [`ref_arg`], and no other reference to `*p` is in use.
pub(crate) unsafe fn mut_arg<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T> {
    p.as_mut()
        .ok_or_else(|| Error::invalid(format!("{name} must not be NULL")))
}

/// `const uint8_t *data, size_t len`: NULL is allowed only with `len == 0`.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes that outlive `'a`.
pub(crate) unsafe fn bytes_arg<'a>(data: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    array_arg(data, len, name)
}

/// An array argument `const T *items, size_t count`: NULL is allowed only with `count == 0`.
///
/// # Safety
/// `items` is NULL or points to `count` readable elements that outlive `'a`.
pub(crate) unsafe fn array_arg<'a, T>(
    items: *const T,
    count: usize,
    name: &str,
) -> Result<&'a [T]> {
    if items.is_null() {
        return if count == 0 {
            Ok(&[])
        } else {
            Err(Error::invalid(format!(
                "{name} is NULL but count is {count}"
            )))
        };
    }
    if count > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Error::invalid(format!(
            "{name}: count {count} is too large"
        )));
    }
    Ok(std::slice::from_raw_parts(items, count))
}

/// An out-parameter `T **out`, checked up front and written only by [`Out::set`] — that is, only
/// once the function has succeeded.
pub(crate) struct Out<T> {
    ptr: *mut *mut T,
}

impl<T> Out<T> {
    /// # Safety
    /// `ptr` is NULL or writable.
    pub(crate) unsafe fn new(ptr: *mut *mut T, name: &str) -> Result<Out<T>> {
        if ptr.is_null() {
            return Err(Error::invalid(format!("{name} must not be NULL")));
        }
        Ok(Out { ptr })
    }

    /// Hands ownership of `value` to the caller.
    pub(crate) fn set(self, value: T) {
        // SAFETY: checked non-NULL and writable in `new`.
        unsafe { *self.ptr = Box::into_raw(Box::new(value)) };
    }
}
