"""Request transcript comparison: what our library sends next to what the official SDK sends.

For the same operations (upload the same 12,000,000-byte file under the same name to a trace; list
it; download it; plus an upload of a file without an extension and of an empty file), in both
storage modes, every request either client made is recorded: the backend requests by the test
server (`GET /_test/requests`), the storage requests (part PUTs, presigned GETs) by a recording
proxy in front of SeaweedFS. Then:

1. protocol rules are checked on each side on its own (Opik headers on backend requests and none
   on storage requests, Content-Length on every part PUT, parts 1..n ascending in upload-complete
   with the ETags exactly as storage returned them, the `path` value, no `container_id`, ...);
2. the two sides are compared request by request (kinds and counts, method and path, header names
   and values, query parameter names and values, JSON field names, JSON types and values); every
   difference must be listed in DELIBERATE below, with its reason, or the test fails.

The summary (requests compared, deliberate differences observed) goes to
target/interop-transcript-summary.txt and is printed at the end of the run (conftest.py).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import os
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from conftest import SUMMARY_PATH

MIB5 = 5 * 1024 * 1024
BLOB_SIZE = 12_000_000
PROJECT = "transcripts"

# Differences between our requests and the SDK's that are deliberate improvements (or harmless),
# as data: fnmatch pattern over "<operation>/<difference>" -> one-line reason. Anything else that
# differs fails the test.
DELIBERATE: Dict[str, str] = {
    "*/order:part-put": "parallel part PUTs (4 in flight by default) arrive in any order; upload-complete still lists parts 1..n ascending",
    "*/query-only-ours:list:page": "we page `list` with page/size until `total` (the SDK reads only the first page of 100)",
    "*/query-only-ours:list:size": "we page `list` with page/size until `total` (the SDK reads only the first page of 100)",
    "*/header-only-ours:direct-put:content-length": "we send Content-Length on the direct PUT (the size is known, §3.3) where the SDK streams chunked",
    "*/header-only-sdk:direct-put:transfer-encoding": "the SDK streams the direct PUT with Transfer-Encoding: chunked; we send Content-Length",
    "*/header-value:*:user-agent": "user-agent differs (python-httpx/… vs opik-attachments-native/…)",
    "*/header-only-sdk:*:x-opik-debug-sdk-version": "SDK diagnostic header, optional (§2): no server may require it",
    "*/header-only-sdk:*:x-opik-debug-py-version": "SDK diagnostic header, optional (§2): no server may require it",
    "*/header-only-sdk:*:x-opik-client-id": "SDK diagnostic header, optional (§2): no server may require it",
    "*/header-only-sdk:*:x-fern-language": "SDK diagnostic header, optional (§2): no server may require it",
    "*/header-only-sdk:*:accept-encoding": "the SDK offers gzip/deflate responses (optional, §2); we ask for identity bodies",
    "*/header-only-sdk:upload-complete:content-encoding": "the SDK gzips JSON bodies from 256 bytes; we gzip from 64 KiB (upload-complete of ~900+ parts): below that the compressor's fresh state costs more CPU than the bytes it saves (gzip is optional, §2)",
    "*/header-only-sdk:*:connection": "httpx sends `Connection: keep-alive`, the HTTP/1.1 default; we keep connections alive without saying so",
    "noext-upload/body-type:upload-start:mime_type": "mime_type always filled: we infer a type (name, magic bytes, else application/octet-stream) where the SDK sends null",
    "noext-upload/body-type:upload-complete:mime_type": "mime_type always filled: we infer a type (name, magic bytes, else application/octet-stream) where the SDK sends null",
    "zero-byte-upload/count:*": "we upload 0-byte files (one empty part in S3 mode); the SDK refuses them before sending any request",
    "*/path-encoding:*": "we encode `path` with the URL-safe base64 alphabet (the backend's decoder); same bytes as the SDK's for usual URLs",
}

BACKEND_KINDS = {"upload-start", "direct-put", "upload-complete", "projects-retrieve", "list", "backend-download"}
STORAGE_KINDS = {"part-put", "storage-get"}
KIND_BY_PATH = {
    "/v1/private/attachment/upload-start": "upload-start",
    "/v1/private/attachment/upload": "direct-put",
    "/v1/private/attachment/upload-complete": "upload-complete",
    "/v1/private/projects/retrieve": "projects-retrieve",
    "/v1/private/attachment/list": "list",
    "/v1/private/attachment/download": "backend-download",
}
# Header values that are per-connection or per-body and so legitimately differ.
UNCOMPARED_VALUES = {"host", "content-length"}
# Presigned-URL query parameters: issued by the server (signature, date, upload id), names only.
SERVER_ISSUED_QUERY = {"uploadId"}


@dataclass
class Req:
    side: str
    kind: str
    method: str
    path: str
    query: List[Tuple[str, str]]
    headers: Dict[str, str]
    body: Any
    body_len: int
    status: int
    etag: Optional[str] = None  # the ETag storage answered (part PUTs)

    @property
    def qdict(self) -> Dict[str, str]:
        return dict(self.query)

    def label(self) -> str:
        return f"{self.side} {self.kind} {self.method} {self.path}"


def _split_query(q: Optional[str]) -> List[Tuple[str, str]]:
    return urllib.parse.parse_qsl(q or "", keep_blank_values=True)


def collect(peer, entity_id: str, side: str) -> List[Req]:
    """The requests of one side since the last clear: backend (server) and storage (proxy)."""
    out: List[Req] = []
    for r in peer.server.requests():
        if r["target"] == "ping":  # the SDK's connection monitor, at any moment
            continue
        path = urllib.parse.unquote(r["path"])
        kind = KIND_BY_PATH.get(path, f"{r['method']} {path}")
        out.append(
            Req(side, kind, r["method"], path, _split_query(r["query"]), r["headers"], r["body_json"], r["body_len"], r["status"])
        )
    if peer.proxy is not None:
        for r in peer.proxy.take():
            q = _split_query(r["query"])
            names = {k for k, _ in q}
            if r["method"] == "PUT" and "partNumber" in names:
                kind = "part-put"
            elif r["method"] == "GET" and "X-Amz-Signature" in names:
                kind = "storage-get"
            else:
                continue  # the test server's own S3 calls (create/complete multipart, head, ...)
            out.append(
                Req(
                    side,
                    kind,
                    r["method"],
                    urllib.parse.unquote(r["path"]),
                    q,
                    r["headers"],
                    None,
                    r["body_len"],
                    r["status"],
                    r["response_headers"].get("etag"),
                )
            )
    # One entity per side: replace its id so both sides compare equal where they should.
    for req in out:
        req.path = req.path.replace(entity_id, "<entity-id>")
        req.query = [(k, v.replace(entity_id, "<entity-id>")) for k, v in req.query]
        if isinstance(req.body, dict) and req.body.get("entity_id") == entity_id:
            req.body = dict(req.body, entity_id="<entity-id>")
    return out


def part_sizes(size: int) -> List[int]:
    """The part plan of §4 (what both clients must cut)."""
    if size == 0:
        return [0]
    count = min(-(-size // MIB5), 10_000)
    part = max(-(-size // count), MIB5)
    return [min(part, size - off) for off in range(0, size, part)]


def decode_path(value: str) -> Optional[str]:
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            return decode(value + "=" * (-len(value) % 4)).decode()
        except Exception:
            pass
    return None


def json_type(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null", float: "number"}.get(
        type(v), "integer" if isinstance(v, int) else type(v).__name__
    )


# --- protocol rules, per side -------------------------------------------------------------------


def check_rules(reqs: List[Req], peer, size: Optional[int]) -> List[str]:
    bad: List[str] = []
    base = peer.server.base_url
    plan = part_sizes(size) if size is not None else None
    etags: Dict[Tuple[str, int], str] = {}
    for r in reqs:
        h = r.headers
        if not 200 <= r.status < 300:
            bad.append(f"{r.label()}: HTTP {r.status}")
        if r.kind in BACKEND_KINDS:
            if h.get("authorization") != peer.server.api_key:
                bad.append(f"{r.label()}: authorization {h.get('authorization')!r}, expected the raw API key")
            if h.get("comet-workspace") != peer.server.workspace:
                bad.append(f"{r.label()}: comet-workspace {h.get('comet-workspace')!r}")
        elif r.kind in STORAGE_KINDS:
            leaked = [k for k in h if k in ("authorization", "comet-workspace", "cookie") or k.startswith(("x-opik", "comet-"))]
            if leaked:
                bad.append(f"{r.label()}: Opik headers sent to a presigned URL: {leaked}")
            if "X-Amz-Signature" not in r.qdict:
                bad.append(f"{r.label()}: not a presigned URL")
        else:
            bad.append(f"{r.label()}: a request the operation does not need")
        if r.kind == "part-put":
            n = int(r.qdict["partNumber"])
            cl = h.get("content-length")
            if cl is None or "transfer-encoding" in h:
                bad.append(f"{r.label()} part {n}: no Content-Length (chunked: {h.get('transfer-encoding')})")
            elif int(cl) != r.body_len:
                bad.append(f"{r.label()} part {n}: Content-Length {cl} but {r.body_len} bytes")
            if plan is not None and not (1 <= n <= len(plan) and r.body_len == plan[n - 1]):
                bad.append(f"{r.label()} part {n}: {r.body_len} bytes, plan {plan}")
            if r.etag is not None:
                etags[(r.qdict["uploadId"], n)] = r.etag
        if r.kind in ("upload-start", "upload-complete") and isinstance(r.body, dict) and "container_id" in r.body:
            bad.append(f"{r.label()}: sends the read-only container_id")
        if r.kind == "upload-start" and isinstance(r.body, dict):
            if decode_path(r.body.get("path", "")) != base:
                bad.append(f"{r.label()}: path decodes to {decode_path(r.body.get('path', ''))!r}, not {base!r}")
            if plan is not None and r.body.get("num_of_file_parts") != len(plan):
                bad.append(f"{r.label()}: num_of_file_parts {r.body.get('num_of_file_parts')}, plan {len(plan)}")
        if r.kind == "list":
            q = r.qdict
            missing = {"project_id", "entity_type", "entity_id", "path"} - set(q)
            if missing:
                bad.append(f"{r.label()}: list without {sorted(missing)}")
            elif decode_path(q["path"]) != base:
                bad.append(f"{r.label()}: path decodes to {decode_path(q['path'])!r}")
        if r.kind == "direct-put" and size is not None and r.body_len != size:
            bad.append(f"{r.label()}: {r.body_len} bytes sent, file has {size}")
    for r in reqs:
        if r.kind == "upload-complete" and isinstance(r.body, dict):
            parts = r.body.get("uploaded_file_parts") or []
            numbers = [p.get("part_number") for p in parts]
            if numbers != list(range(1, len(numbers) + 1)) or (plan is not None and len(numbers) != len(plan)):
                bad.append(f"{r.label()}: part numbers {numbers}, expected 1..{len(plan or numbers)} ascending")
            if size is not None and r.body.get("file_size") != size:
                bad.append(f"{r.label()}: file_size {r.body.get('file_size')}")
            for p in parts:
                sent = p.get("e_tag")
                got = etags.get((r.body.get("upload_id"), p.get("part_number")))
                if got is None or sent != got:
                    bad.append(f"{r.label()}: e_tag {sent!r} for part {p.get('part_number')}, storage answered {got!r} (must be verbatim)")
                elif not (sent.startswith('"') and sent.endswith('"')):
                    bad.append(f"{r.label()}: e_tag {sent!r} lost its quotes")
    return bad


# --- side-by-side comparison --------------------------------------------------------------------


def compare(sdk: List[Req], ours: List[Req]) -> Tuple[int, List[Tuple[str, str]]]:
    """(pairs compared, [(difference key, detail)])."""
    diffs: List[Tuple[str, str]] = []
    cs, co = Counter(r.kind for r in sdk), Counter(r.kind for r in ours)
    for kind in sorted(set(cs) | set(co)):
        if cs[kind] != co[kind]:
            diffs.append((f"count:{kind}", f"SDK sent {cs[kind]}, we sent {co[kind]}"))
    pairs = 0
    for kind in sorted(set(cs) & set(co)):
        a = [r for r in sdk if r.kind == kind]
        b = [r for r in ours if r.kind == kind]
        if kind == "part-put":
            na = [int(r.qdict["partNumber"]) for r in a]
            nb = [int(r.qdict["partNumber"]) for r in b]
            if na != nb:
                diffs.append((f"order:{kind}", f"SDK {na}, ours {nb}"))
            a = sorted(a, key=lambda r: int(r.qdict["partNumber"]))
            b = sorted(b, key=lambda r: int(r.qdict["partNumber"]))
        for x, y in zip(a, b):
            pairs += 1
            diffs += compare_pair(kind, x, y)
    return pairs, diffs


def compare_pair(kind: str, x: Req, y: Req) -> List[Tuple[str, str]]:
    d: List[Tuple[str, str]] = []
    if (x.method, x.path) != (y.method, y.path):
        d.append((f"method-path:{kind}", f"SDK {x.method} {x.path}, ours {y.method} {y.path}"))
    if x.status != y.status:
        d.append((f"status:{kind}", f"SDK got {x.status}, we got {y.status}"))
    if kind in ("part-put", "direct-put") and x.body_len != y.body_len:
        d.append((f"body-len:{kind}", f"SDK {x.body_len} bytes, ours {y.body_len}"))
    # Headers: names, then values.
    for name in sorted(set(x.headers) - set(y.headers)):
        d.append((f"header-only-sdk:{kind}:{name}", f"{name}: {x.headers[name]}"))
    for name in sorted(set(y.headers) - set(x.headers)):
        d.append((f"header-only-ours:{kind}:{name}", f"{name}: {y.headers[name]}"))
    for name in sorted(set(x.headers) & set(y.headers) - UNCOMPARED_VALUES):
        if x.headers[name] != y.headers[name]:
            d.append((f"header-value:{kind}:{name}", f"SDK {x.headers[name]!r}, ours {y.headers[name]!r}"))
    # Query: names, then values (presigned parameters and server-issued ids by name only).
    qx, qy = x.qdict, y.qdict
    if [k for k, _ in x.query if k in qy] != [k for k, _ in y.query if k in qx]:
        d.append((f"query-order:{kind}", f"SDK {[k for k, _ in x.query]}, ours {[k for k, _ in y.query]}"))
    for name in sorted(set(qx) - set(qy)):
        d.append((f"query-only-sdk:{kind}:{name}", f"{name}={qx[name]}"))
    for name in sorted(set(qy) - set(qx)):
        d.append((f"query-only-ours:{kind}:{name}", f"{name}={qy[name]}"))
    for name in sorted(set(qx) & set(qy)):
        if name.startswith("X-Amz-") or name in SERVER_ISSUED_QUERY:
            continue
        vx, vy = qx[name], qy[name]
        if name == "path":
            if decode_path(vx) != decode_path(vy):
                d.append((f"query-value:{kind}:path", f"decoded: SDK {decode_path(vx)!r}, ours {decode_path(vy)!r}"))
            elif vx != vy:
                d.append((f"path-encoding:{kind}", f"SDK {vx!r}, ours {vy!r}"))
        elif vx != vy:
            d.append((f"query-value:{kind}:{name}", f"SDK {vx!r}, ours {vy!r}"))
    # JSON bodies: field names, JSON types, values.
    if x.body is not None or y.body is not None:
        d += compare_json(kind, "", x.body, y.body)
    return d


def compare_json(kind: str, where: str, a: Any, b: Any) -> List[Tuple[str, str]]:
    d: List[Tuple[str, str]] = []
    ta, tb = json_type(a), json_type(b)
    key = where or "<body>"
    if ta != tb:
        return [(f"body-type:{kind}:{key}", f"SDK {ta} {a!r}, ours {tb} {b!r}")]
    if ta == "object":
        for k in sorted(set(a) - set(b)):
            d.append((f"body-only-sdk:{kind}:{where + '.' if where else ''}{k}", repr(a[k])))
        for k in sorted(set(b) - set(a)):
            d.append((f"body-only-ours:{kind}:{where + '.' if where else ''}{k}", repr(b[k])))
        for k in sorted(set(a) & set(b)):
            d += compare_json(kind, f"{where + '.' if where else ''}{k}", a[k], b[k])
    elif ta == "array":
        if len(a) != len(b):
            d.append((f"body-value:{kind}:{key}", f"SDK {len(a)} items, ours {len(b)}"))
        for ia, ib in zip(a, b):
            d += compare_json(kind, f"{where}[]", ia, ib)
    elif key == "upload_id":
        pass  # issued by the server for each upload
    elif key == "path":
        if decode_path(a) != decode_path(b):
            d.append((f"body-value:{kind}:path", f"decoded: SDK {decode_path(a)!r}, ours {decode_path(b)!r}"))
        elif a != b:
            d.append((f"path-encoding:{kind}", f"SDK {a!r}, ours {b!r}"))
    elif a != b:
        d.append((f"body-value:{kind}:{key}", f"SDK {a!r}, ours {b!r}"))
    # Deduplicate (array items repeat the same finding).
    return list(dict.fromkeys(d))


def deliberate_reason(key: str) -> Optional[str]:
    for pattern, reason in DELIBERATE.items():
        if fnmatch.fnmatchcase(key, pattern):
            return reason
    return None


# --- the summary, accumulated over both modes ---------------------------------------------------


@dataclass
class ModeResult:
    mode: str
    ops: List[Tuple[str, int, int, int]] = field(default_factory=list)  # (op, sdk n, ours n, pairs)
    deliberate: Dict[str, Tuple[str, str]] = field(default_factory=dict)  # key -> (reason, example)
    problems: List[str] = field(default_factory=list)


RESULTS: Dict[str, ModeResult] = {}


def write_summary() -> None:
    lines = ["transcript comparison: our library (C ABI) vs the official opik SDK, same operations"]
    total_requests = total_pairs = 0
    seen: Dict[str, Dict[str, List[str]]] = {}  # pattern -> mode -> operations
    for mode, res in RESULTS.items():
        n_sdk = sum(o[1] for o in res.ops)
        n_ours = sum(o[2] for o in res.ops)
        pairs = sum(o[3] for o in res.ops)
        total_requests += n_sdk + n_ours
        total_pairs += pairs
        label = "S3 mode via SeaweedFS" if mode == "s3" else "direct mode"
        ops = "; ".join(f"{op} {a}/{b}" for op, a, b, _ in res.ops)
        lines.append(f"  {label}: {n_sdk + n_ours} requests (SDK {n_sdk}, ours {n_ours}), {pairs} pairs compared [{ops}]")
        for key in res.deliberate:
            op = key.split("/", 1)[0]
            pattern = next(p for p in DELIBERATE if fnmatch.fnmatchcase(key, p))
            ops_seen = seen.setdefault(pattern, {}).setdefault(mode, [])
            if op not in ops_seen:
                ops_seen.append(op)
    lines.append(f"  total: {total_requests} requests compared, {total_pairs} request pairs field by field")
    lines.append("deliberate differences that remain:")
    by_reason: Dict[str, List[str]] = {}
    for pattern, modes in seen.items():
        where = "; ".join(f"{m}: {', '.join(ops)}" for m, ops in modes.items())
        by_reason.setdefault(DELIBERATE[pattern], []).append(f"{pattern.split('/', 1)[1]}  [{where}]")
    for reason, items in by_reason.items():
        lines.append(f"  - {reason}")
        lines += [f"      {item}" for item in items]
    unseen = [p for p in DELIBERATE if p not in seen]
    if unseen:
        lines.append("listed as deliberate but not observed in this run: " + ", ".join(unseen))
    problems = [p for res in RESULTS.values() for p in res.problems]
    lines.append(f"protocol violations and unexplained differences: {len(problems) or 'none'}")
    lines += [f"  ! {p}" for p in problems]
    os.makedirs(os.path.dirname(SUMMARY_PATH), exist_ok=True)
    with open(SUMMARY_PATH, "w") as f:
        f.write("\n".join(lines) + "\n")


# --- the test -------------------------------------------------------------------------------------


def test_transcripts_match_the_sdk(peer, lib, make_file):
    from opik.file_upload.s3_multipart_upload.s3_upload_error import S3UploadErrorFileIsEmpty

    res = RESULTS[peer.mode] = ModeResult(peer.mode)
    sdk_entity, our_entity = str(uuid.uuid4()), str(uuid.uuid4())
    blob, blob_sha = make_file("blob.bin", BLOB_SIZE)
    noext, _ = make_file("NOEXT", 2000)
    empty, _ = make_file("empty.bin", 0)
    downloaded: Dict[str, bytes] = {}

    def sdk_upload(path):
        return lambda: peer.attachments.upload_attachment(
            project_name=PROJECT, entity_type="trace", entity_id=sdk_entity, file_path=path
        )

    def our_upload(path):
        def run():
            with lib.attachment_from_file(path) as a:
                peer.native.upload(PROJECT, "trace", our_entity, a)

        return run

    def sdk_empty():
        with pytest.raises(S3UploadErrorFileIsEmpty):
            sdk_upload(empty)()

    def sdk_download():
        downloaded["sdk"] = b"".join(
            peer.attachments.download_attachment(PROJECT, "trace", sdk_entity, "blob.bin", "application/octet-stream")
        )

    def our_download():
        downloaded["ours"] = peer.native.download(PROJECT, "trace", our_entity, "blob.bin", "application/octet-stream")

    # (operation, size of the uploaded file or None, SDK action, our action)
    operations: List[Tuple[str, Optional[int], Callable[[], Any], Callable[[], Any]]] = [
        ("upload", BLOB_SIZE, sdk_upload(blob), our_upload(blob)),
        (
            "list",
            None,
            lambda: peer.attachments.get_attachment_list(PROJECT, sdk_entity, "trace"),
            lambda: peer.native.list(PROJECT, "trace", our_entity),
        ),
        ("download", None, sdk_download, our_download),
        ("noext-upload", 2000, sdk_upload(noext), our_upload(noext)),
        ("zero-byte-upload", 0, sdk_empty, our_upload(empty)),
    ]
    for op, size, sdk_action, our_action in operations:
        sides = {}
        for side, action, entity in (("SDK", sdk_action, sdk_entity), ("ours", our_action, our_entity)):
            peer.server.clear_requests()
            if peer.proxy is not None:
                peer.proxy.clear()
            action()
            sides[side] = collect(peer, entity, side)
            res.problems += [f"{peer.mode} {op}: {p}" for p in check_rules(sides[side], peer, size)]
        pairs, diffs = compare(sides["SDK"], sides["ours"])
        res.ops.append((op, len(sides["SDK"]), len(sides["ours"]), pairs))
        for key, detail in diffs:
            full = f"{op}/{key}"
            reason = deliberate_reason(full)
            if reason is None:
                res.problems.append(f"{peer.mode} {full}: {detail}")
            else:
                res.deliberate.setdefault(full, (reason, detail))
    for side in ("sdk", "ours"):
        assert hashlib.sha256(downloaded[side]).hexdigest() == blob_sha, f"{side} downloaded different bytes"
    write_summary()
    assert not res.problems, "\n".join(res.problems)


def test_the_comparison_catches_violations():
    """The checker itself: a request stream with protocol violations and undeclared differences
    is flagged (so a green comparison means something)."""

    class FakeServer:
        base_url = "http://127.0.0.1:1/"
        api_key = "k"
        workspace = "w"

    class FakePeer:
        server = FakeServer()

    path = base64.b64encode(FakeServer.base_url.encode()).decode()
    good_headers = {"authorization": "k", "comet-workspace": "w", "content-type": "application/json"}
    start = {"file_name": "f", "num_of_file_parts": 1, "mime_type": "a/b", "project_name": "p",
             "entity_type": "trace", "entity_id": "<entity-id>", "path": path}
    part_q = [("X-Amz-Signature", "s"), ("partNumber", "1"), ("uploadId", "u")]
    complete = {"file_name": "f", "project_name": "p", "entity_type": "trace", "entity_id": "<entity-id>",
                "file_size": 3, "mime_type": "a/b", "upload_id": "u",
                "uploaded_file_parts": [{"e_tag": '"abc"', "part_number": 1}]}
    sdk = [
        Req("SDK", "upload-start", "POST", "/s", [], good_headers, start, 10, 200),
        Req("SDK", "part-put", "PUT", "/o", part_q, {"content-length": "3"}, None, 3, 200, '"abc"'),
        Req("SDK", "upload-complete", "POST", "/c", [], good_headers, complete, 10, 204),
    ]
    assert check_rules(sdk, FakePeer(), 3) == []
    bad_complete = dict(complete, file_size="3", uploaded_file_parts=[{"e_tag": "abc", "part_number": 1}])
    ours = [
        Req("ours", "upload-start", "POST", "/s", [], dict(good_headers, authorization="Bearer k"), dict(start, container_id="x"), 10, 200),
        Req("ours", "part-put", "PUT", "/o", part_q, {"transfer-encoding": "chunked", "authorization": "k"}, None, 3, 200, '"abc"'),
        Req("ours", "upload-complete", "POST", "/c", [], good_headers, bad_complete, 10, 204),
    ]
    problems = "\n".join(check_rules(ours, FakePeer(), 3))
    for expected in ("authorization 'Bearer k'", "container_id", "Opik headers sent to a presigned URL", "no Content-Length", "must be verbatim", "file_size"):
        assert expected in problems, (expected, problems)
    _, diffs = compare(sdk, ours)
    keys = {k for k, _ in diffs}
    assert {"header-only-ours:part-put:authorization", "body-type:upload-complete:file_size", "body-only-ours:upload-start:container_id"} <= keys, keys
    assert all(deliberate_reason(f"upload/{k}") is None for k in keys if "authorization" in k or "file_size" in k)
