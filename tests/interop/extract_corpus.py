#!/usr/bin/env python3
"""The corpus of the embedded-media differential test, and the official SDK's answers on it.

`cases()` builds, deterministically (fixed seed), JSON documents that hold base64 media the way
LLM inputs and outputs do: PNG, JPEG with and without its end marker, GIF, WebP, PDF, MP4, SVG and
JSON payloads; bare runs and data URIs (with the right, a wrong and an empty MIME type); several
blobs in one string (also twice the same blob); blobs inside prose; deep nesting; a top-level list;
runs of exactly the threshold, 4 below it and strings one character short of it; invalid base64
(a stray character, padding in the middle, a run of 4k+1); base64 of text and of random bytes;
the URL-safe alphabet; escapes inside the run (`\\/`, `\\u0041`), non-ASCII text and escaped
surrogate pairs before it; base64 as an object key; tiny thresholds (0, 3, 4). Most use a small
threshold (100 characters) so the corpus is fast; one uses the default 256,000.

`sdk_extract(text, context, min_chars)` runs the SDK's own `AttachmentsExtractor` on the parsed
document, the way its message processor calls it, and returns the sanitised document and the
attachments (name, content type, bytes).

Run as a script, it writes the corpus as JSON lines (`{"name", "json", "context", "min_chars"}`)
to standard output or to the file given (the extract fuzz target's seeds come from it).
"""

from __future__ import annotations

import base64
import json
import os
import random
import sys
from typing import Any, Dict, List, Tuple

