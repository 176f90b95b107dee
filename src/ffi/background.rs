//! Background operations: `opik_upload_async`, operation handles, flush.

use super::attachment::opik_attachment;
use super::boundary::{call, call_status, opt_str_arg, ref_arg, str_arg, Out};
use super::client::client_arg;
use super::client::opik_client;
use super::entity::{entity_type_arg, opik_entity_type};
use super::error::opik_error;
use super::guard::{call_infallible, free_handle};
use super::status::{opik_status, OPIK_ERR_INVALID_ARGUMENT, OPIK_ERR_TIMEOUT, OPIK_OK};
use crate::error::{Error, Status};
use crate::exec::queue::{Completion, Operation};
use std::ffi::{c_char, c_void};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A background upload. Made by `opik_upload_async`; free with `opik_op_free` (before the upload
/// finished, that detaches: the upload goes on and `on_done` still runs). `const` functions on it
/// may be called from any thread.
pub struct opik_op {
    inner: Arc<Operation>,
}

/// Called exactly once per accepted operation, on the library's callback thread (one per client;
/// completions run one after another there), with the final status and, on failure, an error
/// borrowed for the duration of the call (NULL on success; do not free it). It may call any
/// library function: `opik_op_wait` on its own operation returns `OPIK_ERR_INVALID_ARGUMENT`, and
/// `opik_client_free` returns at once and finishes closing on another thread.
pub type opik_done_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, status: opik_status, err: *const opik_error),
>;

/// Releases `user_data`: called exactly once per accepted operation, after `on_done`, on the same
/// thread.
pub type opik_free_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// The caller's callbacks, carried to the callback thread.
struct UserCallbacks {
    on_done: opik_done_fn,
    user_data: *mut c_void,
    user_data_free: opik_free_fn,
}

// SAFETY: the contract hands user_data to the library's callback thread; the caller vouches that
// it may be used there.
unsafe impl Send for UserCallbacks {}

impl UserCallbacks {
    fn into_completion(self) -> Completion {
        Box::new(move |result: &crate::Result<()>| {
            let this = self;
            if let Some(on_done) = this.on_done {
                match result {
                    // SAFETY: `on_done` is the caller's callback, called once (this completion is
                    // a `FnOnce`) with the `user_data` it was given and, on success, a NULL error
                    // (C contract); the caller vouched that it may run on this thread (`Send`).
                    Ok(()) => unsafe { on_done(this.user_data, OPIK_OK, std::ptr::null()) },
                    Err(e) => {
                        let err = opik_error::from(e.clone());
                        // SAFETY: as above; `err` is a live `opik_error` on this frame that
                        // outlives the call, and the callback only borrows it (it must not free
                        // it).
                        unsafe { on_done(this.user_data, e.status as opik_status, &err) };
                    }
                }
            }
            if let Some(free) = this.user_data_free {
                // SAFETY: `user_data_free` is the caller's function for `user_data`, called exactly
                // once, after `on_done` returned; nothing here uses `user_data` afterwards.
                unsafe { free(this.user_data) };
            }
        })
    }
}

/// Queues an upload of `a` and returns at once: on the calling thread it only validates the
/// arguments, checks the queue limits and starts the work (with an outbox, it also writes the
/// durable record); no network I/O, no file reads. `a` may be freed right after.
///
/// On success `on_done` (may be NULL) runs exactly once on the callback thread — on success,
/// failure, `opik_op_cancel` and client shutdown — and then `user_data_free` (may be NULL).
/// `out_op` (may be NULL) receives a handle to wait on, query or cancel. On failure neither
/// callback runs and `user_data` stays yours. A full queue gives `OPIK_ERR_TOO_LARGE`, a closing
/// client `OPIK_ERR_SHUTDOWN`, a forked child `OPIK_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn opik_upload_async(
    c: *mut opik_client,
    project_name: *const c_char,
    entity_type: opik_entity_type,
    entity_id: *const c_char,
    a: *const opik_attachment,
    on_done: opik_done_fn,
    user_data: *mut c_void,
    user_data_free: opik_free_fn,
    out_op: *mut *mut opik_op,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_upload_async", err, || {
        let out = if out_op.is_null() {
            None
        } else {
            // SAFETY: `out_op` is non-NULL here and points to a writable `opik_op *` (C contract);
            // `set` writes it only on success.
            Some(unsafe { Out::new(out_op, "out_op") }?)
        };
        // SAFETY: `c` is NULL or a live client handle and `a` NULL or a live attachment, both only
        // read during this call (C contract; `a` may be freed once it returns, as `upload_async`
        // clones what it keeps); the helpers refuse NULL, and `client_arg` clones the `Arc`.
        let (client, attachment) = unsafe { (client_arg(c)?, ref_arg(a, "attachment")?) };
        // SAFETY: `project_name` and `entity_id` are NULL or NUL-terminated strings the caller
        // keeps alive for the call (C contract); the helpers refuse a NULL `entity_id` and invalid
        // UTF-8.
        let (project, id) = unsafe {
            (
                opt_str_arg(project_name, "project_name")?,
                str_arg(entity_id, "entity_id")?,
            )
        };
        let completion = UserCallbacks {
            on_done,
            user_data,
            user_data_free,
        }
        .into_completion();
        let op = client.upload_async(
            project,
            entity_type_arg(entity_type)?,
            id,
            &attachment.inner,
            Some(completion),
        )?;
        if let Some(out) = out {
            out.set(opik_op { inner: op });
        }
        Ok(())
    })
}

