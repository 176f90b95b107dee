"""Our library's traces and spans (C ABI through ctypes, `opik_c`) against real peers.

1. Every trace and span body we send (the test server's `received` log and the batch requests of
   its transcript) is validated with the official SDK's own pydantic models (`TraceWrite`,
   `SpanWrite`, `ErrorInfoWrite`, `TraceBatch`, `SpanBatch`), and carries no field outside them
   (the models allow extras, so the keys are compared with `model_fields`).
2. A trace with spans (an LLM span with model/provider/usage, a nested tool span with error info,
   tags, thread id, input/output/metadata) and attachments, logged by us, is read back through the
   official SDK (`get_trace_content`, `search_spans`, `get_span_content`, its attachment client)
   and compared field by field, in direct mode and in S3 mode with SeaweedFS behind the
   attachments (the part PUTs and the download are seen by the recording proxy in front of it).
3. The same trace logged by the SDK (`client.trace`, `trace.span`, `span.span`, `.end()`, flush)
   and by us: the requests, recorded byte for byte by a proxy in front of the test server, are
   compared request by request and entity by entity; every difference must be listed in
   DELIBERATE with its reason, or the test fails. The summary goes to
   target/interop-traces-summary.txt and is printed at the end of the run (conftest.py).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import gzip
import hashlib
import json
import os
import re
import time
import uuid
from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

import opik_c
import peers
import pytest
from conftest import API_KEY, TRACES_SUMMARY_PATH, WORKSPACE

MIB = 1024 * 1024
UTC = dt.timezone.utc
# RFC 3339 UTC with microseconds: what both clients send (§14).
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID7_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME_FIELDS = ("start_time", "end_time", "last_updated_at")


def _models():
    from opik.rest_api import types

    return types


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def native_client(lib, peer, **kw) -> opik_c.Client:
    """A client of our library with its log callback on (every level), for one test."""
    return lib.client(
        peer.url, api_key=API_KEY, workspace=WORKSPACE, timeout_ms=30_000, log_level=opik_c.OPIK_LOG_DEBUG, **kw
    )


def assert_clean_log(client: opik_c.Client) -> None:
    """No final failure logged, and no line with the API key."""
    lines = client.log.snapshot()
    assert not [m for lvl, m in lines if lvl == opik_c.OPIK_LOG_ERROR], lines
    assert not [m for _, m in lines if API_KEY in m], "the API key appeared in a log line"


# --- 1. the SDK's models ---------------------------------------------------------------------------


def model_problems(kind: str, body: Dict[str, Any]) -> List[str]:
    """Why `body` (one trace or span as sent) is not a valid TraceWrite/SpanWrite: the model's own
    validation errors, and every field the model does not declare (it would accept them as extras)."""
    types = _models()
    model = types.TraceWrite if kind == "traces" else types.SpanWrite
    problems: List[str] = []
    try:
        model.model_validate(body)
    except Exception as e:  # pydantic.ValidationError
        problems.append(f"{model.__name__}: {e}")
    extra = sorted(set(body) - set(model.model_fields))
    if extra:
        problems.append(f"{model.__name__}: fields outside the model: {extra}")
    if isinstance(body.get("error_info"), dict):
        extra = sorted(set(body["error_info"]) - set(types.ErrorInfoWrite.model_fields))
        if extra:
            problems.append(f"ErrorInfoWrite: fields outside the model: {extra}")
    return problems


def batch_problems(kind: str, body: Any) -> List[str]:
    types = _models()
    model = types.TraceBatch if kind == "traces" else types.SpanBatch
    problems: List[str] = []
    if not isinstance(body, dict):
        return [f"{model.__name__}: not an object: {body!r:.100}"]
    try:
        model.model_validate(body)
    except Exception as e:
        problems.append(f"{model.__name__}: {e}")
    extra = sorted(set(body) - set(model.model_fields))
    if extra:
        problems.append(f"{model.__name__}: fields outside the model: {extra}")
    return problems


def test_the_model_check_catches_violations():
    """The checker itself (so a green validation means something): an extra field, a wrong type,
    a missing required field, an extra error_info field, an extra batch field."""
    good_trace = {"id": str(uuid.uuid4()), "name": "t", "start_time": "2026-01-02T03:04:05.000006Z", "project_name": "p"}
    assert model_problems("traces", good_trace) == []
    assert "fields outside the model: ['colour']" in model_problems("traces", dict(good_trace, colour=1))[0]
    assert model_problems("traces", dict(good_trace, tags="not-a-list"))
    good_span = dict(good_trace, trace_id=str(uuid.uuid4()), type="llm")
    assert model_problems("spans", good_span) == []
    assert model_problems("spans", dict(good_span, start_time=None)), "start_time is required"
    bad_error = dict(good_span, error_info={"exception_type": "E", "traceback": "t", "line": 3})
    assert any("ErrorInfoWrite" in p for p in model_problems("spans", bad_error))
    assert batch_problems("spans", {"spans": [good_span]}) == []
    assert batch_problems("spans", {"spans": [good_span], "dry_run": True})


def test_every_body_we_send_fits_the_sdks_models(direct_peer, lib):
    """Traces and spans covering every setter (and their edge cases: wrapped non-object values,
    partial usage, an error without traceback, a model without provider, every span type, a
    discarded span, a span ending after its trace), one batch retried after a 503: every body
    received, and every batch request, is a valid TraceWrite/SpanWrite/TraceBatch/SpanBatch."""
    peer = direct_peer
    project = f"models-{uuid.uuid4().hex[:8]}"
    client = native_client(lib, peer, project_name=project)
    ids: Dict[str, str] = {}
    peer.server.add_faults({"method": "POST", "path_contains": "spans/batch", "status": 503, "times": 1})
    try:
        bare = client.trace()  # no name, nothing set
        ids["bare"] = bare.id
        bare.end()

        t = client.trace("everything", project)
        ids["trace"] = t.id
        with pytest.raises(opik_c.OpikError) as refused:
            t.set_input('{"a": 1,\n  oops}')  # a str is JSON text: this one is refused, and nothing kept
        assert refused.value.status == opik_c.OPIK_ERR_INVALID_ARGUMENT and "line 2" in refused.value.message
        t.set_input([1, 2, 3]).set_output('"plain text"').set_metadata({"k": {"nested": [True, None, 1.5]}})
        t.add_tag("ü-tag").add_tag("b").set_thread_id("thread-é").set_error("RuntimeError", None, None)
        spans = {}
        for kind in ("general", "llm", "tool", "guardrail"):
            s = t.span(f"{kind} span", kind)
            spans[kind] = s
            ids[kind] = s.id
        spans["llm"].set_model("gpt-x", None).set_usage(7, -1, -1).set_input(42).set_output({"text": "ok"})
        spans["tool"].set_error("ValueError", "bad arg", None).add_tag("t1").set_metadata("null")
        spans["general"].set_model(None, "anthropic").set_usage(-1, -1, -1)
        child = spans["general"].span("child", "tool")
        ids["child"] = child.id
        grandchild = child.span("grandchild")
        ids["grandchild"] = grandchild.id
        dropped = child.span("dropped")
        dropped_id = dropped.id
        dropped.discard()
        grandchild.end()
        child.end()
        t.end()  # before some of its spans: the spans kept their trace's id
        for s in spans.values():
            s.end()
        client.flush(30_000)
        counters = client.counters()
        assert_clean_log(client)
        warns = [m for lvl, m in client.log.snapshot() if lvl == opik_c.OPIK_LOG_WARN]
    finally:
        peer.server.clear_faults()
        client.close()

    assert counters["entities_sent"] == len(ids), counters
    assert counters["entities_failed"] == 0, counters
    assert counters["retries"] >= 1, counters
    span_ids = [ids[k] for k in ("general", "llm", "tool", "guardrail", "child", "grandchild")]
    assert any("503" in m and any(i in m for i in span_ids) for m in warns), f"the retry is logged with an entity id: {warns}"

    problems: List[str] = []
    seen: Dict[str, Dict[str, Any]] = {}
    for kind in ("traces", "spans"):
        log = peer.server.control("GET", f"/_test/{kind}")
        ours = [r for r in log["received"] if r.get("id") in ids.values()]
        for body in ours:
            seen[body["id"]] = body
            problems += [f"{kind} {body['id']}: {p}" for p in model_problems(kind, body)]
        assert not [u for u in log["updates"] if u.get("id") in ids.values()], "we never PATCH"
    # The batch requests (both attempts of the retried one).
    batches = 0
    for r in peer.server.requests():
        m = re.search(r"/v1/private/(traces|spans)/batch$", r["path"])
        if m and any(e.get("id") in ids.values() for e in (r["body_json"] or {}).get(m.group(1), [])):
            batches += 1
            problems += [f"{m.group(1)} batch: {p}" for p in batch_problems(m.group(1), r["body_json"])]
            if m.group(1) == "spans" and r["status"] == 503:
                assert r["body_json"]["spans"], "the refused batch"
    assert not problems, "\n".join(problems)
    assert batches >= 3, "a traces batch and two attempts of the spans batch"
    assert sorted(seen) == sorted(ids.values()), "every entity arrived (and the discarded one did not)"
    assert dropped_id not in seen

    # What the values became on the wire (the model check alone would accept a wrong one).
    tb = seen[ids["trace"]]
    assert (tb["input"], tb["output"]) == ({"value": [1, 2, 3]}, {"value": "plain text"})
    assert tb["metadata"] == {"k": {"nested": [True, None, 1.5]}}
    assert tb["tags"] == ["ü-tag", "b"] and tb["thread_id"] == "thread-é"
    assert tb["error_info"] == {"exception_type": "RuntimeError", "traceback": "RuntimeError"}
    assert seen[ids["bare"]].get("name") is None
    assert seen[ids["llm"]]["usage"] == {"prompt_tokens": 7}
    assert seen[ids["llm"]]["input"] == {"value": 42} and seen[ids["llm"]]["model"] == "gpt-x"
    assert "provider" not in seen[ids["llm"]]
    assert "usage" not in seen[ids["general"]] and seen[ids["general"]]["provider"] == "anthropic"
    assert seen[ids["tool"]]["error_info"] == {"exception_type": "ValueError", "message": "bad arg", "traceback": "bad arg"}
    assert seen[ids["tool"]]["metadata"] == {"value": None}
    for kind in ("general", "llm", "tool", "guardrail"):
        assert seen[ids[kind]]["type"] == kind
        assert seen[ids[kind]]["trace_id"] == ids["trace"] and "parent_span_id" not in seen[ids[kind]]
    assert seen[ids["child"]]["parent_span_id"] == ids["general"]
    assert seen[ids["grandchild"]]["parent_span_id"] == ids["child"]
    assert seen[ids["grandchild"]]["type"] == "general"
    for body in seen.values():
        assert UUID7_RE.match(body["id"]), body["id"]
        assert body["project_name"] == project
        assert TIME_RE.match(body["start_time"]) and TIME_RE.match(body["end_time"]), body
        assert parse_time(body["start_time"]) <= parse_time(body["end_time"])


# --- 2. read back through the SDK ------------------------------------------------------------------


def test_our_trace_reads_back_through_the_sdk(peer, lib, make_file):
    """Logged by us (ctypes), read back by the official SDK field by field, with attachments on the
    trace and on the LLM span; in S3 mode those go to SeaweedFS (a 2-part multipart upload)."""
    project = f"native-traces-{peer.mode}-{uuid.uuid4().hex[:8]}"
    shot_path, shot_sha = make_file("screenshot.png", 5 * MIB + 12_345, seed=13)
    prompt = json.dumps({"messages": [{"role": "user", "content": "describe the frame"}]}).encode() * 20
    if peer.proxy is not None:
        peer.proxy.clear()
    client = native_client(lib, peer, project_name=project)
    before = dt.datetime.now(UTC)
    try:
        trace = client.trace("frame loop")
        trace.set_input({"frame": 1, "prompt": "describe"}).set_metadata({"engine": "interop", "fps": 60})
        trace.add_tag("game").add_tag("frame").set_thread_id("thread-42")
        llm = trace.span("llm call", "llm")
        llm.set_input({"prompt": "describe"}).set_model("gpt-test", "openai").set_usage(12, 8, 20)
        llm.set_metadata({"temperature": 0.2}).add_tag("llm")
        tool = llm.span("tool call", "tool")
        tool.set_input({"arg": 3}).set_output({"result": None}).set_error("ValueError", "bad arg", "Traceback (most recent call last): ...")
        with lib.attachment_from_file(shot_path) as shot:
            trace.attach(shot)
        with lib.attachment_from_bytes(prompt, "prompt.json") as note:
            llm.attach(note)
        tool.end()
        trace.set_output({"answer": "a castle"})
        trace.end()  # before the llm span: the handles may end in any order
        llm.set_output({"text": "a castle"})
        llm.end()
        client.flush(60_000)
        after = dt.datetime.now(UTC)
        counters = client.counters()
        assert_clean_log(client)
    finally:
        client.close()
    assert counters["entities_sent"] == 3 and counters["entities_failed"] == 0, counters
    assert counters["attachments_sent"] == 2 and counters["attachments_failed"] == 0, counters
    assert counters["bytes_sent"] >= 5 * MIB + 12_345 + len(prompt), counters

    sent = {}
    for kind in ("traces", "spans"):
        for body in peer.server.control("GET", f"/_test/{kind}")["received"]:
            if body.get("id") in (trace.id, llm.id, tool.id):
                assert body["id"] not in sent, "each entity is sent once"
                sent[body["id"]] = body
                assert model_problems(kind, body) == []
    assert len(sent) == 3

    def times_of(entity_id):
        s, e = parse_time(sent[entity_id]["start_time"]), parse_time(sent[entity_id]["end_time"])
        assert before - dt.timedelta(seconds=1) <= s <= e <= after + dt.timedelta(seconds=1), (s, e)
        return s, e

    sdk = peer.sdk
    got = sdk.get_trace_content(trace.id)
    assert got.id == trace.id and got.name == "frame loop"
    assert (got.start_time, got.end_time) == times_of(trace.id)
    assert got.input == {"frame": 1, "prompt": "describe"}
    assert got.output == {"answer": "a castle"}
    assert got.metadata == {"engine": "interop", "fps": 60}
    assert sorted(got.tags) == ["frame", "game"]
    assert got.thread_id == "thread-42"
    assert got.error_info is None
    assert got.source == "sdk"
    assert got.duration == pytest.approx((got.end_time - got.start_time).total_seconds() * 1000, abs=0.01)
    assert (got.span_count, got.llm_span_count, got.has_tool_spans, got.providers) == (2, 1, True, ["openai"])

    spans = sdk.search_spans(project_name=project, trace_id=trace.id)
    by_id = {s.id: s for s in spans}
    assert sorted(by_id) == sorted([llm.id, tool.id])
    assert all(s.project_id == got.project_id for s in spans)

    s = by_id[llm.id]
    assert (s.name, s.type, s.trace_id, s.parent_span_id) == ("llm call", "llm", trace.id, None)
    assert (s.start_time, s.end_time) == times_of(llm.id)
    assert (s.input, s.output, s.metadata) == ({"prompt": "describe"}, {"text": "a castle"}, {"temperature": 0.2})
    assert (s.model, s.provider, s.tags) == ("gpt-test", "openai", ["llm"])
    assert s.usage == {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
    assert s.error_info is None

    s = sdk.get_span_content(tool.id)  # GET by id, the other read path
    assert s.id == tool.id
    assert (s.name, s.type, s.trace_id, s.parent_span_id) == ("tool call", "tool", trace.id, llm.id)
    assert (s.start_time, s.end_time) == times_of(tool.id)
    assert (s.input, s.output) == ({"arg": 3}, {"result": None})
    assert (s.model, s.provider, s.usage) == (None, None, None)
    assert s.error_info.exception_type == "ValueError"
    assert s.error_info.message == "bad arg"
    assert s.error_info.traceback == "Traceback (most recent call last): ..."

    # The attachments, through the SDK's attachment client (list, then download byte for byte).
    for entity_type, entity_id, name, size, mime, digest in (
        ("trace", trace.id, "screenshot.png", 5 * MIB + 12_345, "image/png", shot_sha),
        ("span", llm.id, "prompt.json", len(prompt), "application/json", hashlib.sha256(prompt).hexdigest()),
    ):
        listed = peer.attachments.get_attachment_list(project, entity_id, entity_type)
        assert [(a.file_name, a.file_size, a.mime_type) for a in listed] == [(name, size, mime)]
        data = b"".join(peer.attachments.download_attachment(project, entity_type, entity_id, name, mime))
        assert hashlib.sha256(data).hexdigest() == digest, name

    if peer.proxy is not None:
        # S3 mode: the bytes went to SeaweedFS through presigned URLs (2 parts for the screenshot,
        # 1 for the prompt), each accepted, and the SDK's download came back from it.
        storage = peer.proxy.take()
        parts = [r for r in storage if r["method"] == "PUT" and "partNumber=" in (r["query"] or "")]
        assert len(parts) == 3 and all(r["status"] == 200 for r in parts), parts
        assert all("X-Amz-Signature=" in r["query"] for r in parts)
        assert sum(r["body_len"] for r in parts) == 5 * MIB + 12_345 + len(prompt)
        gets = [r for r in storage if r["method"] == "GET" and "X-Amz-Signature=" in (r["query"] or "")]
        assert len(gets) >= 2 and all(r["status"] in (200, 206) for r in gets), gets


# --- 3. the transcript comparison ----------------------------------------------------------------

# Differences between the SDK's requests and ours for the same trace, as data: fnmatch pattern over
# the difference key -> one-line reason. Anything else that differs fails the test.
DELIBERATE: Dict[str, str] = {
    "count:trace-patch": "the SDK creates a trace when it starts and PATCHes it at end(); we send each entity once, whole, when it ends (§14), so no update is ever needed",
    "count:span-patch": "the SDK creates a span when it starts and PATCHes it at end(); we send each span once, whole, when it ends (§14)",
    "sent-later-by-sdk:*": "a field the SDK sends in its end() PATCH; we send it in the create (the entity compared is the SDK's create merged with its PATCH, as the server stores it)",
    "order:requests": "the SDK's create batches and PATCHes leave from separate queues in any order; we send a traces batch before the spans batch",
    "order:spans-batch": "we queue spans as they end (the nested tool span first); the SDK as they start",
    "key-order:*": "JSON object members are unordered (RFC 8259); the SDK writes its model's declaration order (minus nulls), we write a fixed order of our own",
    "body-only-sdk:*:last_updated_at": "the SDK stamps last_updated_at so the backend can order its create and its later PATCH; we send one create per entity, nothing to order",
    "body-only-sdk:tool:provider": "SDK 2.2.122's SpanClient.span() defaults provider to 'openai', so its nested tool span claims a provider nobody set; we send a provider only when the caller set one",
    "body-only-sdk:llm:usage.original_usage.*": "the SDK adds 'original_usage.'-prefixed copies of the usage it was given (its provider-usage flattening); we send the three OpenAI-style counts the C API takes",
    "time-value:*": "each client stamps times from its own clock (both RFC 3339 UTC with microseconds, checked)",
    "header-value:*:user-agent": "user-agent differs (python-httpx/… vs opik-attachments-native/…)",
    "header-only-sdk:*:x-opik-debug-sdk-version": "SDK diagnostic header, optional (§2): no server may require it",
    "header-only-sdk:*:x-opik-debug-py-version": "SDK diagnostic header, optional (§2): no server may require it",
    "header-only-sdk:*:x-opik-client-id": "SDK diagnostic header, optional (§2): no server may require it",
    "header-only-sdk:*:x-fern-language": "SDK diagnostic header, optional (§2): no server may require it",
    "header-only-sdk:*:accept-encoding": "the SDK offers gzip responses (optional, §2); we ask for identity bodies (batch answers are empty)",
    "header-only-sdk:*:content-encoding": "the SDK gzips JSON bodies from 256 bytes; we gzip batches from 64 KiB (this one is smaller: a few entities cost more CPU to compress than they save; gzip is optional, §2)",
    "header-only-sdk:*:connection": "httpx sends `Connection: keep-alive`, the HTTP/1.1 default; we keep connections alive without saying so",
}

# The same trace on both sides (the fields the C API can set). Times: now, on each side.
TRACE = dict(name="frame loop", input={"frame": 1, "prompt": "describe"}, metadata={"engine": "interop"}, tags=["game", "frame"], thread_id="thread-7")
TRACE_OUT = {"answer": "a castle"}
LLM = dict(name="llm call", input={"prompt": "describe"}, model="gpt-test", provider="openai", usage={"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20})
LLM_OUT = {"text": "a castle"}
TOOL = dict(name="tool call", input={"arg": 3})
TOOL_OUT = {"result": 9}
TOOL_ERROR = {"exception_type": "ValueError", "message": "bad arg", "traceback": "tb line"}
BATCH_KINDS = ("traces-batch", "spans-batch")
UNCOMPARED_HEADERS = {"host", "content-length"}


def log_with_sdk(opik_module, url: str, project: str) -> Dict[str, str]:
    sdk = opik_module.Opik(host=url, workspace=WORKSPACE, api_key=API_KEY, project_name=project)
    try:
        trace = sdk.trace(project_name=project, **TRACE)
        llm = trace.span(type="llm", **LLM)
        tool = llm.span(type="tool", **TOOL)
        tool.end(output=TOOL_OUT, error_info=TOOL_ERROR)
        llm.end(output=LLM_OUT)
        trace.end(output=TRACE_OUT)
        sdk.flush()
        return {trace.id: "trace", llm.id: "llm", tool.id: "tool"}
    finally:
        sdk.end()


def log_with_us(lib, url: str, project: str) -> Dict[str, str]:
    client = lib.client(url, api_key=API_KEY, workspace=WORKSPACE, project_name=project, timeout_ms=30_000, log_level=opik_c.OPIK_LOG_WARN)
    try:
        trace = client.trace(TRACE["name"])
        trace.set_input(TRACE["input"]).set_metadata(TRACE["metadata"]).set_thread_id(TRACE["thread_id"])
        for tag in TRACE["tags"]:
            trace.add_tag(tag)
        llm = trace.span(LLM["name"], "llm")
        llm.set_input(LLM["input"]).set_model(LLM["model"], LLM["provider"])
        llm.set_usage(LLM["usage"]["prompt_tokens"], LLM["usage"]["completion_tokens"], LLM["usage"]["total_tokens"])
        tool = llm.span(TOOL["name"], "tool")
        tool.set_input(TOOL["input"]).set_output(TOOL_OUT).set_error(TOOL_ERROR["exception_type"], TOOL_ERROR["message"], TOOL_ERROR["traceback"])
        roles = {trace.id: "trace", llm.id: "llm", tool.id: "tool"}
        tool.end()
        llm.set_output(LLM_OUT)
        llm.end()
        trace.set_output(TRACE_OUT)
        trace.end()
        client.flush(30_000)
        assert client.counters()["entities_sent"] == 3
        assert_clean_log(client)
        return roles
    finally:
        client.close()


def request_kind(method: str, path: str) -> str:
    if method == "POST" and path.endswith("/v1/private/traces/batch"):
        return "traces-batch"
    if method == "POST" and path.endswith("/v1/private/spans/batch"):
        return "spans-batch"
    if method == "PATCH" and re.search(r"/v1/private/traces/[0-9a-f-]{36}$", path):
        return "trace-patch"
    if method == "PATCH" and re.search(r"/v1/private/spans/[0-9a-f-]{36}$", path):
        return "span-patch"
    return f"{method} {path}"


def decode_body(record: Dict[str, Any]) -> Any:
    """The JSON body as sent, members in the order written (a list of pairs kept by the hook)."""
    raw = record.get("body") or b""
    if "gzip" in record["headers"].get("content-encoding", ""):
        raw = gzip.decompress(raw)
    return json.loads(raw, object_pairs_hook=OrderedPairs) if raw else None


class OrderedPairs(dict):
    """A dict that remembers the order its members were written in (json's object_pairs_hook)."""

    def __init__(self, pairs):
        super().__init__(pairs)
        self.written = [k for k, _ in pairs]


def side_requests(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    out = []
    for r in records:
        if "is-alive" in r["path"]:  # the SDK's connection monitor, at any moment
            continue
        out.append(dict(r, kind=request_kind(r["method"], r["path"]), json=decode_body(r)))
    return out


def entities(reqs: List[Dict[str, Any]], roles: Dict[str, str], problems: List[str], side: str):
    """role -> (merged entity as stored, the create body as written, fields that came in a PATCH)."""
    out: Dict[str, Tuple[Dict[str, Any], Any, List[str]]] = {}
    for r in reqs:
        if r["kind"] in BATCH_KINDS:
            for e in r["json"][r["kind"].split("-")[0]]:
                role = roles.get(e.get("id"))
                if role is None:
                    problems.append(f"{side}: an entity of no role: {e.get('id')}")
                elif role in out:
                    problems.append(f"{side}: {role} created twice")
                else:
                    out[role] = (dict(e), e, [])
    for r in reqs:
        if r["kind"] in ("trace-patch", "span-patch"):
            role = roles.get(r["path"].rsplit("/", 1)[1])
            if role not in out:
                problems.append(f"{side}: a PATCH of {role or r['path']} without its create")
                continue
            merged, _, later = out[role]
            for k, v in r["json"].items():
                if v is not None:
                    if merged.get(k) != v:
                        later.append(k)
                    merged[k] = v
    return out


def normalise(entity: Dict[str, Any], roles: Dict[str, str], problems: List[str], side: str) -> Dict[str, Any]:
    """Ids to their roles, times checked for format and replaced by the role's own marker."""
    out = {}
    for k, v in entity.items():
        if k in ("id", "trace_id", "parent_span_id") and isinstance(v, str):
            out[k] = f"<{roles.get(v, 'unknown id')}>"
        elif k in TIME_FIELDS:
            if not (isinstance(v, str) and TIME_RE.match(v)):
                problems.append(f"{side}: {k} {v!r} is not RFC 3339 UTC with microseconds")
            out[k] = v
        else:
            out[k] = v
    return out


def json_type(v: Any) -> str:
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", type(None): "null"}.get(type(v), type(v).__name__)


def compare_json(where: str, a: Any, b: Any) -> List[Tuple[str, str]]:
    if json_type(a) != json_type(b):
        return [(f"body-type:{where}", f"SDK {a!r}, ours {b!r}")]
    d: List[Tuple[str, str]] = []
    if isinstance(a, dict):
        role, _, path = where.partition(":")
        prefix = f"{path}." if path else ""
        for k in sorted(set(a) - set(b)):
            d.append((f"body-only-sdk:{role}:{prefix}{k}", repr(a[k])))
        for k in sorted(set(b) - set(a)):
            d.append((f"body-only-ours:{role}:{prefix}{k}", repr(b[k])))
        for k in sorted(set(a) & set(b)):
            if not path and k in TIME_FIELDS:
                if a[k] != b[k]:
                    d.append((f"time-value:{role}:{k}", f"SDK {a[k]}, ours {b[k]}"))
            else:
                d += compare_json(f"{role}:{prefix}{k}", a[k], b[k])
    elif isinstance(a, list):
        if len(a) != len(b):
            d.append((f"body-value:{where}", f"SDK {len(a)} items, ours {len(b)}"))
        for x, y in zip(a, b):
            d += compare_json(where, x, y)
    elif a != b:
        d.append((f"body-value:{where}", f"SDK {a!r}, ours {b!r}"))
    return d


def compare_sides(sdk: List[Dict[str, Any]], ours: List[Dict[str, Any]], sdk_roles, our_roles) -> Tuple[List[Tuple[str, str]], List[str], int]:
    """(differences, protocol problems, entity pairs compared)."""
    diffs: List[Tuple[str, str]] = []
    problems: List[str] = []
    cs, co = Counter(r["kind"] for r in sdk), Counter(r["kind"] for r in ours)
    for kind in sorted(set(cs) | set(co)):
        if cs[kind] != co[kind]:
            diffs.append((f"count:{kind}", f"SDK sent {cs[kind]}, we sent {co[kind]}"))
    if [r["kind"] for r in sdk] != [r["kind"] for r in ours]:
        diffs.append(("order:requests", f"SDK {[r['kind'] for r in sdk]}, ours {[r['kind'] for r in ours]}"))
    for side, reqs in (("SDK", sdk), ("ours", ours)):
        for r in reqs:
            if not 200 <= r["status"] < 300:
                problems.append(f"{side} {r['kind']}: HTTP {r['status']}")
            if r["headers"].get("authorization") != API_KEY or r["headers"].get("comet-workspace") != WORKSPACE:
                problems.append(f"{side} {r['kind']}: Opik headers missing or wrong")
            if r["kind"] in BATCH_KINDS:
                problems += [f"{side} {r['kind']}: {p}" for p in batch_problems(r["kind"].split("-")[0], r["json"])]
    # Headers and wrapper of the batch requests, pairwise.
    for kind in BATCH_KINDS:
        for x, y in zip([r for r in sdk if r["kind"] == kind], [r for r in ours if r["kind"] == kind]):
            hx, hy = x["headers"], y["headers"]
            for name in sorted(set(hx) - set(hy)):
                diffs.append((f"header-only-sdk:{kind}:{name}", f"{name}: {hx[name]}"))
            for name in sorted(set(hy) - set(hx)):
                diffs.append((f"header-only-ours:{kind}:{name}", f"{name}: {hy[name]}"))
            for name in sorted(set(hx) & set(hy) - UNCOMPARED_HEADERS):
                if hx[name] != hy[name]:
                    diffs.append((f"header-value:{kind}:{name}", f"SDK {hx[name]!r}, ours {hy[name]!r}"))
            if list(x["json"]) != list(y["json"]):
                diffs.append((f"body-wrapper:{kind}", f"SDK {list(x['json'])}, ours {list(y['json'])}"))
            roles_x = [sdk_roles.get(e.get("id")) for e in x["json"][kind.split("-")[0]]]
            roles_y = [our_roles.get(e.get("id")) for e in y["json"][kind.split("-")[0]]]
            if roles_x != roles_y:
                diffs.append((f"order:{kind}", f"SDK {roles_x}, ours {roles_y}"))
    # Entities, role by role: as stored (the SDK's create merged with its PATCH) and as written.
    es = entities(sdk, sdk_roles, problems, "SDK")
    eo = entities(ours, our_roles, problems, "ours")
    pairs = 0
    for role in ("trace", "llm", "tool"):
        if role not in es or role not in eo:
            problems.append(f"{role}: SDK sent {role in es}, we sent {role in eo}")
            continue
        pairs += 1
        (ms, ws, later), (mo, wo, ours_later) = es[role], eo[role]
        assert not ours_later
        for k in later:
            diffs.append((f"sent-later-by-sdk:{role}:{k}", "in the SDK's PATCH"))
        a = normalise(ms, sdk_roles, problems, "SDK")
        b = normalise(mo, our_roles, problems, "ours")
        diffs += compare_json(f"{role}:", a, b)
        written_x, written_y = getattr(ws, "written", list(ws)), getattr(wo, "written", list(wo))
        common_x = [k for k in written_x if k in wo]
        common_y = [k for k in written_y if k in ws]
        if common_x != common_y:
            diffs.append((f"key-order:{role}", f"SDK {written_x}, ours {written_y}"))
    return list(dict.fromkeys(diffs)), problems, pairs


def deliberate_reason(key: str) -> Optional[str]:
    for pattern, reason in DELIBERATE.items():
        if fnmatch.fnmatchcase(key, pattern):
            return reason
    return None


def write_summary(sdk, ours, pairs, found: Dict[str, Tuple[str, str]], problems: List[str]) -> None:
    lines = [
        "trace/span transcript comparison: the same trace (3 entities) logged by the official SDK and by our library (C ABI)",
        f"  direct mode: SDK {len(sdk)} requests {dict(Counter(r['kind'] for r in sdk))}, "
        f"ours {len(ours)} {dict(Counter(r['kind'] for r in ours))}, {pairs} entities compared field by field",
        "differences, each explained:",
    ]
    by_reason: Dict[str, List[str]] = {}
    for key, (reason, detail) in found.items():
        by_reason.setdefault(reason, []).append(f"{key}: {detail}")
    for reason, items in by_reason.items():
        lines.append(f"  - {reason}")
        lines += [f"      {item[:200]}" for item in items]
    unseen = [p for p in DELIBERATE if not any(fnmatch.fnmatchcase(k, p) for k in found)]
    if unseen:
        lines.append("listed as deliberate but not observed in this run: " + ", ".join(unseen))
    lines.append(f"protocol violations and unexplained differences: {len(problems) or 'none'}")
    lines += [f"  ! {p}" for p in problems]
    os.makedirs(os.path.dirname(TRACES_SUMMARY_PATH), exist_ok=True)
    with open(TRACES_SUMMARY_PATH, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_trace_transcripts_match_the_sdk(direct_server, lib, opik_module):
    """The same trace from both clients, recorded byte for byte by a proxy in front of the test
    server; every difference is listed in DELIBERATE with its reason."""
    proxy = peers.RecordingProxy(direct_server.port, keep_bodies=4 * MIB)
    url = proxy.endpoint + "/"
    project = f"transcript-traces-{uuid.uuid4().hex[:8]}"
    try:
        sdk_roles = log_with_sdk(opik_module, url, project)
        time.sleep(0.2)
        sdk = side_requests(proxy.take())
        our_roles = log_with_us(lib, url, project)
        ours = side_requests(proxy.take())
    finally:
        proxy.stop()
    assert sdk and ours
    diffs, problems, pairs = compare_sides(sdk, ours, sdk_roles, our_roles)
    found: Dict[str, Tuple[str, str]] = {}
    for key, detail in diffs:
        reason = deliberate_reason(key)
        if reason is None:
            problems.append(f"{key}: {detail}")
        else:
            found.setdefault(key, (reason, detail))
    write_summary(sdk, ours, pairs, found, problems)
    assert pairs == 3
    assert not problems, "\n".join(problems)
    # The comparison did look into the bodies (the SDK always stamps last_updated_at).
    assert "body-only-sdk:trace:last_updated_at" in found


def test_the_trace_comparison_catches_differences():
    """The comparer itself: a value, a type, a missing field, an extra field and a wrong parent
    differ and are not deliberate (so a green comparison means something)."""
    t = {"id": "T", "name": "n", "start_time": "2026-01-02T03:04:05.000006Z", "tags": ["a"], "input": {"x": 1}}
    s = {"id": "S", "trace_id": "T", "type": "llm", "name": "s", "start_time": "2026-01-02T03:04:05.000006Z", "usage": {"prompt_tokens": 1}}
    u = {"id": "U", "trace_id": "T", "parent_span_id": "S", "type": "tool", "name": "u", "start_time": "2026-01-02T03:04:05.000006Z"}

    def req(kind, body):
        return {"kind": kind, "status": 200, "headers": {"authorization": API_KEY, "comet-workspace": WORKSPACE}, "json": body}

    def side(trace, spans):
        return [req("traces-batch", {"traces": [trace]}), req("spans-batch", {"spans": spans})]

    roles = {"T": "trace", "S": "llm", "U": "tool"}
    sdk = side(t, [s, u])
    diffs, problems, pairs = compare_sides(sdk, side(dict(t), [dict(s), dict(u)]), roles, roles)
    assert (diffs, problems, pairs) == ([], [], 3)
    ours = side(
        dict(t, name="other", tags="a", colour=1),
        [dict(s, usage={"prompt_tokens": 2}), dict(u, parent_span_id="T", start_time="2026-01-02 03:04:05")],
    )
    diffs, problems, _ = compare_sides(sdk, ours, roles, roles)
    keys = {k for k, _ in diffs}
    expected = {"body-value:trace:name", "body-type:trace:tags", "body-only-ours:trace:colour", "body-value:llm:usage.prompt_tokens", "body-value:tool:parent_span_id"}
    assert expected <= keys, keys
    assert all(deliberate_reason(k) is None for k in expected)
    assert any("RFC 3339" in p for p in problems), problems
