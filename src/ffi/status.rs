//! Status codes, their names, and the library version.

use crate::error::Status;
use std::ffi::c_char;

/// The result of every fallible function. `OPIK_OK` (0) is success. Values never change once
/// released; new ones are only appended.
pub type opik_status = i32;

/// Success.
pub const OPIK_OK: opik_status = 0;
/// A NULL where none is allowed, invalid UTF-8, an unknown enum value, malformed base64, an empty
/// or malformed entity id.
pub const OPIK_ERR_INVALID_ARGUMENT: opik_status = 1;
/// A local file could not be read or written.
pub const OPIK_ERR_IO: opik_status = 2;
/// No such attachment or project (HTTP 404, or no list entry matched).
pub const OPIK_ERR_NOT_FOUND: opik_status = 3;
/// Opik refused the credentials (HTTP 401 or 403 from Opik itself).
pub const OPIK_ERR_AUTH: opik_status = 4;
/// Any other error status from a server; see `opik_error_http_status`.
pub const OPIK_ERR_HTTP: opik_status = 5;
/// Connect, DNS, TLS or connection-reset failure.
pub const OPIK_ERR_NETWORK: opik_status = 6;
/// A time limit passed.
pub const OPIK_ERR_TIMEOUT: opik_status = 7;
/// The operation was cancelled.
pub const OPIK_ERR_CANCELLED: opik_status = 8;
/// A user callback returned non-zero.
pub const OPIK_ERR_ABORTED_BY_CALLBACK: opik_status = 9;
/// The server answered with something the Opik API does not specify.
pub const OPIK_ERR_PROTOCOL: opik_status = 10;
/// Over a limit: more than 10,000 parts of at most 5 GiB, or an HTTP 413.
pub const OPIK_ERR_TOO_LARGE: opik_status = 11;
/// Missing or contradictory configuration (no URL, bad URL scheme, unreadable config or CA file).
pub const OPIK_ERR_CONFIG: opik_status = 12;
/// The client is closing or closed.
pub const OPIK_ERR_SHUTDOWN: opik_status = 13;
/// The client was created in another process (used after fork()).
pub const OPIK_ERR_FORKED: opik_status = 14;
/// A bug inside the library (a caught panic); the message says where.
pub const OPIK_ERR_INTERNAL: opik_status = 15;

/// The name of a status, e.g. `"OPIK_ERR_IO"`, for any integer; `"OPIK_ERR_UNKNOWN"` for values
/// this version does not know. The string is static: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn opik_status_str(status: i32) -> *const c_char {
    super::guard::call_infallible(c"OPIK_ERR_UNKNOWN".as_ptr(), || {
        match Status::from_i32(status) {
            Some(s) => s.c_name().as_ptr(),
            None => c"OPIK_ERR_UNKNOWN".as_ptr(),
        }
    })
}

/// The library version, e.g. `"0.1.0"` (equal to the `OPIK_VERSION_*` macros of the header the
/// program was built with, unless a different library is loaded at run time). Static; never free.
#[no_mangle]
pub extern "C" fn opik_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn c_constants_equal_the_rust_statuses() {
        let c = [
            OPIK_OK,
            OPIK_ERR_INVALID_ARGUMENT,
            OPIK_ERR_IO,
            OPIK_ERR_NOT_FOUND,
            OPIK_ERR_AUTH,
            OPIK_ERR_HTTP,
            OPIK_ERR_NETWORK,
            OPIK_ERR_TIMEOUT,
            OPIK_ERR_CANCELLED,
            OPIK_ERR_ABORTED_BY_CALLBACK,
            OPIK_ERR_PROTOCOL,
            OPIK_ERR_TOO_LARGE,
            OPIK_ERR_CONFIG,
            OPIK_ERR_SHUTDOWN,
            OPIK_ERR_FORKED,
            OPIK_ERR_INTERNAL,
        ];
        for (value, status) in c.iter().zip(Status::ALL.iter().copied()) {
            assert_eq!(*value, status as i32, "{}", status.name());
        }
    }

    #[test]
    fn every_status_has_its_own_name() {
        for &s in Status::ALL {
            // SAFETY: `opik_status_str` returns a pointer to a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(opik_status_str(s as i32)) }
                .to_str()
                .unwrap();
            assert_eq!(name, s.name());
        }
        for unknown in [-1, 16, i32::MAX, i32::MIN] {
            assert_eq!(
                // SAFETY: as above; unknown values give the static "OPIK_ERR_UNKNOWN".
                unsafe { CStr::from_ptr(opik_status_str(unknown)) }
                    .to_str()
                    .unwrap(),
                "OPIK_ERR_UNKNOWN"
            );
        }
    }
}
