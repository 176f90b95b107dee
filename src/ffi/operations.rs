//! Blocking operations: upload, list, download, delete. Each runs on the calling thread's behalf
//! and returns when done.

use super::attachment::opik_attachment;
use super::boundary::{call, opt_str_arg, ref_arg, str_arg, Out};
use super::client::client_arg;
use super::entity::{entity_type_arg, opik_entity_type};
use super::client::opik_client;
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
        let (client, attachment) = unsafe { (client_arg(c)?, ref_arg(a, "attachment")?) };
        let (project, id) = unsafe {
            (
                opt_str_arg(project_name, "project_name")?,
                str_arg(entity_id, "entity_id")?,
            )
        };
        client.upload(project, entity_type_arg(entity_type)?, id, &attachment.inner)
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
        let out = unsafe { Out::new(out, "out") }?;
        let client = unsafe { client_arg(c) }?;
        let (project, id) = unsafe {
            (
                opt_str_arg(project_name, "project_name")?,
                str_arg(entity_id, "entity_id")?,
            )
        };
        out.set(client.list(project, entity_type_arg(entity_type)?, id)?.into());
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
        let client = unsafe { client_arg(c) }?;
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
            .download(project, entity_type_arg(entity_type)?, id, name, mime, |chunk| {
                // SAFETY: the caller's callback, with its own user_data and a chunk borrowed for the call.
                let rc = unsafe { on_data(user_data, chunk.as_ptr(), chunk.len()) };
                if rc == 0 {
                    Ok(())
                } else {
                    Err(Error::new(
                        Status::AbortedByCallback,
                        format!("on_data returned {rc}; download stopped"),
                    ))
                }
            })
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
        let client = unsafe { client_arg(c) }?;
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
        let client = unsafe { client_arg(c) }?;
        let (project, id) = unsafe {
            (
                opt_str_arg(project_name, "project_name")?,
                str_arg(entity_id, "entity_id")?,
            )
        };
        let entity_type = entity_type_arg(entity_type)?;
        let ptrs: &[*const c_char] =
            unsafe { super::boundary::array_arg(file_names, count, "file_names") }?;
        let names = ptrs
            .iter()
            .enumerate()
            .map(|(i, p)| unsafe { str_arg(*p, &format!("file_names[{i}]")) })
            .collect::<crate::Result<Vec<&str>>>()?;
        client.delete(project, entity_type, id, &names)
    })
}
