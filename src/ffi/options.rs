//! `opik_options`: what the caller sets explicitly before creating a client. Every value is
//! checked by the core's settings (`crate::settings::Options`); this file only converts types.

use super::boundary::{call, mut_arg, str_arg};
use super::error::opik_error;
use super::guard::{call_infallible, free_handle};
use super::status::opik_status;
use crate::settings::Options;
use std::ffi::c_char;
use std::time::Duration;

/// Client settings. Anything not set here comes from the environment (`OPIK_URL_OVERRIDE`,
/// `OPIK_API_KEY`, `OPIK_WORKSPACE`, `OPIK_PROJECT_NAME`), then from the `[opik]` section of the
/// file named by `OPIK_CONFIG_PATH` or `~/.opik.config`, then from defaults. Not thread-safe:
/// set it up on one thread; `opik_client_new` copies what it needs.
pub struct opik_options {
    pub(crate) inner: Options,
}

/// A new, empty set of options. NULL only when out of memory. Free with `opik_options_free`.
#[no_mangle]
pub extern "C" fn opik_options_new() -> *mut opik_options {
    call_infallible(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(opik_options {
            inner: Options::default(),
        }))
    })
}

/// Frees options. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_options_free(o: *mut opik_options) {
    // SAFETY: `o` is NULL or options boxed by `opik_options_new`, freed once and not used
    // afterwards (C contract); `free_handle` ignores NULL and unboxes them the same way.
    call_infallible((), || unsafe { free_handle(o) })
}

/// Every setter: `o` checked, the value applied by the core's settings, a refusal handed to
/// `*err` with the setter's name in front.
pub(super) fn set(
    function: &'static str,
    o: *mut opik_options,
    err: *mut *mut opik_error,
    apply: impl FnOnce(&mut Options) -> crate::Result<()>,
) -> opik_status {
    call(function, err, || {
        // SAFETY: `o` is NULL or live options from `opik_options_new`. Options are not thread-safe
        // (C contract: set up on one thread), so no other reference to them exists during the
        // call; `mut_arg` refuses NULL.
        let options = &mut unsafe { mut_arg(o, "options") }?.inner;
        apply(options).map_err(|e| e.context(function))
    })
}

/// The Opik API base URL, e.g. `"https://www.comet.com/opik/api/"` or
/// `"http://localhost:5173/api/"`. http and https only (checked by `opik_client_new`).
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_url(
    o: *mut opik_options,
    url: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_url", o, err, |opts| {
        // SAFETY: `url` is NULL or a NUL-terminated string the caller keeps alive for the call
        // (C contract); `str_arg` refuses NULL and invalid UTF-8, and the setter copies it.
        opts.set_url(unsafe { str_arg(url, "url") }?)
    })
}

/// The API key (sent as-is in the `Authorization` header to the Opik backend only).
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_api_key(
    o: *mut opik_options,
    api_key: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_api_key", o, err, |opts| {
        // SAFETY: `api_key` is NULL or a NUL-terminated string the caller keeps alive for the call
        // (C contract); `str_arg` refuses NULL and invalid UTF-8, and the setter copies it.
        opts.set_api_key(unsafe { str_arg(api_key, "api_key") }?)
    })
}

/// The workspace name (default `"default"`).
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_workspace(
    o: *mut opik_options,
    workspace: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_workspace", o, err, |opts| {
        // SAFETY: `workspace` is NULL or a NUL-terminated string the caller keeps alive for the
        // call (C contract); `str_arg` refuses NULL and invalid UTF-8, and the setter copies it.
        opts.set_workspace(unsafe { str_arg(workspace, "workspace") }?)
    })
}

/// The project used when an operation's `project_name` is NULL (default `"Default Project"`).
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_project_name(
    o: *mut opik_options,
    project_name: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_project_name", o, err, |opts| {
        // SAFETY: `project_name` is NULL or a NUL-terminated string the caller keeps alive for the
        // call (C contract); `str_arg` refuses NULL and invalid UTF-8, and the setter copies it.
        opts.set_project_name(unsafe { str_arg(project_name, "project_name") }?)
    })
}

/// Limit on silence, never on a transfer's length: connecting, and every stretch of a request in
/// which no byte moves (no piece of an upload's body taken for the socket, no byte of an answer
/// received), may last at most this long. A 200 MB video on a slow uplink succeeds as long as it
/// keeps moving; a server that stops reading or answering fails with `OPIK_ERR_TIMEOUT` (after
/// retries). Sockets are kept from queueing more than 128 KiB of unsent data (Linux), so
/// progress is seen as the link carries it; after a body was sent, the wait for the answer is
/// extended by the time its buffered tail needs at the rate the body went out. On a slow link,
/// keep the limit above the time about 0.5 MiB takes to cross it (8 s at 64 KiB/s). Default
/// 60,000 ms. 0 is invalid.
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_timeout_ms(
    o: *mut opik_options,
    timeout_ms: u64,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_timeout_ms", o, err, |opts| {
        opts.set_timeout(Duration::from_millis(timeout_ms))
    })
}

