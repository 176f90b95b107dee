//! Traces and spans: start, fields, attachments, end. Nothing here does network I/O: each call
//! checks and copies its arguments into the handle, and `*_end` hands the entity to the client's
//! background sender.

use super::attachment::opik_attachment;
use super::boundary::{call, mut_arg, opt_str_arg, ref_arg, str_arg, Out};
use super::client::{client_arg, opik_client};
use super::error::opik_error;
use super::guard::{call_infallible, free_handle};
use super::status::opik_status;
use crate::error::{Error, Result};
use crate::opik::entities::SpanType;
use crate::tracing::{Span, Trace};
use std::ffi::{c_char, CString};

/// What kind of work a span is: `OPIK_SPAN_GENERAL`, `OPIK_SPAN_LLM`, `OPIK_SPAN_TOOL` or
/// `OPIK_SPAN_GUARDRAIL`. Any other value is `OPIK_ERR_INVALID_ARGUMENT`.
pub type opik_span_type = i32;
/// Any work.
pub const OPIK_SPAN_GENERAL: opik_span_type = 0;
/// A call to a language model (model, provider and usage apply).
pub const OPIK_SPAN_LLM: opik_span_type = 1;
/// A tool call.
pub const OPIK_SPAN_TOOL: opik_span_type = 2;
/// A guardrail check.
pub const OPIK_SPAN_GUARDRAIL: opik_span_type = 3;

/// A trace being recorded: made by `opik_trace_start`, ended (and freed) by `opik_trace_end`, or
/// freed unsent by `opik_trace_discard`. Used by one thread at a time; its `const` functions may be
/// called from any thread.
pub struct opik_trace {
    inner: Trace,
    id: CString,
}

/// A span being recorded: made by `opik_span_start`, ended (and freed) by `opik_span_end`, or
/// freed unsent by `opik_span_discard`. Used by one thread at a time; its `const` functions may be
/// called from any thread.
pub struct opik_span {
    inner: Span,
    id: CString,
}

fn span_type_arg(value: i32) -> Result<SpanType> {
    match value {
        OPIK_SPAN_GENERAL => Ok(SpanType::General),
        OPIK_SPAN_LLM => Ok(SpanType::Llm),
        OPIK_SPAN_TOOL => Ok(SpanType::Tool),
        OPIK_SPAN_GUARDRAIL => Ok(SpanType::Guardrail),
        v => Err(Error::invalid(format!(
            "span type {v} is not one of OPIK_SPAN_GENERAL (0), OPIK_SPAN_LLM (1), OPIK_SPAN_TOOL (2), OPIK_SPAN_GUARDRAIL (3)"
        ))),
    }
}

/// Starts a trace in `project_name` (NULL: the client's project) named `name` (may be NULL), with a
/// new UUIDv7 id and the start time now. On success `*out` receives the handle. Nothing is sent
/// until `opik_trace_end`. A closing client gives `OPIK_ERR_SHUTDOWN`, a forked child
/// `OPIK_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn opik_trace_start(
    c: *mut opik_client,
    project_name: *const c_char,
    name: *const c_char,
    out: *mut *mut opik_trace,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_trace_start", err, || {
        // SAFETY: `out` is NULL (refused) or a writable `opik_trace **`, written only on success.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: `c` is NULL (refused) or a live client; `client_arg` holds it for the call.
        let client = unsafe { client_arg(c) }?;
        // SAFETY: the strings are NULL or NUL-terminated and live for the call; checked for UTF-8.
        let (project, name) = unsafe {
            (
                opt_str_arg(project_name, "project_name")?,
                opt_str_arg(name, "name")?,
            )
        };
        let trace = client.trace(project, name)?;
        let id = CString::new(trace.id()).unwrap_or_default();
        out.set(opik_trace { inner: trace, id });
        Ok(())
    })
}

