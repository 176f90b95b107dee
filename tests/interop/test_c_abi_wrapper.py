"""The ctypes wrapper declares every function it uses exactly as include/opik_attachments.h does
(so "through the C ABI" means the real signatures), and the loaded library is the header's
version."""

import ctypes
import os
import re

import opik_c
import pytest

HEADER = os.path.join(opik_c.REPO, "include", "opik_attachments.h")

SCALARS = {
    "opik_status": ctypes.c_int32,
    "opik_entity_type": ctypes.c_int32,
    "opik_span_type": ctypes.c_int32,
    "opik_log_level": ctypes.c_int32,
    "opik_counter": ctypes.c_int32,
    "int32_t": ctypes.c_int32,
    "int64_t": ctypes.c_int64,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "size_t": ctypes.c_size_t,
    "bool": ctypes.c_bool,
    "opik_write_fn": opik_c.opik_write_fn,
    "opik_log_fn": opik_c.opik_log_fn,
}
OPAQUE = {name: getattr(opik_c, name) for name in ("opik_attachment", "opik_attachment_list", "opik_client", "opik_error", "opik_options", "opik_trace", "opik_span")}


def c_to_ctypes(decl: str):
    """A C type (as written in the header) as the ctypes type the wrapper must use."""
    t = re.sub(r"\bconst\b", "", decl).strip()
    stars = t.count("*")
    base = t.replace("*", "").strip()
    if base == "void":
        return None if stars == 0 else (ctypes.c_void_p if stars == 1 else None)
    if base == "char" and stars >= 1:
        result, stars = ctypes.c_char_p, stars - 1
    elif base == "uint8_t" and stars >= 1:
        result, stars = ctypes.POINTER(ctypes.c_uint8), stars - 1
    elif base in OPAQUE:
        result = OPAQUE[base]
    else:
        result = SCALARS[base]
    for _ in range(stars):
        result = ctypes.POINTER(result)
    return result


def header_prototypes():
    text = open(HEADER).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    protos = {}
    for ret, name, params in re.findall(r"OPIK_API\s+([^;(]*?)\b(opik_\w+)\s*\(([^)]*)\)\s*;", text, flags=re.S):
        args = []
        params = " ".join(params.split())
        if params not in ("", "void"):
            for p in params.split(","):
                m = re.match(r"^(.*?)\b(\w+)$", p.strip())
                args.append(m.group(1).strip())
        protos[name] = (ret.strip(), args)
    return protos


def test_every_wrapped_function_matches_the_header():
    protos = header_prototypes()
    assert len(protos) >= len(opik_c._SIGNATURES)
    for name, (restype, argtypes) in opik_c._SIGNATURES.items():
        assert name in protos, f"{name} is not in the header"
        ret, args = protos[name]
        assert c_to_ctypes(ret) is restype, f"{name}: header returns {ret!r}, wrapper declares {restype}"
        assert len(args) == len(argtypes), f"{name}: header has {len(args)} parameters, wrapper {len(argtypes)}"
        for i, (c_decl, declared) in enumerate(zip(args, argtypes)):
            assert c_to_ctypes(c_decl) is declared, f"{name} parameter {i}: header {c_decl!r}, wrapper {declared}"


def test_the_wrappers_constants_are_the_headers():
    """Span types, log levels and counters as the header #defines them."""
    text = open(HEADER).read()
    defines = {m.group(1): int(m.group(2)) for m in re.finditer(r"#define (OPIK_(?:SPAN|LOG|COUNTER)_\w+) (\d+)", text)}
    assert len(defines) >= 14, defines
    for name, value in defines.items():
        assert getattr(opik_c, name) == value, name


def test_library_version_is_the_headers(lib):
    text = open(HEADER).read()
    major, minor, patch = (re.search(rf"#define OPIK_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH"))
    assert lib.version() == f"{major}.{minor}.{patch}"
    assert lib.status_str(opik_c.OPIK_ERR_HTTP) == "OPIK_ERR_HTTP"


def test_a_refused_option_raises_with_the_librarys_reason(lib):
    """0.2: the option setters take `err`, so the wrapper's error carries the library's message."""
    with pytest.raises(opik_c.OpikError) as refused:
        lib.client("http://127.0.0.1:9/", upload_concurrency=0)
    assert refused.value.function == "opik_options_set_upload_concurrency"
    assert refused.value.status == opik_c.OPIK_ERR_INVALID_ARGUMENT
    assert refused.value.message and refused.value.message != "OPIK_ERR_INVALID_ARGUMENT"