T = 100  # the corpus threshold, in characters

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _payloads(rng: random.Random) -> Dict[str, bytes]:
    def noise(n: int) -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(n))

    svg = (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<rect width="10" height="10" fill="red"/></svg>'
    )
    return {
        "png": PNG_SIG + b"\x00\x00\x00\rIHDR" + noise(140),
        "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF" + noise(140) + b"\xff\xd9",
        "jpeg_no_end": b"\xff\xd8\xff\xe0\x00\x10JFIF" + noise(140) + b"\x00\x01",
        "gif87": b"GIF87a" + noise(120),
        "gif89": b"GIF89a" + noise(120),
        "webp": b"RIFF\x40\x00\x00\x00WEBPVP8 " + noise(120),
        "wav": b"RIFF\x40\x00\x00\x00WAVEfmt " + noise(120),
        "pdf": b"%PDF-1.4\n" + noise(120),
        "mp4": b"\x00\x00\x00\x18ftypisom" + noise(130),
        "svg": svg,
        "json": json.dumps({"rows": list(range(40))}).encode(),
        "text": b"The quick brown fox jumps over the lazy dog. " * 4,
        "random": noise(150),
        "short_png": PNG_SIG + noise(10),  # 24 characters: below every threshold but tiny ones
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _exact_run(rng: random.Random, chars: int) -> str:
    """A PNG whose base64 is exactly `chars` characters (a multiple of 4, no padding)."""
    assert chars % 4 == 0
    n = chars // 4 * 3
    data = PNG_SIG + bytes(rng.getrandbits(8) for _ in range(n - len(PNG_SIG)))
    text = b64(data)
    assert len(text) == chars
    return text


def _urlsafe_png(rng: random.Random) -> str:
    """URL-safe base64 of a PNG with a '-' or '_' after at least T standard characters."""
    while True:
        data = PNG_SIG + bytes(rng.getrandbits(8) for _ in range(200))
        text = base64.urlsafe_b64encode(data).decode()
        first = min((text.find(c) for c in "-_" if c in text), default=-1)
        if first >= T + 8:
            return text


def cases() -> List[Dict[str, Any]]:
    rng = random.Random(20240914)
    p = _payloads(rng)
    enc = {k: b64(v) for k, v in p.items()}
    out: List[Dict[str, Any]] = []

    def add(name: str, doc: Any = None, text: str = None, min_chars: int = T, context: str = "input"):
        if text is None:
            text = json.dumps(doc)
        out.append({"name": name, "json": text, "context": context, "min_chars": min_chars})

    # Every payload, bare and as a data URI with its own type.
    mimes = {
        "png": "image/png", "jpeg": "image/jpeg", "jpeg_no_end": "image/jpeg", "gif87": "image/gif",
        "gif89": "image/gif", "webp": "image/webp", "wav": "audio/wav", "pdf": "application/pdf",
        "mp4": "video/mp4", "svg": "image/svg+xml", "json": "application/json", "text": "text/plain",
        "random": "application/octet-stream", "short_png": "image/png",
    }
    for k, v in enc.items():
        add(f"bare_{k}", {"content": v})
        add(f"data_uri_{k}", {"image_url": {"url": f"data:{mimes[k]};base64,{v}"}})
    # Data URIs: a wrong type, none, parameters, a comma before ";base64,", no base64 after it.
    add("data_uri_wrong_type", {"url": f"data:image/jpeg;base64,{enc['png']}"})
    add("data_uri_empty_type", {"url": f"data:;base64,{enc['gif89']}"})
    add("data_uri_params", {"url": f"data:image/png;name=a.png;base64,{enc['png']}"})
    add("data_uri_comma_in_header", {"url": f"data:a,b;base64,{enc['png']}"})
    add("data_uri_then_junk", {"url": f"data:image/png;base64,!!{enc['png']}"})
    add("data_uri_twice", {"url": f"data:x;data:image/png;base64,{enc['png']}"})
    add("data_prefix_glued", {"url": f"xyzdata:image/png;base64,{enc['png']}"})
    # Several blobs in one string; the same blob twice; blobs in prose.
    add("several_in_one", {"t": f"{enc['png']} and {enc['pdf']}, {enc['random']} then {enc['gif89']}"})
    add("same_blob_twice", {"t": f"{enc['png']} {enc['png']}"})
    add("prose", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{enc['png']}"}},
    ]}, {"role": "assistant", "content": f"Here: data:image/svg+xml;base64,{enc['svg']}."}]})
    # Deep nesting and a top-level list.
    deep: Any = {"leaf": enc["jpeg"], "n": 1.5e3}
    for i in range(60):
        deep = {"level": i, "child": deep} if i % 2 else [deep, enc["mp4"] if i % 7 == 0 else "x"]
    add("deep", {"root": deep})
    add("top_level_list", [enc["png"], {"a": enc["pdf"]}, [enc["gif87"], 3, None, True]])
    add("top_level_list_nothing", ["a", 1, {"b": []}])
    # Thresholds: exactly T, 4 below T, a string one character short of T, T not a multiple of 4.
    add("run_exactly_T", {"a": _exact_run(rng, T)})
    add("run_T_minus_4", {"a": _exact_run(rng, T - 4)})
    add("string_one_short", {"a": _exact_run(rng, T)}, min_chars=T + 1)
    add("threshold_102_run_100", {"a": _exact_run(rng, T)}, min_chars=T + 2)
    add("threshold_102_run_100_padded", {"a": _exact_run(rng, T) + "xx"}, min_chars=T + 2)
    add("threshold_103", {"a": "-" + _exact_run(rng, T + 4)}, min_chars=T + 3)
    # Invalid base64.
    add("stray_char", {"a": enc["png"][:60] + "*" + enc["png"][60:]})
    add("padding_mid", {"a": enc["png"][:120] + "=" + enc["png"][120:]})
    add("run_4k_plus_1", {"a": _exact_run(rng, 120) + "Q"})
    add("extra_padding", {"a": _exact_run(rng, 120) + "==="})
    add("three_padding_forms", {"a": b64(PNG_SIG + bytes(range(100))), "b": b64(PNG_SIG + bytes(range(101))),
                                "c": b64(PNG_SIG + bytes(range(102)))})
    add("line_wrapped", {"a": base64.encodebytes(p["png"] * 3).decode()})
    add("non_canonical_tail", {"a": _exact_run(rng, 120) + "AF=="})
    # URL-safe alphabet.
    add("urlsafe_png", {"a": _urlsafe_png(rng)})
    add("urlsafe_png_data_uri", {"a": "data:image/png;base64," + _urlsafe_png(rng)})
    # Escapes in the run, non-ASCII before it, keys.
    add("escaped_slashes", text=json.dumps({"a": enc["png"]}).replace("/", "\\/"))
    add("escaped_letter", text=json.dumps({"a": enc["pdf"]}).replace("A", "\\u0041", 3))
    add("escaped_newline_between", text=json.dumps({"a": enc["png"] + "\n" + enc["gif89"]}))
    add("non_ascii_before", {"a": "héllo wörld 漢字 " + enc["png"]}, )
    add("non_ascii_ensure_ascii_false", text=json.dumps({"a": "漢字😀 " + enc["png"]}, ensure_ascii=False))
    add("surrogate_pair_escape", text=json.dumps({"a": "😀" + enc["png"]}))
    add("non_ascii_short_by_chars", text=json.dumps({"a": "é" + _exact_run(rng, T)}, ensure_ascii=False),
        min_chars=T + 2)
    add("blob_as_key", {enc["png"]: "value", "b": enc["gif87"]})
    add("contexts_output", {"a": enc["png"]}, context="output")
    add("contexts_metadata", {"a": enc["png"]}, context="metadata")
    # Spacing, numbers and other values kept.
    add("spacing", text='{ "a" : [ 1.0e+2 , -0.5 , true , null ] ,\n\t"b" : "' + enc["png"] + '" }')
    # Tiny thresholds: every run counts.
    add("threshold_0", {"a": enc["short_png"], "b": "ab", "c": "data:;base64,"}, min_chars=0)
    add("threshold_3", {"a": enc["short_png"] + " " + enc["png"]}, min_chars=3)
    add("threshold_4", {"a": "data:image/png;base64," + enc["short_png"]}, min_chars=4)
    # The default threshold: a 256,000-character run, and one 4 characters short.
    big = PNG_SIG + bytes(rng.getrandbits(8) for _ in range(192_000 - len(PNG_SIG)))
    assert len(b64(big)) == 256_000
    add("default_threshold", {"image": "data:image/png;base64," + b64(big)}, min_chars=256_000)
    add("default_threshold_minus_4", {"image": b64(big)[:-4]}, min_chars=256_000)
    return out


def sdk_extract(text: str, context: str, min_chars: int) -> Tuple[Any, List[Dict[str, Any]]]:
    """The official SDK's extraction: (sanitised document, [{file_name, content_type, data}])."""
    from opik.api_objects.attachment import attachments_extractor

    data = json.loads(text)
    extractor = attachments_extractor.AttachmentsExtractor(min_chars)
    found = extractor.extract_and_replace(data, "trace", "id", "project", context)
    attachments = []
    for item in found:
        a = item.attachment_data
        with open(a.data, "rb") as f:
            content = f.read()
        os.unlink(a.data)  # the SDK's temporary file
        attachments.append({"file_name": a.file_name, "content_type": a.content_type, "data": content})
    return data, attachments


if __name__ == "__main__":
    dest = open(sys.argv[1], "w") if len(sys.argv) > 1 else sys.stdout
    for case in cases():
        dest.write(json.dumps(case) + "\n")