/// Starts a span with a new UUIDv7 id and the start time now: a top-level span of `t` when
/// `parent` is NULL, else a child of `parent` (then `t` may be NULL, and when given must be the
/// parent's trace). The span keeps its trace's id and project and its parent's id, so the handles
/// may end in any order. On success `*out` receives the handle.
#[no_mangle]
pub extern "C" fn opik_span_start(
    t: *const opik_trace,
    parent: *const opik_span,
    name: *const c_char,
    span_type: opik_span_type,
    out: *mut *mut opik_span,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_span_start", err, || {
        // SAFETY: `out` is NULL (refused) or a writable `opik_span **`, written only on success.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: `t` and `parent` are NULL or live handles of this library (the C contract);
        // they are only read.
        let (trace, parent) = unsafe { (t.as_ref(), parent.as_ref()) };
        // SAFETY: `name` is NULL or a NUL-terminated string that lives for the call.
        let name = unsafe { opt_str_arg(name, "name") }?;
        let kind = span_type_arg(span_type)?;
        let span = match (trace, parent) {
            (_, Some(p)) => {
                if let Some(t) = trace.filter(|t| t.inner.id() != p.inner.trace_id()) {
                    return Err(Error::invalid(format!(
                        "the parent span belongs to trace {}, not to the given trace {}",
                        p.inner.trace_id(),
                        t.inner.id()
                    )));
                }
                p.inner.child(name, kind)
            }
            (Some(t), None) => t.inner.span(name, kind),
            (None, None) => {
                return Err(Error::invalid(
                    "a span needs its trace or its parent span (both are NULL)",
                ))
            }
        };
        let id = CString::new(span.id()).unwrap_or_default();
        out.set(opik_span { inner: span, id });
        Ok(())
    })
}

/// The trace's id (UUIDv7 text), borrowed from the handle: valid until the handle is ended or
/// discarded. NULL for NULL.
#[no_mangle]
pub extern "C" fn opik_trace_id(t: *const opik_trace) -> *const c_char {
    call_infallible(std::ptr::null(), || {
        // SAFETY: `t` is NULL or a live trace handle; the id lives as long as the handle.
        unsafe { t.as_ref() }.map_or(std::ptr::null(), |t| t.id.as_ptr())
    })
}

/// The span's id (UUIDv7 text), borrowed from the handle: valid until the handle is ended or
/// discarded. NULL for NULL.
#[no_mangle]
pub extern "C" fn opik_span_id(s: *const opik_span) -> *const c_char {
    call_infallible(std::ptr::null(), || {
        // SAFETY: `s` is NULL or a live span handle; the id lives as long as the handle.
        unsafe { s.as_ref() }.map_or(std::ptr::null(), |s| s.id.as_ptr())
    })
}

/// Every field setter: the handle checked, one required string argument checked, the core applies
/// it (and checks the value).
fn set_text<H>(
    function: &'static str,
    handle: *mut H,
    arg: *const c_char,
    arg_name: &'static str,
    err: *mut *mut opik_error,
    apply: impl FnOnce(&mut H, &str) -> Result<()>,
) -> opik_status {
    call(function, err, || {
        // SAFETY: `handle` is NULL (refused) or a live handle used by this thread only (the
        // handle's threading rule); `arg` is NULL (refused) or a NUL-terminated string.
        let (h, value) = unsafe { (mut_arg(handle, "handle")?, str_arg(arg, arg_name)?) };
        apply(h, value)
    })
}

/// The trace's input, as JSON text (an object; any other JSON value is sent as `{"value": ...}`).
/// Text that is not JSON is `OPIK_ERR_INVALID_ARGUMENT`, with the line and column in the message.
/// A later call replaces the value.
#[no_mangle]
pub extern "C" fn opik_trace_set_input(
    t: *mut opik_trace,
    json: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_text("opik_trace_set_input", t, json, "json", err, |t, v| {
        t.inner.set_input(v)
    })
}

/// The trace's output, as JSON text (see `opik_trace_set_input`).
#[no_mangle]
pub extern "C" fn opik_trace_set_output(
    t: *mut opik_trace,
    json: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_text("opik_trace_set_output", t, json, "json", err, |t, v| {
        t.inner.set_output(v)
    })
}

/// The trace's metadata, as JSON text (see `opik_trace_set_input`).
#[no_mangle]
pub extern "C" fn opik_trace_set_metadata(
    t: *mut opik_trace,
    json: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_text("opik_trace_set_metadata", t, json, "json", err, |t, v| {
        t.inner.set_metadata(v)
    })
}

/// Adds a tag to the trace (tags accumulate; an empty tag is `OPIK_ERR_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn opik_trace_add_tag(
    t: *mut opik_trace,
    tag: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_text("opik_trace_add_tag", t, tag, "tag", err, |t, v| {
        t.inner.add_tag(v)
    })
}

