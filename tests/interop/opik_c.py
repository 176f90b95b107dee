"""A small ctypes wrapper over the C ABI of libopik_attachments (include/opik_attachments.h).

Every declaration below mirrors the header exactly (argument and result types). Every fallible
call is checked: a status other than OPIK_OK raises `OpikError` carrying the status, its name,
the message and the HTTP status, after the `opik_error` was freed. Every handle the library
hands out is freed (context managers, or `close()`), so the suite also exercises the ownership
rules of the ABI.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_bool,
    c_char_p,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from dataclasses import dataclass
import json
import threading
from typing import Any, Callable, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_LIBRARY = os.path.join(REPO, "target", "debug", "libopik_attachments.so")

# Status codes (header #defines).
OPIK_OK = 0
OPIK_ERR_INVALID_ARGUMENT = 1
OPIK_ERR_IO = 2
OPIK_ERR_NOT_FOUND = 3
OPIK_ERR_AUTH = 4
OPIK_ERR_HTTP = 5
OPIK_ERR_NETWORK = 6
OPIK_ERR_TIMEOUT = 7
OPIK_ERR_CANCELLED = 8
OPIK_ERR_ABORTED_BY_CALLBACK = 9
OPIK_ERR_PROTOCOL = 10
OPIK_ERR_TOO_LARGE = 11
OPIK_ERR_CONFIG = 12
OPIK_ERR_SHUTDOWN = 13
OPIK_ERR_FORKED = 14
OPIK_ERR_INTERNAL = 15

OPIK_ENTITY_TRACE = 0
OPIK_ENTITY_SPAN = 1
ENTITY_TYPES = {"trace": OPIK_ENTITY_TRACE, "span": OPIK_ENTITY_SPAN}


# Opaque handles: distinct pointer types so ctypes refuses to mix them up.
class _Opaque(ctypes.Structure):
    pass


class opik_attachment(_Opaque):
    pass


class opik_attachment_list(_Opaque):
    pass


class opik_client(_Opaque):
    pass


class opik_error(_Opaque):
    pass


class opik_options(_Opaque):
    pass


class opik_trace(_Opaque):
    pass


class opik_span(_Opaque):
    pass


opik_status = c_int32
opik_entity_type = c_int32
# typedef int32_t (*opik_write_fn)(void *user_data, const uint8_t *chunk, size_t len);
opik_write_fn = CFUNCTYPE(c_int32, c_void_p, POINTER(c_uint8), c_size_t)
opik_span_type = c_int32
opik_log_level = c_int32
opik_counter = c_int32
# typedef void (*opik_log_fn)(void *user_data, opik_log_level level, const char *message);
opik_log_fn = CFUNCTYPE(None, c_void_p, opik_log_level, c_char_p)

OPIK_SPAN_GENERAL = 0
OPIK_SPAN_LLM = 1
OPIK_SPAN_TOOL = 2
OPIK_SPAN_GUARDRAIL = 3
SPAN_TYPES = {"general": OPIK_SPAN_GENERAL, "llm": OPIK_SPAN_LLM, "tool": OPIK_SPAN_TOOL, "guardrail": OPIK_SPAN_GUARDRAIL}

OPIK_LOG_ERROR = 0
OPIK_LOG_WARN = 1
OPIK_LOG_INFO = 2
OPIK_LOG_DEBUG = 3

OPIK_COUNTER_ENTITIES_SENT = 0
OPIK_COUNTER_ENTITIES_FAILED = 1
OPIK_COUNTER_ATTACHMENTS_SENT = 2
OPIK_COUNTER_ATTACHMENTS_FAILED = 3
OPIK_COUNTER_BYTES_SENT = 4
OPIK_COUNTER_RETRIES = 5
COUNTERS = {
    "entities_sent": OPIK_COUNTER_ENTITIES_SENT,
    "entities_failed": OPIK_COUNTER_ENTITIES_FAILED,
    "attachments_sent": OPIK_COUNTER_ATTACHMENTS_SENT,
    "attachments_failed": OPIK_COUNTER_ATTACHMENTS_FAILED,
    "bytes_sent": OPIK_COUNTER_BYTES_SENT,
    "retries": OPIK_COUNTER_RETRIES,
}

_P = POINTER
_ERR = _P(_P(opik_error))

# name: (restype, [argtypes]) exactly as in include/opik_attachments.h
_SIGNATURES = {
    "opik_attachment_from_file": (opik_status, [c_char_p, c_char_p, c_char_p, _P(_P(opik_attachment)), _ERR]),
    "opik_attachment_from_bytes": (
        opik_status,
        [_P(c_uint8), c_size_t, c_char_p, c_char_p, _P(_P(opik_attachment)), _ERR],
    ),
    "opik_attachment_from_base64": (opik_status, [c_char_p, c_char_p, c_char_p, _P(_P(opik_attachment)), _ERR]),
    "opik_attachment_file_name": (c_char_p, [_P(opik_attachment)]),
    "opik_attachment_content_type": (c_char_p, [_P(opik_attachment)]),
    "opik_attachment_size": (c_uint64, [_P(opik_attachment)]),
    "opik_attachment_free": (None, [_P(opik_attachment)]),
    "opik_client_new": (opik_status, [_P(opik_options), _P(_P(opik_client)), _ERR]),
    "opik_client_free": (None, [_P(opik_client)]),
    "opik_error_status": (opik_status, [_P(opik_error)]),
    "opik_error_message": (c_char_p, [_P(opik_error)]),
    "opik_error_http_status": (c_int32, [_P(opik_error)]),
    "opik_error_free": (None, [_P(opik_error)]),
    "opik_attachment_list_len": (c_size_t, [_P(opik_attachment_list)]),
    "opik_attachment_list_file_name": (c_char_p, [_P(opik_attachment_list), c_size_t]),
    "opik_attachment_list_mime_type": (c_char_p, [_P(opik_attachment_list), c_size_t]),
    "opik_attachment_list_file_size": (c_uint64, [_P(opik_attachment_list), c_size_t]),
    "opik_attachment_list_link": (c_char_p, [_P(opik_attachment_list), c_size_t]),
    "opik_attachment_list_free": (None, [_P(opik_attachment_list)]),
    "opik_upload": (
        opik_status,
        [_P(opik_client), c_char_p, opik_entity_type, c_char_p, _P(opik_attachment), _ERR],
    ),
    "opik_list": (
        opik_status,
        [_P(opik_client), c_char_p, opik_entity_type, c_char_p, _P(_P(opik_attachment_list)), _ERR],
    ),
    "opik_download": (
        opik_status,
        [_P(opik_client), c_char_p, opik_entity_type, c_char_p, c_char_p, c_char_p, opik_write_fn, c_void_p, _ERR],
    ),
    "opik_download_to_file": (
        opik_status,
        [_P(opik_client), c_char_p, opik_entity_type, c_char_p, c_char_p, c_char_p, c_char_p, _ERR],
    ),
    "opik_delete": (
        opik_status,
        [_P(opik_client), c_char_p, opik_entity_type, c_char_p, _P(c_char_p), c_size_t, _ERR],
    ),
    "opik_options_new": (_P(opik_options), []),
    "opik_options_free": (None, [_P(opik_options)]),
    # 0.2: every setter takes a last `opik_error **err`, so a refused value comes with its reason.
    "opik_options_set_url": (opik_status, [_P(opik_options), c_char_p, _ERR]),
    "opik_options_set_api_key": (opik_status, [_P(opik_options), c_char_p, _ERR]),
    "opik_options_set_workspace": (opik_status, [_P(opik_options), c_char_p, _ERR]),
    "opik_options_set_project_name": (opik_status, [_P(opik_options), c_char_p, _ERR]),
    "opik_options_set_timeout_ms": (opik_status, [_P(opik_options), c_uint64, _ERR]),
    "opik_options_set_upload_concurrency": (opik_status, [_P(opik_options), c_uint32, _ERR]),
    "opik_options_set_tls_verify": (opik_status, [_P(opik_options), c_bool, _ERR]),
    "opik_options_set_ca_file": (opik_status, [_P(opik_options), c_char_p, _ERR]),
    "opik_options_set_queue_limits": (opik_status, [_P(opik_options), c_uint32, c_uint64, _ERR]),
    "opik_options_set_outbox_dir": (opik_status, [_P(opik_options), c_char_p, _ERR]),
    "opik_options_set_shutdown_timeout_ms": (opik_status, [_P(opik_options), c_uint64, _ERR]),
    "opik_options_set_log_callback": (opik_status, [_P(opik_options), opik_log_level, opik_log_fn, c_void_p, _ERR]),
    "opik_client_flush": (opik_status, [_P(opik_client), c_uint64, _ERR]),
    "opik_client_counter": (c_uint64, [_P(opik_client), opik_counter]),
    # Traces and spans.
    "opik_trace_start": (opik_status, [_P(opik_client), c_char_p, c_char_p, _P(_P(opik_trace)), _ERR]),
    "opik_span_start": (
        opik_status,
        [_P(opik_trace), _P(opik_span), c_char_p, opik_span_type, _P(_P(opik_span)), _ERR],
    ),
    "opik_trace_id": (c_char_p, [_P(opik_trace)]),
    "opik_span_id": (c_char_p, [_P(opik_span)]),
    "opik_trace_set_input": (opik_status, [_P(opik_trace), c_char_p, _ERR]),
    "opik_trace_set_output": (opik_status, [_P(opik_trace), c_char_p, _ERR]),
    "opik_trace_set_metadata": (opik_status, [_P(opik_trace), c_char_p, _ERR]),
    "opik_trace_add_tag": (opik_status, [_P(opik_trace), c_char_p, _ERR]),
    "opik_trace_set_thread_id": (opik_status, [_P(opik_trace), c_char_p, _ERR]),
    "opik_trace_set_error": (opik_status, [_P(opik_trace), c_char_p, c_char_p, c_char_p, _ERR]),
    "opik_trace_attach": (opik_status, [_P(opik_trace), _P(opik_attachment), _ERR]),
    "opik_trace_end": (opik_status, [_P(opik_trace), _ERR]),
    "opik_trace_discard": (None, [_P(opik_trace)]),
    "opik_span_set_input": (opik_status, [_P(opik_span), c_char_p, _ERR]),
    "opik_span_set_output": (opik_status, [_P(opik_span), c_char_p, _ERR]),
    "opik_span_set_metadata": (opik_status, [_P(opik_span), c_char_p, _ERR]),
    "opik_span_add_tag": (opik_status, [_P(opik_span), c_char_p, _ERR]),
    "opik_span_set_error": (opik_status, [_P(opik_span), c_char_p, c_char_p, c_char_p, _ERR]),
    "opik_span_set_model": (opik_status, [_P(opik_span), c_char_p, c_char_p, _ERR]),
    "opik_span_set_usage": (opik_status, [_P(opik_span), c_int64, c_int64, c_int64, _ERR]),
    "opik_span_attach": (opik_status, [_P(opik_span), _P(opik_attachment), _ERR]),
    "opik_span_end": (opik_status, [_P(opik_span), _ERR]),
    "opik_span_discard": (None, [_P(opik_span)]),
    "opik_status_str": (c_char_p, [c_int32]),
    "opik_version": (c_char_p, []),
}


def load(path: str = DEFAULT_LIBRARY) -> ctypes.CDLL:
    """Loads the library and declares every function of the header on it."""
    lib = ctypes.CDLL(path)
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def _b(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else s.encode("utf-8")


def _s(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.decode("utf-8")


class OpikError(Exception):
    """A failed call: `status` (int), `status_name`, `message`, `http_status` (0 when none)."""

    def __init__(self, function: str, status: int, status_name: str, message: str, http_status: int):
        super().__init__(f"{function}: {status_name} ({status}), HTTP {http_status}: {message}")
        self.function = function
        self.status = status
        self.status_name = status_name
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True)
class ListEntry:
    file_name: str
    mime_type: str
    file_size: int
    link: Optional[str]


class Library:
    """The loaded library plus checked calls."""

    def __init__(self, path: str = DEFAULT_LIBRARY):
        self.path = path
        self.lib = load(path)

    def version(self) -> str:
        return _s(self.lib.opik_version())

    def status_str(self, status: int) -> str:
        return _s(self.lib.opik_status_str(status))

    def check(self, function: str, status: int, err) -> None:
        """Raises OpikError for a failed status, freeing the error object either way."""
        try:
            if status == OPIK_OK:
                assert not err, f"{function}: OPIK_OK but *err was set"
                return
            assert err, f"{function}: failed with {status} but *err was not set"
            got = self.lib.opik_error_status(err)
            assert got == status, f"{function}: returned {status}, opik_error_status says {got}"
            message = _s(self.lib.opik_error_message(err))
            http = self.lib.opik_error_http_status(err)
            raise OpikError(function, status, self.status_str(status), message, http)
        finally:
            self.lib.opik_error_free(err)

    def call(self, name: str, *args) -> None:
        err = POINTER(opik_error)()
        status = getattr(self.lib, name)(*args, ctypes.byref(err))
        self.check(name, status, err)

    # --- attachments -------------------------------------------------------------------------

    def attachment_from_file(self, path: str, file_name: Optional[str] = None, content_type: Optional[str] = None) -> "Attachment":
        out = POINTER(opik_attachment)()
        self.call("opik_attachment_from_file", _b(path), _b(file_name), _b(content_type), ctypes.byref(out))
        return Attachment(self, out)

    def attachment_from_bytes(self, data: bytes, file_name: str, content_type: Optional[str] = None) -> "Attachment":
        out = POINTER(opik_attachment)()
        buf = (c_uint8 * len(data)).from_buffer_copy(data) if data else None
        ptr = ctypes.cast(buf, POINTER(c_uint8)) if buf is not None else None
        self.call("opik_attachment_from_bytes", ptr, len(data), _b(file_name), _b(content_type), ctypes.byref(out))
        return Attachment(self, out)

    def attachment_from_base64(self, text: str, file_name: str, content_type: Optional[str] = None) -> "Attachment":
        out = POINTER(opik_attachment)()
        self.call("opik_attachment_from_base64", _b(text), _b(file_name), _b(content_type), ctypes.byref(out))
        return Attachment(self, out)

    # --- clients -----------------------------------------------------------------------------

    def client(
        self,
        url: str,
        api_key: Optional[str] = None,
        workspace: Optional[str] = None,
        project_name: Optional[str] = None,
        timeout_ms: Optional[int] = None,
        upload_concurrency: Optional[int] = None,
        log_level: Optional[int] = None,
        queue_limits: Optional[Tuple[int, int]] = None,
    ) -> "Client":
        """A client; with `log_level` its log lines up to that level are collected in
        `Client.log` (through `opik_options_set_log_callback`)."""
        lib = self.lib
        opts = lib.opik_options_new()
        assert opts, "opik_options_new returned NULL"
        log = LogCollector() if log_level is not None else None
        try:
            for setter, value in (
                ("opik_options_set_url", _b(url)),
                ("opik_options_set_api_key", _b(api_key)),
                ("opik_options_set_workspace", _b(workspace)),
                ("opik_options_set_project_name", _b(project_name)),
                ("opik_options_set_timeout_ms", timeout_ms),
                ("opik_options_set_upload_concurrency", upload_concurrency),
            ):
                if value is not None:
                    self.call(setter, opts, value)  # a refused value raises OpikError with the reason
            if queue_limits is not None:
                self.call("opik_options_set_queue_limits", opts, *queue_limits)
            if log is not None:
                self.call("opik_options_set_log_callback", opts, log_level, log.callback, None)
            out = POINTER(opik_client)()
            self.call("opik_client_new", opts, ctypes.byref(out))
            return Client(self, out, log)
        finally:
            lib.opik_options_free(opts)


class Attachment:
    def __init__(self, library: Library, handle):
        self._library = library
        self.handle = handle

    @property
    def file_name(self) -> str:
        return _s(self._library.lib.opik_attachment_file_name(self.handle))

    @property
    def content_type(self) -> str:
        return _s(self._library.lib.opik_attachment_content_type(self.handle))

    @property
    def size(self) -> int:
        return self._library.lib.opik_attachment_size(self.handle)

    def close(self) -> None:
        if self.handle:
            self._library.lib.opik_attachment_free(self.handle)
            self.handle = None

    def __enter__(self) -> "Attachment":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LogCollector:
    """The log callback: collects (level, line) from any library thread. The ctypes callback object
    lives as long as this collector, which the client keeps past `opik_client_free`."""

    def __init__(self):
        self._lock = threading.Lock()
        self.lines: List[Tuple[int, str]] = []

        def on_log(_user_data, level, message):
            try:
                text = _s(message)
                with self._lock:
                    self.lines.append((level, text))
            except BaseException:  # never let an exception unwind through C
                pass

        self.callback = opik_log_fn(on_log)

    def snapshot(self) -> List[Tuple[int, str]]:
        with self._lock:
            return list(self.lines)


class Client:
    def __init__(self, library: Library, handle, log: Optional[LogCollector] = None):
        self._library = library
        self._lib = library.lib
        self.handle = handle
        self.log = log

    def close(self) -> None:
        if self.handle:
            self._lib.opik_client_free(self.handle)
            self.handle = None

    # --- background work ---------------------------------------------------------------------

    def flush(self, timeout_ms: int = 30_000) -> None:
        self._library.call("opik_client_flush", self.handle, timeout_ms)

    def counter(self, which: str) -> int:
        return self._lib.opik_client_counter(self.handle, COUNTERS[which])

    def counters(self) -> dict:
        return {name: self.counter(name) for name in COUNTERS}

    # --- traces and spans --------------------------------------------------------------------

    def trace(self, name: Optional[str] = None, project: Optional[str] = None) -> "Trace":
        out = POINTER(opik_trace)()
        self._library.call("opik_trace_start", self.handle, _b(project), _b(name), ctypes.byref(out))
        return Trace(self._library, out)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def upload(self, project: Optional[str], entity_type: str, entity_id: str, attachment: Attachment) -> None:
        self._library.call(
            "opik_upload", self.handle, _b(project), ENTITY_TYPES[entity_type], _b(entity_id), attachment.handle
        )

    def list(self, project: Optional[str], entity_type: str, entity_id: str) -> List[ListEntry]:
        out = POINTER(opik_attachment_list)()
        self._library.call("opik_list", self.handle, _b(project), ENTITY_TYPES[entity_type], _b(entity_id), ctypes.byref(out))
        lib = self._lib
        try:
            return [
                ListEntry(
                    file_name=_s(lib.opik_attachment_list_file_name(out, i)),
                    mime_type=_s(lib.opik_attachment_list_mime_type(out, i)),
                    file_size=lib.opik_attachment_list_file_size(out, i),
                    link=_s(lib.opik_attachment_list_link(out, i)),
                )
                for i in range(lib.opik_attachment_list_len(out))
            ]
        finally:
            lib.opik_attachment_list_free(out)

    def download(
        self,
        project: Optional[str],
        entity_type: str,
        entity_id: str,
        file_name: str,
        mime_type: Optional[str] = None,
        on_chunk: Optional[Callable[[bytes], None]] = None,
    ) -> bytes:
        """Streams through the callback; returns the bytes (or b"" when `on_chunk` consumes them)."""
        chunks: List[bytes] = []
        failure: List[BaseException] = []

        def write(_user_data, chunk, length):
            try:
                data = ctypes.string_at(chunk, length)
                if on_chunk is None:
                    chunks.append(data)
                else:
                    on_chunk(data)
                return 0
            except BaseException as e:  # never let an exception unwind through C
                failure.append(e)
                return 1

        callback = opik_write_fn(write)  # kept alive for the duration of the call
        self._library.call(
            "opik_download",
            self.handle,
            _b(project),
            ENTITY_TYPES[entity_type],
            _b(entity_id),
            _b(file_name),
            _b(mime_type),
            callback,
            None,
        )
        if failure:
            raise failure[0]
        return b"".join(chunks)

    def download_to_file(
        self, project: Optional[str], entity_type: str, entity_id: str, file_name: str, dest: str, mime_type: Optional[str] = None
    ) -> None:
        self._library.call(
            "opik_download_to_file",
            self.handle,
            _b(project),
            ENTITY_TYPES[entity_type],
            _b(entity_id),
            _b(file_name),
            _b(mime_type),
            _b(dest),
        )

    def delete(self, project: Optional[str], entity_type: str, entity_id: str, file_names: List[str]) -> None:
        names = (c_char_p * len(file_names))(*[_b(n) for n in file_names])
        self._library.call(
            "opik_delete",
            self.handle,
            _b(project),
            ENTITY_TYPES[entity_type],
            _b(entity_id),
            names if file_names else None,
            len(file_names),
        )


def _json_text(value: Any) -> str:
    """A str is passed as JSON text as it is (so invalid text reaches the library); anything else
    is serialised with json.dumps."""
    return value if isinstance(value, str) else json.dumps(value)


class _Entity:
    """What traces and spans share: the handle, its id (copied at start: the handle's text dies with
    it), the setters, attach, end and discard. Used as a context manager it ends on exit."""

    _prefix = ""

    def __init__(self, library: Library, handle):
        self._library = library
        self.handle = handle
        self.id = _s(getattr(library.lib, f"opik_{self._prefix}_id")(handle))

    def _call(self, what: str, *args) -> "_Entity":
        assert self.handle, f"{self._prefix} {self.id} already ended or discarded"
        self._library.call(f"opik_{self._prefix}_{what}", self.handle, *args)
        return self

    def set_input(self, value: Any) -> "_Entity":
        return self._call("set_input", _b(_json_text(value)))

    def set_output(self, value: Any) -> "_Entity":
        return self._call("set_output", _b(_json_text(value)))

    def set_metadata(self, value: Any) -> "_Entity":
        return self._call("set_metadata", _b(_json_text(value)))

    def add_tag(self, tag: str) -> "_Entity":
        return self._call("add_tag", _b(tag))

    def set_error(self, exception_type: str, message: Optional[str] = None, traceback: Optional[str] = None) -> "_Entity":
        return self._call("set_error", _b(exception_type), _b(message), _b(traceback))

    def attach(self, attachment: Attachment) -> "_Entity":
        return self._call("attach", attachment.handle)

    def end(self) -> None:
        """Ends (the handle is consumed whatever the result; a failure raises OpikError)."""
        handle, self.handle = self.handle, None
        assert handle, f"{self._prefix} {self.id} already ended or discarded"
        self._library.call(f"opik_{self._prefix}_end", handle)

    def discard(self) -> None:
        handle, self.handle = self.handle, None
        getattr(self._library.lib, f"opik_{self._prefix}_discard")(handle)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self.handle:
            if exc_type is None:
                self.end()
            else:
                self.discard()


class Trace(_Entity):
    _prefix = "trace"

    def set_thread_id(self, thread_id: str) -> "Trace":
        return self._call("set_thread_id", _b(thread_id))

    def span(self, name: Optional[str] = None, span_type: str = "general") -> "Span":
        """A top-level span of this trace."""
        assert self.handle, f"trace {self.id} already ended or discarded"
        out = POINTER(opik_span)()
        self._library.call("opik_span_start", self.handle, None, _b(name), SPAN_TYPES[span_type], ctypes.byref(out))
        return Span(self._library, out)


class Span(_Entity):
    _prefix = "span"

    def set_model(self, model: Optional[str], provider: Optional[str] = None) -> "Span":
        return self._call("set_model", _b(model), _b(provider))

    def set_usage(self, prompt_tokens: int = -1, completion_tokens: int = -1, total_tokens: int = -1) -> "Span":
        return self._call("set_usage", prompt_tokens, completion_tokens, total_tokens)

    def span(self, name: Optional[str] = None, span_type: str = "general") -> "Span":
        """A child span (the trace handle is not needed: the span kept its trace's id)."""
        assert self.handle, f"span {self.id} already ended or discarded"
        out = POINTER(opik_span)()
        self._library.call("opik_span_start", None, self.handle, _b(name), SPAN_TYPES[span_type], ctypes.byref(out))
        return Span(self._library, out)
