#!/usr/bin/env python3
"""Traces-and-spans benchmark, SDK side: the official Opik Python SDK (opik==2.2.122) logging
traces and spans, the counterpart of benches/bench_traces.c with the same command line and output.

Usage:
  bench_traces_sdk.py spans --traces T --spans-per-trace S --input-bytes B --project P
  bench_traces_sdk.py images FILE --traces T --project P
  bench_traces_sdk.py embedded FILE --traces T --project P

spans   T traces of S spans each, on the main thread, the way the SDK documents it:
        ``trace = client.trace(name=..., project_name=P)``, per span
        ``span = trace.span(name="span-<i>", type="general", input={"prompt": text})`` (the input
        serialises to exactly B bytes of JSON, as on our side), then ``span.end()`` timed alone
        with ``time.perf_counter_ns`` (end time now; the SDK queues an update message, sent as one
        PATCH per span by its consumer threads), then ``trace.end()``. The span's whole cost
        (``trace.span(...)`` + ``span.end()``) is timed too. Then ``client.flush(timeout=1800)``.
        ``seconds`` runs from the first ``client.trace`` to flush's return.
images  T traces, each ``client.trace(name=..., project_name=P,
        attachments=[opik.Attachment(data=FILE, file_name="frame.png", content_type="image/png")])``
        then ``trace.end()``, then ``client.flush(timeout=1800)`` (which waits for the SDK's file
        upload manager too).
embedded T traces, each logged ended in one call, ``client.trace(name=..., project_name=P,
        input={"messages": [{"role": "user", "image_url": "data:image/png;base64,<FILE in
        base64>"}]}, end_time=now)`` (the data URI built once, untimed), then
        ``client.flush(timeout=1800)``. One call, not ``client.trace(input=...)`` then
        ``trace.end()``: the SDK only extracts from a create message that has its end time or from
        an update message with input/output/metadata, so that pair sends the image inline in the
        trace (checked: no placeholder arrives). Our side's start + set_input + end is one entity. The SDK keeps its
        default extractor settings (is_attachment_extraction_active = True,
        min_base64_embedded_attachment_size = 256,000): it takes the ~400,000-character image out
        of each input and uploads it as the trace's attachment, as our library does.

Before the clock starts: ``import opik``, the client, and a warm-up of one trace with one span (in
``images``: one trace with the attachment), flushed, as on our side. A flush that reports failure
or lost data (``client.last_flush_result``) is a failure (exit 1). Two settings differ from the
SDK's defaults, both through its documented environment variables: the batching-update warning
(logged on every ``span.end()``) is silenced (OPIK_SUPPRESS_BATCHING_UPDATE_WARNING), and the
message queue is enlarged (OPIK_MAXIMAL_QUEUE_SIZE=100,000,000, i.e. 10,000,000 messages with
batching): with the default (100,000 messages with batching) the SDK discards the oldest messages
of a 100,000-span run ("The message queue size limit has been reached"), so it would not deliver
what is measured. Both make the SDK faster or complete, not slower. Batching stays on.

Output: one line ``RESULT {json}`` with the same keys as bench_traces.c (tool "sdk"); everything
else goes to stderr. Environment: OPIK_URL_OVERRIDE (required), OPIK_API_KEY, OPIK_WORKSPACE;
the SDK is isolated from the user's configuration as in bench_sdk.py (sdk_env.py).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import shutil
import sys
import time
from typing import List

from sdk_env import isolate_environment

PROG = "bench_traces_sdk"
FLUSH_TIMEOUT_S = 1800
# The SDK's message queue holds maximal_queue_size / 10 messages when batching (100,000 by
# default) and then discards the oldest: 100,000 spans make 100,000 update messages faster than
# its consumers send them, and with the default it drops data. Raised so that it delivers all.
MAXIMAL_QUEUE_SIZE = 100_000_000


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.print_usage(sys.stderr)
        print(f"{PROG}: {message}", file=sys.stderr)
        sys.exit(2)


def _parse(argv: List[str]) -> argparse.Namespace:
    ap = _Parser(prog="bench_traces_sdk.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="op", required=True, parser_class=_Parser)
    spans = sub.add_parser("spans")
    spans.add_argument("--traces", type=int, required=True)
    spans.add_argument("--spans-per-trace", type=int, required=True)
    spans.add_argument("--input-bytes", type=int, required=True)
    spans.add_argument("--project", required=True)
    images = sub.add_parser("images")
    images.add_argument("file")
    images.add_argument("--traces", type=int, required=True)
    images.add_argument("--project", required=True)
    embedded = sub.add_parser("embedded")
    embedded.add_argument("file")
    embedded.add_argument("--traces", type=int, required=True)
    embedded.add_argument("--project", required=True)
    args = ap.parse_args(argv)
    if args.traces < 1:
        ap.error("--traces must be at least 1")
    if args.op == "spans" and (args.spans_per_trace < 1 or args.input_bytes < 48):
        ap.error("--spans-per-trace >= 1 and --input-bytes >= 48 are required")
    return args


def _vmhwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _stats(ns: List[int]) -> dict:
    ns = sorted(ns)
    n = len(ns)

    def pct(q: float) -> float:
        rank = min(n, max(1, int(n * q + 0.999999999)))
        return ns[rank - 1] / 1e3

    return {"p50": pct(0.50), "p99": pct(0.99), "p999": pct(0.999), "max": ns[-1] / 1e3,
            "mean": sum(ns) / n / 1e3}


def _filler(input_bytes: int) -> str:
    """The constant tail of every prompt: bench_traces.c fills position k of the JSON object, after
    '{"prompt": "span NNNNNNNNN ', with 'a' + k % 26 up to the closing '"}'."""
    start = len('{"prompt": "span 000000000 ')
    return "".join(chr(ord("a") + (k % 26)) for k in range(start, input_bytes - 2))


def _prompt(i: int, filler: str) -> str:
    """The text whose {"prompt": text} is the input of span i, as in bench_traces.c."""
    return f"span {i:09d} " + filler


def _flush(client) -> None:
    ok = client.flush(timeout=FLUSH_TIMEOUT_S)
    result = client.last_flush_result
    if not ok:
        raise SystemExit(f"{PROG}: client.flush() reported a failure: {result!r}")


def main(argv: List[str]) -> int:
    args = _parse(argv)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    home = isolate_environment()
    try:
        return _run(args, real_stdout)
    finally:
        if home:
            shutil.rmtree(home, ignore_errors=True)


def _run(args: argparse.Namespace, real_stdout) -> int:
    url = os.environ.get("OPIK_URL_OVERRIDE")
    if not url:
        print(f"{PROG}: set OPIK_URL_OVERRIDE to the test server's base URL", file=sys.stderr)
        return 1
    os.environ["OPIK_SUPPRESS_BATCHING_UPDATE_WARNING"] = "true"
    os.environ.setdefault("OPIK_MAXIMAL_QUEUE_SIZE", str(MAXIMAL_QUEUE_SIZE))
    import opik  # after the environment is set

    client = opik.Opik(host=url, workspace=os.environ["OPIK_WORKSPACE"], api_key=os.environ["OPIK_API_KEY"],
                       project_name=args.project, _show_misconfiguration_message=False)
    try:
        if args.op == "spans":
            result = _spans(client, args)
        elif args.op == "embedded":
            result = _embedded(client, args)
        else:
            result = _images(client, args, opik.Attachment)
    finally:
        client.end()
    real_stdout.write("RESULT " + json.dumps(result) + "\n")
    real_stdout.flush()
    return 0


def _spans(client, args) -> dict:
    n = args.traces * args.spans_per_trace
    # Warm-up (untimed): one trace with one span, flushed.
    trace = client.trace(name="warm-up", project_name=args.project)
    filler = _filler(args.input_bytes)
    if len(json.dumps({"prompt": _prompt(0, filler)})) != args.input_bytes:
        raise SystemExit(f"{PROG}: the input is not {args.input_bytes} bytes")
    trace.span(name="warm-up", type="general", input={"prompt": _prompt(0, filler)}).end()
    trace.end()
    _flush(client)
    end_ns = [0] * n
    span_ns = [0] * n
    clock = time.perf_counter_ns
    c0 = time.process_time()
    t0 = time.perf_counter()
    i = 0
    for tr in range(args.traces):
        trace = client.trace(name=f"trace-{tr}", project_name=args.project)
        for _ in range(args.spans_per_trace):
            # Made outside the timed calls, as our side fills its one buffer.
            name, prompt = f"span-{i}", _prompt(i + 1, filler)
            s0 = clock()
            span = trace.span(name=name, type="general", input={"prompt": prompt})
            e0 = clock()
            span.end()
            e1 = clock()
            end_ns[i] = e1 - e0
            span_ns[i] = e1 - s0
            i += 1
        trace.end()
    t1 = time.perf_counter()
    _flush(client)
    t2 = time.perf_counter()
    c1 = time.process_time()
    return {"tool": "sdk", "op": "spans", "seconds": t2 - t0, "loop_seconds": t1 - t0,
            "flush_seconds": t2 - t1, "cpu_seconds": c1 - c0, "count": n, "traces": args.traces,
            "bytes": n * args.input_bytes, "end_us": _stats(end_ns), "span_us": _stats(span_ns),
            "vmhwm_kb": _vmhwm_kb()}


def _images(client, args, attachment) -> dict:
    size = os.path.getsize(args.file)

    def image():
        return attachment(data=args.file, file_name="frame.png", content_type="image/png")

    trace = client.trace(name="warm-up", project_name=args.project, attachments=[image()])
    trace.end()
    _flush(client)
    call_ns = [0] * args.traces
    clock = time.perf_counter_ns
    c0 = time.process_time()
    t0 = time.perf_counter()
    for tr in range(args.traces):
        s0 = clock()
        trace = client.trace(name=f"frame-{tr}", project_name=args.project, attachments=[image()])
        trace.end()
        call_ns[tr] = clock() - s0
    t1 = time.perf_counter()
    _flush(client)
    t2 = time.perf_counter()
    c1 = time.process_time()
    return {"tool": "sdk", "op": "images", "seconds": t2 - t0, "loop_seconds": t1 - t0,
            "flush_seconds": t2 - t1, "cpu_seconds": c1 - c0, "count": args.traces,
            "bytes": args.traces * size, "trace_us": _stats(call_ns), "vmhwm_kb": _vmhwm_kb()}


def _embedded(client, args) -> dict:
    with open(args.file, "rb") as f:
        raw = f.read()
    uri = "data:image/png;base64," + base64.b64encode(raw).decode("ascii")

    def message():
        return {"messages": [{"role": "user", "image_url": uri}]}

    def now():
        return datetime.datetime.now(datetime.timezone.utc)

    client.trace(name="warm-up", project_name=args.project, input=message(), end_time=now())
    _flush(client)
    call_ns = [0] * args.traces
    clock = time.perf_counter_ns
    c0 = time.process_time()
    t0 = time.perf_counter()
    for tr in range(args.traces):
        s0 = clock()
        client.trace(name=f"chat-{tr}", project_name=args.project, input=message(), end_time=now())
        call_ns[tr] = clock() - s0
    t1 = time.perf_counter()
    _flush(client)
    t2 = time.perf_counter()
    c1 = time.process_time()
    return {"tool": "sdk", "op": "embedded", "seconds": t2 - t0, "loop_seconds": t1 - t0,
            "flush_seconds": t2 - t1, "cpu_seconds": c1 - c0, "count": args.traces,
            "bytes": args.traces * len(raw), "input_chars": len(json.dumps(message(), separators=(",", ":"))),
            "trace_us": _stats(call_ns), "vmhwm_kb": _vmhwm_kb()}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