/// The conversation (thread) the trace belongs to.
#[no_mangle]
pub extern "C" fn opik_trace_set_thread_id(
    t: *mut opik_trace,
    thread_id: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_text(
        "opik_trace_set_thread_id",
        t,
        thread_id,
        "thread_id",
        err,
        |t, v| t.inner.set_thread_id(v),
    )
}

/// Every error setter: `exception_type` required, `message` and `traceback` may be NULL.
fn set_error<H>(
    function: &'static str,
    handle: *mut H,
    exception_type: *const c_char,
    message: *const c_char,
    traceback: *const c_char,
    err: *mut *mut opik_error,
    apply: impl FnOnce(&mut H, &str, Option<&str>, &str) -> Result<()>,
) -> opik_status {
    set_text(
        function,
        handle,
        exception_type,
        "exception_type",
        err,
        |h, kind| {
            // SAFETY: `message` and `traceback` are NULL or NUL-terminated strings for the call.
            let (message, traceback) = unsafe {
                (
                    opt_str_arg(message, "message")?,
                    opt_str_arg(traceback, "traceback")?,
                )
            };
            // Opik requires a traceback that is not blank: without one, the message (or the
            // exception type) stands in.
            let traceback = traceback
                .filter(|t| !t.trim().is_empty())
                .or(message.filter(|m| !m.trim().is_empty()))
                .unwrap_or(kind);
            apply(h, kind, message, traceback)
        },
    )
}

/// Marks the trace as failed: `exception_type` (required), `message` and `traceback` (may be
/// NULL; Opik requires a traceback, so without one the message, or else the exception type, is
/// sent in its place).
#[no_mangle]
pub extern "C" fn opik_trace_set_error(
    t: *mut opik_trace,
    exception_type: *const c_char,
    message: *const c_char,
    traceback: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_error(
        "opik_trace_set_error",
        t,
        exception_type,
        message,
        traceback,
        err,
        |t, k, m, tb| t.inner.set_error(k, m, tb),
    )
}

/// Every attach: the handle and the attachment checked; the attachment is shared (it may be freed
/// right after the call) and uploaded to the entity after the entity was sent.
fn attach<H>(
    function: &'static str,
    handle: *mut H,
    a: *const opik_attachment,
    err: *mut *mut opik_error,
    apply: impl FnOnce(&mut H, &crate::media::attachment::Attachment),
) -> opik_status {
    call(function, err, || {
        // SAFETY: `handle` is NULL (refused) or a live handle used by this thread only; `a` is
        // NULL (refused) or a live attachment, only read.
        let (h, a) = unsafe { (mut_arg(handle, "handle")?, ref_arg(a, "attachment")?) };
        apply(h, &a.inner);
        Ok(())
    })
}

/// Uploads `a` to the trace after the trace was sent, through the background upload machinery
/// (same retries, limits, outbox and counters as `opik_upload_async`). `a` may be freed right
/// after the call.
#[no_mangle]
pub extern "C" fn opik_trace_attach(
    t: *mut opik_trace,
    a: *const opik_attachment,
    err: *mut *mut opik_error,
) -> opik_status {
    attach("opik_trace_attach", t, a, err, |t, a| t.inner.attach(a))
}

/// Ends the trace (end time now) and queues it for sending, then its attachments. The handle is
/// consumed (freed) whatever this returns. Over the queue limits the trace is not sent
/// (`OPIK_ERR_TOO_LARGE`, and the message says so); a closing client gives `OPIK_ERR_SHUTDOWN`.
#[no_mangle]
pub extern "C" fn opik_trace_end(t: *mut opik_trace, err: *mut *mut opik_error) -> opik_status {
    call("opik_trace_end", err, || {
        if t.is_null() {
            return Err(Error::invalid("trace must not be NULL"));
        }
        // SAFETY: a live trace handle (non-NULL checked), boxed by `Out::set`; ending consumes
        // it, so it is taken back exactly once here.
        let trace = unsafe { Box::from_raw(t) };
        trace.inner.end()
    })
}

