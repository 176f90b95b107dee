"""The official SDK logs a trace with spans to the test server and reads them back through its own
read calls (`Opik.get_trace_content` → `GET v1/private/traces/{id}`, `Opik.search_spans` → `POST
v1/private/spans/search`, an NDJSON stream of SpanPublic), field by field, in both storage modes.

This is what makes the server a valid peer for checking our library's traces and spans: the
requests the SDK sends are accepted (no unknown fields among them), and the answers parse into the
SDK's own `TracePublic` / `SpanPublic` models with every value intact.
"""

import datetime as dt
import uuid

UTC = dt.timezone.utc


def _t(ms: int) -> dt.datetime:
    return dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC) + dt.timedelta(milliseconds=ms)


def test_sdk_logs_and_reads_back_traces_and_spans(peer):
    sdk = peer.sdk
    project = f"traces-{peer.mode}-{uuid.uuid4().hex[:8]}"
    trace = sdk.trace(
        name="frame loop",
        project_name=project,
        start_time=_t(0),
        input={"frame": 1, "prompt": "describe"},
        metadata={"engine": "test"},
        tags=["game", "frame"],
        thread_id="thread-7",
    )
    llm = trace.span(
        name="llm call",
        type="llm",
        start_time=_t(10),
        input={"prompt": "describe"},
        model="gpt-test",
        provider="openai",
        usage={"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
    )
    tool = llm.span(name="tool call", type="tool", start_time=_t(20), input={"arg": 3})
    tool.end(
        end_time=_t(30),
        output={"result": 9},
        error_info={"exception_type": "ValueError", "message": "bad arg", "traceback": "tb line"},
    )
    llm.end(end_time=_t(40), output={"text": "a castle"})
    trace.end(end_time=_t(50), output={"answer": "a castle"})
    sdk.flush()

    got = sdk.get_trace_content(trace.id)
    assert got.id == trace.id
    assert got.name == "frame loop"
    assert got.start_time == _t(0)
    assert got.end_time == _t(50)
    assert got.input == {"frame": 1, "prompt": "describe"}
    assert got.output == {"answer": "a castle"}
    assert got.metadata == {"engine": "test"}
    assert sorted(got.tags) == ["frame", "game"]
    assert got.thread_id == "thread-7"
    assert got.source == "sdk"
    assert got.duration == 50.0
    assert got.span_count == 2
    assert got.llm_span_count == 1
    assert got.has_tool_spans is True
    assert got.providers == ["openai"]

    spans = sdk.search_spans(project_name=project, trace_id=trace.id)
    by_id = {s.id: s for s in spans}
    assert sorted(by_id) == sorted([llm.id, tool.id])
    assert all(s.project_id == got.project_id for s in spans)

    s = by_id[llm.id]
    assert (s.name, s.type, s.trace_id, s.parent_span_id) == ("llm call", "llm", trace.id, None)
    assert (s.start_time, s.end_time) == (_t(10), _t(40))
    assert s.input == {"prompt": "describe"}
    assert s.output == {"text": "a castle"}
    assert (s.model, s.provider) == ("gpt-test", "openai")
    for key, value in {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}.items():
        assert s.usage[key] == value, s.usage
    assert s.error_info is None

    s = by_id[tool.id]
    assert (s.name, s.type, s.trace_id, s.parent_span_id) == ("tool call", "tool", trace.id, llm.id)
    assert (s.start_time, s.end_time) == (_t(20), _t(30))
    assert s.input == {"arg": 3}
    assert s.output == {"result": 9}
    assert s.error_info.exception_type == "ValueError"
    assert s.error_info.message == "bad arg"
    assert s.error_info.traceback == "tb line"

    # Another trace's spans are not returned; the SDK sent nothing outside its own models.
    assert sdk.search_spans(project_name=project, trace_id=str(uuid.uuid4())) == []
    for kind in ("traces", "spans"):
        log = peer.server.control("GET", f"/_test/{kind}")
        assert log["unknown_fields"] == [], (kind, log["unknown_fields"])
        assert any(r.get("project_name") == project for r in log["received"]), kind
