//! The library's own log lines and counters.

use super::client::opik_client;
use super::error::opik_error;
use super::guard::{c_string, call_infallible};
use super::options::{opik_options, set};
use super::status::opik_status;
use crate::error::Error;
use crate::observe::{Counter, Level, LogSink};
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// Severity of a log line: `OPIK_LOG_ERROR` (0), `OPIK_LOG_WARN` (1), `OPIK_LOG_INFO` (2),
/// `OPIK_LOG_DEBUG` (3).
pub type opik_log_level = i32;
/// Final failures of background work.
pub const OPIK_LOG_ERROR: opik_log_level = 0;
/// Retries, upload restarts, outbox replays.
pub const OPIK_LOG_WARN: opik_log_level = 1;
/// Other notable events (a cancelled upload).
pub const OPIK_LOG_INFO: opik_log_level = 2;
/// Detail for debugging.
pub const OPIK_LOG_DEBUG: opik_log_level = 3;

/// Receives one log line (UTF-8, no trailing newline, borrowed for the call). Runs on library
/// threads, never inside a signal handler and never while a library lock is held; it may call
/// library functions. A line never contains the API key or a presigned URL's query.
pub type opik_log_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, level: opik_log_level, message: *const c_char),
>;

/// What `opik_client_counter` reports: `OPIK_COUNTER_ENTITIES_SENT` (0),
/// `OPIK_COUNTER_ENTITIES_FAILED` (1), `OPIK_COUNTER_ATTACHMENTS_SENT` (2),
/// `OPIK_COUNTER_ATTACHMENTS_FAILED` (3), `OPIK_COUNTER_BYTES_SENT` (4), `OPIK_COUNTER_RETRIES` (5).
pub type opik_counter = i32;
/// Traces and spans the server accepted.
pub const OPIK_COUNTER_ENTITIES_SENT: opik_counter = 0;
/// Traces and spans finally not sent (refused, retries exhausted, client closed, queue full).
pub const OPIK_COUNTER_ENTITIES_FAILED: opik_counter = 1;
/// Background attachment uploads that finished (opik_upload_async and `*_attach`).
pub const OPIK_COUNTER_ATTACHMENTS_SENT: opik_counter = 2;
/// Background attachment uploads that finally failed or were cancelled.
pub const OPIK_COUNTER_ATTACHMENTS_FAILED: opik_counter = 3;
/// Bytes of background attachments and of trace and span batches delivered.
pub const OPIK_COUNTER_BYTES_SENT: opik_counter = 4;
/// Requests retried after a transient failure.
pub const OPIK_COUNTER_RETRIES: opik_counter = 5;

/// `user_data` travels to library threads: the caller promised, by setting the callback, that
/// it may be used there.
struct UserData(*mut c_void);
// SAFETY: the callback's contract says it runs on library threads with this `user_data`; the
// pointer is never dereferenced by the library.
unsafe impl Send for UserData {}
// SAFETY: as above; the library only passes the pointer value on.
unsafe impl Sync for UserData {}

/// Sends the library's log lines up to `max_level` to `fn` with `user_data` (which must stay
/// valid while a client made from these options exists). A NULL `fn` turns the callback off.
/// Without a callback, the environment variable `OPIK_LOG` (`error`, `warn`, `info`, `debug`)
/// makes the library print its lines to standard error; with neither it prints nothing. An
/// unknown level is `OPIK_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn opik_options_set_log_callback(
    o: *mut opik_options,
    max_level: opik_log_level,
    r#fn: opik_log_fn,
    user_data: *mut c_void,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_log_callback", o, err, |opts| {
        let Some(write) = r#fn else {
            opts.log = None;
            return Ok(());
        };
        let level = Level::from_i32(max_level).ok_or_else(|| {
            Error::invalid(format!(
                "log level {max_level} is not OPIK_LOG_ERROR..OPIK_LOG_DEBUG (0-3)"
            ))
        })?;
        let user_data = UserData(user_data);
        opts.set_log(LogSink {
            max_level: level,
            write: Arc::new(move |level: Level, line: &str| {
                let line = c_string(line);
                let data = &user_data;
                // SAFETY: the program's callback, with its own user_data and a line borrowed for
                // the call (the callback contract above).
                unsafe { write(data.0, level as i32, line.as_ptr()) }
            }),
        })
    })
}

/// The current value of a counter of the client's background work (monotonic). 0 for NULL or an
/// unknown counter. Thread-safe.
#[no_mangle]
pub extern "C" fn opik_client_counter(c: *const opik_client, which: opik_counter) -> u64 {
    call_infallible(0, || {
        // SAFETY: `c` is NULL or a live client; only read.
        let Some(client) = (unsafe { c.as_ref() }) else {
            return 0;
        };
        Counter::from_i32(which).map_or(0, |w| client.inner.counter(w))
    })
}
