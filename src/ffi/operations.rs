//! Blocking operations: upload, list, download, delete. Each runs on the calling thread's behalf
//! and returns when done.

use super::attachment::opik_attachment;
use super::boundary::{call, opt_str_arg, ref_arg, str_arg, Out};
use super::client::client_arg;
use super::client::opik_client;
use super::entity::{entity_type_arg, opik_entity_type};
use super::error::opik_error;
use super::list::opik_attachment_list;
use super::status::opik_status;
use crate::error::{Error, Status};
use std::ffi::{c_char, c_void};

/// Receives downloaded bytes: `chunk` holds `len` bytes (chunks of unspecified size), borrowed for
/// the duration of the call. Runs on the thread that called the download. Return 0 to go on;
/// anything else stops the download with `OPIK_ERR_ABORTED_BY_CALLBACK`. It must not block for
/// long (the connection waits meanwhile). The library's blocking functions called from it return
/// `OPIK_ERR_INVALID_ARGUMENT`; `opik_upload_async` and the other non-blocking ones work.
pub type opik_write_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, chunk: *const u8, len: usize) -> i32>;

/// Uploads `a` to the trace or span `entity_id` (a UUID) in `project_name` (NULL: the client's
/// project; the project is created if needed). Blocks until the server has the whole attachment.
/// The flow follows the server: one streamed PUT to the backend, or parts in parallel to presigned
/// storage URLs. Transient failures are retried; an expired part URL restarts the upload.
#[no_mangle]
pub extern "C" fn opik_upload(
    c: *mut opik_client,
    project_name: *const c_char,
    entity_type: opik_entity_type,
    entity_id: *const c_char,
    a: *const opik_attachment,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_upload", err, || {
        // SAFETY: `a` is NULL or a live attachment the caller frees only after the uploads using
        // it returned, and `c` NULL or a live client handle (C contract); the helpers refuse NULL,
        // and `client_arg` clones the client's `Arc`, so a handle freed meanwhile does not matter.
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
        client.upload(
            project,
            entity_type_arg(entity_type)?,
            id,
            &attachment.inner,
        )
    })
}

/// Lists every attachment of the trace or span (all pages). On success `*out` receives a list to
/// free with `opik_attachment_list_free`. Unknown project: `OPIK_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn opik_list(
    c: *mut opik_client,
    project_name: *const c_char,
    entity_type: opik_entity_type,
    entity_id: *const c_char,
    out: *mut *mut opik_attachment_list,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_list", err, || {
        // SAFETY: `out` is NULL or points to a writable `opik_attachment_list *` (C contract);
        // `Out::new` refuses NULL, and `set` writes it only on success.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: `c` is NULL or a live client handle (C contract); `client_arg` refuses NULL and
        // clones the client's `Arc`, which keeps it alive even if the handle is freed meanwhile.
        let client = unsafe { client_arg(c) }?;
        // SAFETY: `project_name` and `entity_id` are NULL or NUL-terminated strings the caller
        // keeps alive for the call (C contract); the helpers refuse a NULL `entity_id` and invalid
        // UTF-8.
        let (project, id) = unsafe {
            (
                opt_str_arg(project_name, "project_name")?,
                str_arg(entity_id, "entity_id")?,
            )
        };
        out.set(
            client
                .list(project, entity_type_arg(entity_type)?, id)?
                .into(),
        );
        Ok(())
    })
}

