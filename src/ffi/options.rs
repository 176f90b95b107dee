//! `opik_options`: what the caller sets explicitly before creating a client.

use super::boundary::{call_status, mut_arg, str_arg};
use super::status::opik_status;
use crate::config::{Options, MAX_UPLOAD_CONCURRENCY};
use crate::error::Error;
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
    super::boundary::call_infallible(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(opik_options {
            inner: Options::default(),
        }))
    })
}

/// Frees options. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_options_free(o: *mut opik_options) {
    super::boundary::call_infallible((), || unsafe { super::boundary::free_handle(o) })
}

fn set(
    function: &'static str,
    o: *mut opik_options,
    apply: impl FnOnce(&mut Options) -> crate::Result<()>,
) -> opik_status {
    call_status(function, || {
        apply(&mut unsafe { mut_arg(o, "options") }?.inner)
    })
}

/// The Opik API base URL, e.g. `"https://www.comet.com/opik/api/"` or
/// `"http://localhost:5173/api/"`. http and https only (checked by `opik_client_new`).
#[no_mangle]
pub extern "C" fn opik_options_set_url(o: *mut opik_options, url: *const c_char) -> opik_status {
    set("opik_options_set_url", o, |opts| {
        opts.url = Some(unsafe { str_arg(url, "url") }?.to_owned());
        Ok(())
    })
}

/// The API key (sent as-is in the `Authorization` header to the Opik backend only).
#[no_mangle]
pub extern "C" fn opik_options_set_api_key(
    o: *mut opik_options,
    api_key: *const c_char,
) -> opik_status {
    set("opik_options_set_api_key", o, |opts| {
        opts.api_key = Some(unsafe { str_arg(api_key, "api_key") }?.to_owned());
        Ok(())
    })
}

/// The workspace name (default `"default"`).
#[no_mangle]
pub extern "C" fn opik_options_set_workspace(
    o: *mut opik_options,
    workspace: *const c_char,
) -> opik_status {
    set("opik_options_set_workspace", o, |opts| {
        opts.workspace = Some(non_empty(
            unsafe { str_arg(workspace, "workspace") }?,
            "workspace",
        )?);
        Ok(())
    })
}

/// The project used when an operation's `project_name` is NULL (default `"Default Project"`).
#[no_mangle]
pub extern "C" fn opik_options_set_project_name(
    o: *mut opik_options,
    project_name: *const c_char,
) -> opik_status {
    set("opik_options_set_project_name", o, |opts| {
        opts.project_name = Some(non_empty(
            unsafe { str_arg(project_name, "project_name") }?,
            "project_name",
        )?);
        Ok(())
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
#[no_mangle]
pub extern "C" fn opik_options_set_timeout_ms(
    o: *mut opik_options,
    timeout_ms: u64,
) -> opik_status {
    set("opik_options_set_timeout_ms", o, |opts| {
        if timeout_ms == 0 {
            return Err(Error::invalid("timeout_ms must be greater than 0"));
        }
        opts.timeout = Some(Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// How many parts of one multi-part upload are sent at once (default 4, 1 to 64). Memory used by
/// an upload grows with this number, not with the file size.
#[no_mangle]
pub extern "C" fn opik_options_set_upload_concurrency(
    o: *mut opik_options,
    parts_in_flight: u32,
) -> opik_status {
    set("opik_options_set_upload_concurrency", o, |opts| {
        if parts_in_flight == 0 || parts_in_flight > MAX_UPLOAD_CONCURRENCY {
            return Err(Error::invalid(format!(
                "parts_in_flight must be between 1 and {MAX_UPLOAD_CONCURRENCY}"
            )));
        }
        opts.upload_concurrency = Some(parts_in_flight);
        Ok(())
    })
}

/// Whether TLS certificates are verified (default true; `OPIK_CHECK_TLS_CERTIFICATE` otherwise).
/// Turning it off makes every connection open to interception: for local testing only.
#[no_mangle]
pub extern "C" fn opik_options_set_tls_verify(o: *mut opik_options, verify: bool) -> opik_status {
    set("opik_options_set_tls_verify", o, |opts| {
        opts.tls_verify = Some(verify);
        Ok(())
    })
}

/// A PEM file of extra CA certificates to trust (for self-hosted Opik with a private CA). Read by
/// `opik_client_new` (`OPIK_ERR_CONFIG` if unreadable).
#[no_mangle]
pub extern "C" fn opik_options_set_ca_file(
    o: *mut opik_options,
    pem_path: *const c_char,
) -> opik_status {
    set("opik_options_set_ca_file", o, |opts| {
        opts.ca_file = Some(unsafe { str_arg(pem_path, "pem_path") }?.into());
        Ok(())
    })
}

fn non_empty(v: &str, name: &str) -> crate::Result<String> {
    if v.trim().is_empty() {
        return Err(Error::invalid(format!("{name} must not be empty")));
    }
    Ok(v.to_owned())
}

/// Back-pressure for background uploads: at most `max_queued` uploads accepted and not yet
/// completed (default 10,000), holding at most `max_memory_bytes` of attachments made from bytes
/// or base64 (default 256 MiB; file attachments count 0). Past either, `opik_upload_async` fails
/// at once with `OPIK_ERR_TOO_LARGE`. Both must be greater than 0.
#[no_mangle]
pub extern "C" fn opik_options_set_queue_limits(
    o: *mut opik_options,
    max_queued: u32,
    max_memory_bytes: u64,
) -> opik_status {
    set("opik_options_set_queue_limits", o, |opts| {
        if max_queued == 0 || max_memory_bytes == 0 {
            return Err(Error::invalid(
                "max_queued and max_memory_bytes must be greater than 0",
            ));
        }
        opts.queue_limits = Some((max_queued as usize, max_memory_bytes));
        Ok(())
    })
}

/// Turns on the durable outbox in directory `dir` (created if needed; one client at a time).
/// `opik_upload_async` then records each upload there before returning — the bytes, or for a file
/// a hard link (a copy when the directory is on another file system) — and the record is removed
/// once the server confirmed the upload or refused it for good. A new client on the same directory
/// resumes what a killed process left; while the server is unreachable, uploads wait and retry.
/// Records survive a process crash, not an operating-system crash (they are not fsync'ed).
#[no_mangle]
pub extern "C" fn opik_options_set_outbox_dir(
    o: *mut opik_options,
    dir: *const c_char,
) -> opik_status {
    set("opik_options_set_outbox_dir", o, |opts| {
        opts.outbox_dir = Some(unsafe { str_arg(dir, "dir") }?.into());
        Ok(())
    })
}

/// How long `opik_client_free` lets background uploads finish before cancelling the rest
/// (default 5,000 ms; 0 cancels at once). Cancelled uploads complete with `OPIK_ERR_SHUTDOWN`;
/// with an outbox they stay on disk for the next client.
#[no_mangle]
pub extern "C" fn opik_options_set_shutdown_timeout_ms(
    o: *mut opik_options,
    timeout_ms: u64,
) -> opik_status {
    set("opik_options_set_shutdown_timeout_ms", o, |opts| {
        opts.shutdown_timeout = Some(Duration::from_millis(timeout_ms));
        Ok(())
    })
}