/// Waits up to `timeout_ms` (`UINT64_MAX`: no limit) until the operation finished and its
/// `on_done` returned. `OPIK_OK` when finished (its result: `opik_op_status`), `OPIK_ERR_TIMEOUT`
/// when not yet. From inside an `on_done` it waits only for the operation's result (other
/// completions cannot run meanwhile), and on the operation whose `on_done` is running it returns
/// `OPIK_ERR_INVALID_ARGUMENT`. NULL: `OPIK_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn opik_op_wait(op: *mut opik_op, timeout_ms: u64) -> opik_status {
    call_status("opik_op_wait", || {
        // SAFETY: `op` is NULL or a live operation handle not freed during the call (C contract);
        // `ref_arg` refuses NULL, and only a shared reference is made (`Operation` is thread-safe).
        let op = unsafe { ref_arg(op, "op") }?;
        match op.inner.wait(Duration::from_millis(timeout_ms))? {
            true => Ok(()),
            false => Err(Error::new(Status::Timeout, "still running")),
        }
    })
}

/// The operation's result: `OPIK_OK` or its error status once finished, `OPIK_ERR_TIMEOUT` while
/// it runs, `OPIK_ERR_INVALID_ARGUMENT` for NULL. Never blocks.
#[no_mangle]
pub extern "C" fn opik_op_status(op: *const opik_op) -> opik_status {
    // SAFETY: `op` is NULL or a live operation handle (C contract); only read through a shared
    // reference, as other `const` calls may run at the same time.
    call_infallible(OPIK_ERR_INVALID_ARGUMENT, || match unsafe { op.as_ref() } {
        None => OPIK_ERR_INVALID_ARGUMENT,
        Some(op) => match op.inner.result() {
            None => OPIK_ERR_TIMEOUT,
            Some(Ok(())) => OPIK_OK,
            Some(Err(e)) => e.status as opik_status,
        },
    })
}

/// Bytes of the operation handed to the network so far and its total size. A retried part counts
/// again from its start, so `bytes_sent` may go down. Both out-parameters are required.
#[no_mangle]
pub extern "C" fn opik_op_progress(
    op: *const opik_op,
    bytes_sent: *mut u64,
    bytes_total: *mut u64,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_op_progress", err, || {
        // SAFETY: `op` is NULL or a live operation handle not freed during the call (C contract);
        // `ref_arg` refuses NULL, and only a shared reference is made (`Operation` is thread-safe).
        let op = unsafe { ref_arg(op, "op") }?;
        if bytes_sent.is_null() || bytes_total.is_null() {
            return Err(Error::invalid(
                "bytes_sent and bytes_total must not be NULL",
            ));
        }
        let total = op.inner.progress.total.load(Ordering::Relaxed);
        let sent = op.inner.progress.sent.load(Ordering::Relaxed).min(total);
        // SAFETY: both checked non-NULL above, and each points to a writable `uint64_t`
        // (C contract); written only on success.
        unsafe {
            *bytes_sent = sent;
            *bytes_total = total;
        }
        Ok(())
    })
}

/// Asks the operation to stop. Idempotent and thread-safe (also from inside `on_done`). A running
/// operation completes with `OPIK_ERR_CANCELLED`; a finished one is unaffected. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_op_cancel(op: *const opik_op) {
    call_infallible((), || {
        // SAFETY: as in `opik_op_status`; `cancel` needs only a shared reference.
        if let Some(op) = unsafe { op.as_ref() } {
            op.inner.cancel();
        }
    })
}

/// Frees the handle. Before completion this detaches: the upload goes on and `on_done` still
/// runs. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_op_free(op: *mut opik_op) {
    // SAFETY: `op` is NULL or a handle boxed by `Out::set`, freed once and not used afterwards
    // (C contract). The upload holds its own `Arc<Operation>`, so it goes on after the handle is
    // dropped.
    call_infallible((), || unsafe { free_handle(op) })
}

/// Blocks until every background upload accepted so far has finished and its `on_done` returned,
/// or `timeout_ms` passed: then `OPIK_ERR_TIMEOUT`, with the number still pending in the message.
/// From inside an `on_done` it waits only for the uploads themselves.
#[no_mangle]
pub extern "C" fn opik_client_flush(
    c: *mut opik_client,
    timeout_ms: u64,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_client_flush", err, || {
        // SAFETY: `c` is NULL or a live client handle (C contract); `client_arg` refuses NULL and
        // clones the client's `Arc`.
        unsafe { client_arg(c) }?.flush(Duration::from_millis(timeout_ms))
    })
}

/// Background uploads accepted and not yet completed (their `on_done` not yet returned). 0 for NULL.
#[no_mangle]
pub extern "C" fn opik_client_pending(c: *const opik_client) -> usize {
    // SAFETY: `c` is NULL or a live client handle (C contract); the client is thread-safe and only
    // read here.
    call_infallible(0, || unsafe { c.as_ref() }.map_or(0, |c| c.inner.pending()))
}