/// Streams the attachment named `file_name` (and of MIME type `mime_type`, unless NULL) to
/// `on_data`, on the calling thread. `on_data` returning non-zero stops the download with
/// `OPIK_ERR_ABORTED_BY_CALLBACK`. Unknown attachment: `OPIK_ERR_NOT_FOUND`. A failure after some
/// bytes were delivered is reported, never retried, so `on_data` never sees a byte twice.
/// The HTTP work of this and the other blocking functions runs on the calling thread itself, so
/// chunks go from the socket to `on_data` without a hand-over between threads.
#[no_mangle]
pub extern "C" fn opik_download(
    c: *mut opik_client,
    project_name: *const c_char,
    entity_type: opik_entity_type,
    entity_id: *const c_char,
    file_name: *const c_char,
    mime_type: *const c_char,
    on_data: opik_write_fn,
    user_data: *mut c_void,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_download", err, || {
        // SAFETY: `c` is NULL or a live client handle (C contract); `client_arg` refuses NULL and
        // clones the client's `Arc`, which keeps it alive even if the handle is freed meanwhile.
        let client = unsafe { client_arg(c) }?;
        // SAFETY: each string is NULL or NUL-terminated and kept alive by the caller for the call
        // (C contract); the helpers refuse a NULL where one is required and invalid UTF-8.
        let (project, id, name, mime) = unsafe {
            (
                opt_str_arg(project_name, "project_name")?,
                str_arg(entity_id, "entity_id")?,
                str_arg(file_name, "file_name")?,
                opt_str_arg(mime_type, "mime_type")?,
            )
        };
        let on_data = on_data.ok_or_else(|| Error::invalid("on_data must not be NULL"))?;
        client
            .download(
                project,
                entity_type_arg(entity_type)?,
                id,
                name,
                mime,
                |chunk| {
                    // SAFETY: `on_data` is the caller's non-NULL callback, called on this thread
                    // with the `user_data` it was given (C contract); `chunk` is a live slice, so
                    // its pointer is valid for `chunk.len()` bytes while the callback borrows it.
                    let rc = unsafe { on_data(user_data, chunk.as_ptr(), chunk.len()) };
                    if rc == 0 {
                        Ok(())
                    } else {
                        Err(Error::new(
                            Status::AbortedByCallback,
                            format!("on_data returned {rc}; download stopped"),
                        ))
                    }
                },
            )
            .map(drop)
    })
}

/// Downloads the attachment into `dest_path`: the bytes go to a temporary file in the same
/// directory, renamed into place only when the whole body arrived, so an interrupted download never
/// leaves a partial file at `dest_path` (an existing file there is replaced only on success).
#[no_mangle]
pub extern "C" fn opik_download_to_file(
    c: *mut opik_client,
    project_name: *const c_char,
    entity_type: opik_entity_type,
    entity_id: *const c_char,
    file_name: *const c_char,
    mime_type: *const c_char,
    dest_path: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_download_to_file", err, || {
        // SAFETY: `c` is NULL or a live client handle (C contract); `client_arg` refuses NULL and
        // clones the client's `Arc`, which keeps it alive even if the handle is freed meanwhile.
        let client = unsafe { client_arg(c) }?;
        // SAFETY: each string is NULL or NUL-terminated and kept alive by the caller for the call
        // (C contract); the helpers refuse a NULL where one is required and invalid UTF-8.
        let (project, id, name, mime, dest) = unsafe {
            (
                opt_str_arg(project_name, "project_name")?,
                str_arg(entity_id, "entity_id")?,
                str_arg(file_name, "file_name")?,
                opt_str_arg(mime_type, "mime_type")?,
                str_arg(dest_path, "dest_path")?,
            )
        };
        client
            .download_to_file(
                project,
                entity_type_arg(entity_type)?,
                id,
                name,
                mime,
                dest.as_ref(),
            )
            .map(drop)
    })
}

/// Deletes the `count` attachments named in `file_names` (an array of `count` strings; may be NULL
/// when `count` is 0). Names that do not exist are not an error.
#[no_mangle]
pub extern "C" fn opik_delete(
    c: *mut opik_client,
    project_name: *const c_char,
    entity_type: opik_entity_type,
    entity_id: *const c_char,
    file_names: *const *const c_char,
    count: usize,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_delete", err, || {
        // SAFETY: `c` is NULL or a live client handle (C contract); `client_arg` refuses NULL and
        // clones the client's `Arc`, which keeps it alive even if the handle is freed meanwhile.
        let client = unsafe { client_arg(c) }?;
        // SAFETY: `project_name` and `entity_id` are NULL or NUL-terminated strings the caller
        // keeps alive for the call (C contract); the helpers refuse a NULL `entity_id` and invalid
        // UTF-8.
        let (project, id) = unsafe {
            (
                opt_str_arg(project_name, "project_name")?,
                str_arg(entity_id, "entity_id")?,
            )
        };
        let entity_type = entity_type_arg(entity_type)?;
        // SAFETY: `file_names` is NULL or points to `count` readable `const char *` the caller
        // keeps alive for the call (C contract); `array_arg` refuses NULL with a non-zero `count`
        // and a `count` too large for a slice.
        let ptrs: &[*const c_char] =
            unsafe { super::boundary::array_arg(file_names, count, "file_names") }?;
        let names = ptrs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // SAFETY: each element is NULL or a NUL-terminated string alive for the call
                // (C contract); `str_arg` refuses NULL and invalid UTF-8.
                unsafe { str_arg(*p, &format!("file_names[{i}]")) }
            })
            .collect::<crate::Result<Vec<&str>>>()?;
        client.delete(project, entity_type, id, &names)
    })
}
