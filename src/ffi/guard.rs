//! The panic boundary and the few helpers every handle needs. Depends on nothing else in the
//! C ABI, so that status, error and boundary code can all use it.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// For functions that cannot fail: a panic gives `default`.
pub(crate) fn call_infallible<T>(default: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(default)
}

pub(crate) fn guarded<T>(function: &'static str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(Error::internal(format!(
            "internal error in {function}: {what} (please report this bug)"
        )))
    })
}

/// Frees a handle made with `Out::set` (a `Box`); NULL is a no-op.
///
/// # Safety
/// `p` is NULL or a handle of type `T` from this library that is not used afterwards.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        drop(Box::from_raw(p));
    }
}

/// A string for C. Interior NULs (from a hostile server) are replaced so nothing is truncated
/// silently into something else.
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
}