/// How many parts of one multi-part upload are sent at once (default 4, 1 to 64). Memory used by
/// an upload grows with this number, not with the file size.
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_upload_concurrency(
    o: *mut opik_options,
    parts_in_flight: u32,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_upload_concurrency", o, err, |opts| {
        opts.set_upload_concurrency(parts_in_flight)
    })
}

/// Whether TLS certificates are verified (default true; `OPIK_CHECK_TLS_CERTIFICATE` otherwise).
/// Turning it off makes every connection open to interception: for local testing only.
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_tls_verify(
    o: *mut opik_options,
    verify: bool,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_tls_verify", o, err, |opts| {
        opts.set_tls_verify(verify)
    })
}

/// A PEM file of extra CA certificates to trust (for self-hosted Opik with a private CA). Read by
/// `opik_client_new` (`OPIK_ERR_CONFIG` if unreadable).
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_ca_file(
    o: *mut opik_options,
    pem_path: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_ca_file", o, err, |opts| {
        // SAFETY: `pem_path` is NULL or a NUL-terminated string the caller keeps alive for the call
        // (C contract); `str_arg` refuses NULL and invalid UTF-8, and the setter copies it.
        opts.set_ca_file(unsafe { str_arg(pem_path, "pem_path") }?)
    })
}

/// Back-pressure for background uploads: at most `max_queued` uploads accepted and not yet
/// completed (default 10,000), holding at most `max_memory_bytes` of attachments made from bytes
/// or base64 (default 256 MiB; file attachments count 0). Past either, `opik_upload_async` fails
/// at once with `OPIK_ERR_TOO_LARGE`. Both must be greater than 0.
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_queue_limits(
    o: *mut opik_options,
    max_queued: u32,
    max_memory_bytes: u64,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_queue_limits", o, err, |opts| {
        opts.set_queue_limits(max_queued, max_memory_bytes)
    })
}

/// Turns on the durable outbox in directory `dir` (created if needed). One client at a time: on
/// Unix a lock refuses a second client (`OPIK_ERR_CONFIG`); elsewhere that is not checked.
/// `opik_upload_async` then records each upload there before returning — the bytes, or for a file
/// a hard link (a copy when the directory is on another file system) — and the record is removed
/// once the server confirmed the upload or refused it for good. A new client on the same directory
/// resumes what a killed process left; while the server is unreachable, uploads wait and retry.
/// Records survive a process crash, not an operating-system crash (they are not fsync'ed).
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_outbox_dir(
    o: *mut opik_options,
    dir: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_outbox_dir", o, err, |opts| {
        // SAFETY: `dir` is NULL or a NUL-terminated string the caller keeps alive for the call
        // (C contract); `str_arg` refuses NULL and invalid UTF-8, and the setter copies it.
        opts.set_outbox_dir(unsafe { str_arg(dir, "dir") }?)
    })
}

/// How long `opik_client_free` lets background uploads finish before cancelling the rest
/// (default 5,000 ms; 0 cancels at once). Cancelled uploads complete with `OPIK_ERR_SHUTDOWN`;
/// with an outbox they stay on disk for the next client.
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_shutdown_timeout_ms(
    o: *mut opik_options,
    timeout_ms: u64,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_shutdown_timeout_ms", o, err, |opts| {
        opts.set_shutdown_timeout(Duration::from_millis(timeout_ms))
    })
}

/// Whether base64 media (images, audio, video, PDFs) inside the `input`, `output` and `metadata`
/// JSON of traces and spans become attachments when the entity is sent (default: enabled), and
/// the shortest run of base64 characters that counts (`min_chars`, default 256,000, at least 4
/// when enabled). The work runs on the background sender, never on the caller's thread.
/// On failure `*err` (when `err` is not NULL) receives the reason.
#[no_mangle]
pub extern "C" fn opik_options_set_embedded_media(
    o: *mut opik_options,
    enabled: bool,
    min_chars: usize,
    err: *mut *mut opik_error,
) -> opik_status {
    set("opik_options_set_embedded_media", o, err, |opts| {
        opts.set_embedded_media(enabled, min_chars)
    })
}
