#!/usr/bin/env python3
"""Caller-side latency of the official Opik Python SDK's background attachment upload call.

The counterpart of benches/async_latency.c, measured the same way against the same test server:
N timed calls (time.perf_counter_ns around the call only) that each queue one 64-byte attachment
for background upload to its own span id, in three steps:

  warm-up   1,000 untimed calls, then flush (as the C program does);
  idle      N timed calls, then flush;
  busy      a 1 GiB file queued for background upload by the SDK itself first (in S3 mode a
            multi-part upload: the SDK sends its 5 MiB parts one after another on one of its
            upload worker threads), then, once its first bytes reach the server, N timed calls,
            then flush.

The call measured: ``opik.Opik.queue_attachment_upload(entity_type, entity_id, project_name,
file_path, file_name, mime_type)``. It is the cheapest public path in opik 2.2.122 that ends in a
background attachment upload: it builds an ``Attachment`` (with ``create_temp_copy=False``) and
puts one ``CreateAttachmentMessage`` on the SDK's message streamer, which hands it to the
file-upload thread pool (16 workers by default), and returns. The other public paths do more on
the calling thread: ``Opik.span(..)`` / ``Opik.trace(..)`` / ``span.update(..)`` with
``attachments=[opik.Attachment(..)]`` also create (or update) a span or trace message, and with
``data=bytes`` (the default ``create_temp_copy=True`` for paths) they first write a temporary copy
of the data to disk on the calling thread; ``AttachmentClient.upload_attachment`` is synchronous
(it uploads on the caller's thread). The SDK takes attachments from files only (bytes are written
to a temp file first), so the 64 bytes live in one small file written once, whose path is passed
on every call; the C side passes an in-memory attachment handle. mime_type is given explicitly
so the SDK does not guess it per call (the C side's attachment has it fixed too).

As in the C program, the calls of a phase cycle through --keys span ids (default 100; same file
name), one project per phase, so the test server's row table stays small. Uploads are checked to
arrive, with benches/verify_arrivals.py, the same check the driver applies to the C program: one
successful upload-complete per call in the server's request transcript, no failed request, and
every span's row with the right size and SHA-256 (the big file's too), so neither side "wins" by
dropping work. A call that raises counts as a failure; any failure, a flush that does not
complete or a missing upload makes the exit status 1.

Usage: async_latency_sdk.py [N [BIG]] [--warmup W] [--keys K] [--json FILE] [--prefix P]
                            [--flush-timeout S]
  N     timed calls per phase (default 100000)
  BIG   path of the big file (default 1G), or a size such as 1G / 64M to create one (deleted after)

Environment: OPIK_URL_OVERRIDE (required, the test server's base URL), OPIK_API_KEY; this script
sets OPIK_WORKSPACE=default, OPIK_SENTRY_ENABLE=false, OPIK_ANALYTICS_ENABLE=false and a temporary
HOME / OPIK_CONFIG_PATH (an empty [opik] section) unless they are already set.
Output: a human-readable table, then one line "JSON {...}" (also written to --json FILE).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from array import array
from typing import Dict, List, Optional

from sdk_env import isolate_environment

SMALL_LEN = 64


def parse_size(text: str) -> Optional[int]:
    m = re.fullmatch(r"(\d+)([KkMmGg]?)(i?B?)", text)
    if not m:
        return None
    mul = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * mul


def pct(sorted_ns: List[int], q: float) -> int:
    """Nearest-rank percentile (the same definition as the C program)."""
    n = len(sorted_ns)
    rank = min(n, max(1, int(n * q + 0.999999999)))
    return sorted_ns[rank - 1]


def summarize(name: str, project: str, ns: array, failures: int, loop_s: float, flush_s: float) -> Dict:
    values = list(ns)
    max_index = max(range(len(values)), key=values.__getitem__)
    s = sorted(values)
    return {
        "name": name,
        "n": len(values),
        "failures": failures,
        "p50_us": pct(s, 0.50) / 1e3,
        "p99_us": pct(s, 0.99) / 1e3,
        "p999_us": pct(s, 0.999) / 1e3,
        "max_us": s[-1] / 1e3,
        "mean_us": sum(values) / len(values) / 1e3,
        "over_100us": sum(1 for v in values if v > 100_000),
        "over_1ms": sum(1 for v in values if v > 1_000_000),
        "max_index": max_index,
        "loop_s": round(loop_s, 3),
        "flush_s": round(flush_s, 3),
        "project": project,
        "note": "",
    }


class TestServer:
    """The test server's control endpoints (not part of the Opik API; no auth)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    def _get(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=600) as r:
            return json.loads(r.read())

    def stats(self) -> Dict:
        return self._get("/_test/stats")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=100_000)
    ap.add_argument("big", nargs="?", default="1G")
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--keys", type=int, default=100, help="span ids the calls cycle through")
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--prefix", default="bench-sdk")
    ap.add_argument("--flush-timeout", type=int, default=3600, help="seconds per flush")
    args = ap.parse_args()

    temp_home = isolate_environment()
    url = os.environ.get("OPIK_URL_OVERRIDE")
    if not url:
        print("async_latency_sdk: set OPIK_URL_OVERRIDE to the test server's base URL", file=sys.stderr)
        return 2

    import opik  # noqa: E402  (after the environment is set)

    work = tempfile.mkdtemp(prefix="opik-bench-sdk-")
    try:
        return run(args, url, work, opik)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if temp_home:
            shutil.rmtree(temp_home, ignore_errors=True)