/// Frees a trace that was never ended: nothing of it is sent. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_trace_discard(t: *mut opik_trace) {
    // SAFETY: NULL or a live trace handle, freed once.
    call_infallible((), || unsafe { free_handle(t) })
}

/// The span's input, as JSON text (see `opik_trace_set_input`).
#[no_mangle]
pub extern "C" fn opik_span_set_input(
    s: *mut opik_span,
    json: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_text("opik_span_set_input", s, json, "json", err, |s, v| {
        s.inner.set_input(v)
    })
}

/// The span's output, as JSON text (see `opik_trace_set_input`).
#[no_mangle]
pub extern "C" fn opik_span_set_output(
    s: *mut opik_span,
    json: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_text("opik_span_set_output", s, json, "json", err, |s, v| {
        s.inner.set_output(v)
    })
}

/// The span's metadata, as JSON text (see `opik_trace_set_input`).
#[no_mangle]
pub extern "C" fn opik_span_set_metadata(
    s: *mut opik_span,
    json: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_text("opik_span_set_metadata", s, json, "json", err, |s, v| {
        s.inner.set_metadata(v)
    })
}

/// Adds a tag to the span (tags accumulate; an empty tag is `OPIK_ERR_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn opik_span_add_tag(
    s: *mut opik_span,
    tag: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_text("opik_span_add_tag", s, tag, "tag", err, |s, v| {
        s.inner.add_tag(v)
    })
}

/// Marks the span as failed (see `opik_trace_set_error`).
#[no_mangle]
pub extern "C" fn opik_span_set_error(
    s: *mut opik_span,
    exception_type: *const c_char,
    message: *const c_char,
    traceback: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    set_error(
        "opik_span_set_error",
        s,
        exception_type,
        message,
        traceback,
        err,
        |s, k, m, tb| s.inner.set_error(k, m, tb),
    )
}

/// The model and its provider (each may be NULL: left out).
#[no_mangle]
pub extern "C" fn opik_span_set_model(
    s: *mut opik_span,
    model: *const c_char,
    provider: *const c_char,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_span_set_model", err, || {
        // SAFETY: `s` is NULL (refused) or a live span used by this thread only; the strings
        // are NULL or NUL-terminated for the call.
        let (s, model, provider) = unsafe {
            (
                mut_arg(s, "span")?,
                opt_str_arg(model, "model")?,
                opt_str_arg(provider, "provider")?,
            )
        };
        s.inner.set_model(model, provider)
    })
}

/// Token usage of an LLM span; -1 leaves a count out, other negative counts are
/// `OPIK_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn opik_span_set_usage(
    s: *mut opik_span,
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    err: *mut *mut opik_error,
) -> opik_status {
    call("opik_span_set_usage", err, || {
        // SAFETY: `s` is NULL (refused) or a live span used by this thread only.
        let s = unsafe { mut_arg(s, "span") }?;
        let count = |v: i64| (v != -1).then_some(v);
        s.inner.set_usage(
            count(prompt_tokens),
            count(completion_tokens),
            count(total_tokens),
        )
    })
}

/// Uploads `a` to the span after the span was sent (see `opik_trace_attach`).
#[no_mangle]
pub extern "C" fn opik_span_attach(
    s: *mut opik_span,
    a: *const opik_attachment,
    err: *mut *mut opik_error,
) -> opik_status {
    attach("opik_span_attach", s, a, err, |s, a| s.inner.attach(a))
}

/// Ends the span (end time now) and queues it for sending, then its attachments. The handle is
/// consumed (freed) whatever this returns (see `opik_trace_end`).
#[no_mangle]
pub extern "C" fn opik_span_end(s: *mut opik_span, err: *mut *mut opik_error) -> opik_status {
    call("opik_span_end", err, || {
        if s.is_null() {
            return Err(Error::invalid("span must not be NULL"));
        }
        // SAFETY: a live span handle (non-NULL checked), boxed by `Out::set`; ending consumes it,
        // so it is taken back exactly once here.
        let span = unsafe { Box::from_raw(s) };
        span.inner.end()
    })
}

/// Frees a span that was never ended: nothing of it is sent. NULL is a no-op.
#[no_mangle]
pub extern "C" fn opik_span_discard(s: *mut opik_span) {
    // SAFETY: NULL or a live span handle, freed once.
    call_infallible((), || unsafe { free_handle(s) })
}