def run(args, url: str, work: str, opik) -> int:
    server = TestServer(url)
    n = args.n
    if os.path.exists(args.big):
        big_path = args.big
    else:
        size = parse_size(args.big)
        if size is None:
            print(f"async_latency_sdk: {args.big} is neither a file nor a size", file=sys.stderr)
            return 2
        big_path = os.path.join(work, "big.bin")
        with open(big_path, "wb") as f:
            left = size
            while left:
                chunk = min(left, 1 << 20)
                f.write(os.urandom(chunk))
                left -= chunk
    big_size = os.path.getsize(big_path)

    small_path = os.path.join(work, "small.bin")
    small_bytes = bytes((i * 37 + 11) & 0xFF for i in range(SMALL_LEN))  # the C program's bytes
    with open(small_path, "wb") as f:
        f.write(small_bytes)

    projects = {p: f"{args.prefix}-{p}" for p in ("warmup", "idle", "busy", "big")}
    # Span ids (UUID v7 layout), one per call, cycling through --keys distinct ones; made before
    # timing.
    keys = max(1, args.keys)
    rnd = os.urandom(16 * keys)
    distinct = []
    for i in range(keys):
        h = rnd[16 * i:16 * i + 16].hex()
        distinct.append(f"{h[0:8]}-{h[8:12]}-7{h[13:16]}-8{h[17:20]}-{h[20:32]}")
    ids = [distinct[i % keys] for i in range(max(n, args.warmup))]

    pc = time.perf_counter_ns
    clock = array("Q", bytes(8 * 10000))
    for i in range(10000):
        t0 = pc()
        clock[i] = pc() - t0
    clock_sorted = sorted(clock)

    client = opik.Opik(host=url, workspace=os.environ["OPIK_WORKSPACE"], api_key=os.environ["OPIK_API_KEY"],
                       project_name=projects["idle"], _show_misconfiguration_message=False)
    queue = client.queue_attachment_upload  # the call measured

    def timed(project: str, count: int, ns: array) -> int:
        failures = 0
        for i in range(count):
            eid = ids[i]
            t0 = pc()
            try:
                queue("span", eid, project, small_path, "small.bin", "application/octet-stream")
            except Exception as e:  # a refused call
                t1 = pc()
                failures += 1
                if failures <= 5:
                    print(f"call {i} of {project}: {e!r}", file=sys.stderr)
            else:
                t1 = pc()
            ns[i] = t1 - t0
        return failures

    def flush(what: str) -> float:
        t0 = time.monotonic()
        ok = client.flush(timeout=args.flush_timeout)
        if not ok:
            raise SystemExit(f"async_latency_sdk: {what}: flush did not complete within {args.flush_timeout} s")
        return time.monotonic() - t0

    t_start = time.monotonic()
    ns = array("Q", bytes(8 * max(n, args.warmup)))
    warm_fail = timed(projects["warmup"], args.warmup, ns)
    flush("warm-up")
    if warm_fail:
        print(f"async_latency_sdk: {warm_fail} warm-up calls failed", file=sys.stderr)
        return 1

    ns = array("Q", bytes(8 * n))
    t0 = time.monotonic()
    fail = timed(projects["idle"], n, ns)
    loop_s = time.monotonic() - t0
    idle = summarize("idle", projects["idle"], ns, fail, loop_s, flush("idle"))

    # Busy: the SDK's own background upload of the big file, then the timed calls.
    before = server.stats()["bytes_received"]
    queue("span", "0193a7c2-5b1e-7d4f-8a2b-000000000b19", projects["big"], big_path, "big.bin",
          "application/octet-stream")
    deadline = time.monotonic() + 30
    b0 = before
    while time.monotonic() < deadline:
        b0 = server.stats()["bytes_received"]
        if b0 > before:
            break
        time.sleep(0.001)
    ns = array("Q", bytes(8 * n))
    t0 = time.monotonic()
    fail = timed(projects["busy"], n, ns)
    loop_s = time.monotonic() - t0
    b1 = server.stats()["bytes_received"]
    busy = summarize("busy", projects["busy"], ns, fail, loop_s, flush("busy"))
    mib = 1 << 20
    busy["note"] = (f"server received {(b0 - before) / mib:.0f} MiB -> {(b1 - before) / mib:.0f} MiB "
                    f"(the big file's {big_size / mib:.0f} MiB plus the 64-byte uploads) during the timed calls")

    client.end()
    total_s = time.monotonic() - t_start

    # Every upload must have arrived (the same check as for the C program).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import verify_arrivals

    h = hashlib.sha256()
    with open(big_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    expected = {projects[p]: (c, keys) for p, c in (("warmup", args.warmup), ("idle", n), ("busy", n)) if c}
    arrived_ok, arrived = verify_arrivals.verify(
        url, (SMALL_LEN, hashlib.sha256(small_bytes).hexdigest()), expected,
        (projects["big"], big_size, h.hexdigest()))

    phases = [idle, busy]
    print(f"opik SDK {opik.__version__} queue_attachment_upload caller-side latency (microseconds), "
          f"{big_size}-byte big file")
    print(f"perf_counter_ns pair overhead: p50 {pct(clock_sorted, 0.5)} ns, p99 {pct(clock_sorted, 0.99)} ns "
          "(included in every figure)")
    print(f"  {'phase':<12} {'calls':>8} {'p50':>10} {'p99':>10} {'p99.9':>10} {'max':>10} {'mean':>10} "
          f"{'>100us':>8} {'>1ms':>8} {'failed':>8} {'loop s':>9} {'flush s':>8}")
    for p in phases:
        print(f"  {p['name']:<12} {p['n']:>8} {p['p50_us']:>10.2f} {p['p99_us']:>10.2f} {p['p999_us']:>10.2f} "
              f"{p['max_us']:>10.2f} {p['mean_us']:>10.2f} {p['over_100us']:>8} {p['over_1ms']:>8} "
              f"{p['failures']:>8} {p['loop_s']:>9.2f} {p['flush_s']:>8.2f}")
    print(f"  busy: {busy['note']}")
    print(("  arrived on the server: " if arrived_ok else "  NOT ALL ARRIVED: ") + arrived)

    failures = idle["failures"] + busy["failures"]
    result = {
        "impl": "opik Python SDK",
        "version": opik.__version__,
        "python": sys.version.split()[0],
        "call": "Opik.queue_attachment_upload",
        "n": n,
        "warmup": args.warmup,
        "attachment_bytes": SMALL_LEN,
        "big_bytes": big_size,
        "keys": keys,
        "busy_source": "sdk",
        "clock_pair_p50_ns": pct(clock_sorted, 0.5),
        "failures": failures,
        "verify_ok": arrived_ok,
        "arrived": arrived,
        "phases": {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in phases},
        "projects": projects,
        "total_s": round(total_s, 2),
    }
    line = json.dumps(result, separators=(",", ":"))
    print("JSON " + line)
    if args.json_path:
        with open(args.json_path, "w") as f:
            f.write(line + "\n")
    if not arrived_ok:
        print("async_latency_sdk: uploads missing on the server", file=sys.stderr)
    if failures:
        print(f"async_latency_sdk: {failures} calls raised", file=sys.stderr)
    return 1 if failures or not arrived_ok else 0


if __name__ == "__main__":
    sys.exit(main())
