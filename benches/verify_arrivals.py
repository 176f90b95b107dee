#!/usr/bin/env python3
"""Checks on the test server that a latency benchmark's background uploads really arrived.

Used by benches/run-async-latency (for the C program) and by benches/async_latency_sdk.py (for the
SDK), so both sides are held to the same check and neither "wins" by dropping work:

- the request transcript (GET /_test/requests) must hold, for each project, exactly the expected
  number of successful (2xx) `upload-complete` requests — one per call — and as many successful
  `upload-start` requests, and no failed request at all for the project;
- the attachment rows (GET /_test/attachments) must hold, for each project, one row per span id
  used (the calls cycle through a small set of span ids, so the server's row table stays small:
  its upsert scans every row, which made 100,000 distinct rows take tens of minutes), each with
  the expected size and SHA-256 (computed by the server from the stored bytes);
- the big file's row must have its full size (and SHA-256, when given).

CLI: verify_arrivals.py BASE_URL --small SIZE:SHA256 --expect PROJECT=CALLS/KEYS ...
                                 [--big PROJECT=SIZE[:SHA256]]
Exit status 0 when everything arrived, 1 otherwise; one summary line on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from typing import Dict, List, Optional, Tuple


def _get(base: str, path: str) -> str:
    with urllib.request.urlopen(base.rstrip("/") + path, timeout=900) as r:
        return r.read().decode("utf-8")


def _iter_array(text: str):
    """Decodes a JSON array one element at a time (the transcript may be hundreds of MB)."""
    dec = json.JSONDecoder()
    i = text.index("[") + 1
    n = len(text)
    while True:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n or text[i] == "]":
            return
        obj, i = dec.raw_decode(text, i)
        yield obj


def verify(
    base: str,
    small: Tuple[int, Optional[str]],
    expect: Dict[str, Tuple[int, int]],
    big: Optional[Tuple[str, int, Optional[str]]] = None,
) -> Tuple[bool, str]:
    """expect: project -> (calls, distinct span ids). Returns (ok, summary)."""
    small_size, small_sha = small
    complete_ok: Dict[str, int] = {}
    start_ok: Dict[str, int] = {}
    failed: Dict[str, int] = {}
    text = _get(base, "/_test/requests")
    for r in _iter_array(text):
        body = r.get("body_json") or {}
        project = body.get("project_name") if isinstance(body, dict) else None
        if project is None:
            continue
        ok = 200 <= r.get("status", 0) < 300
        if not ok:
            failed[project] = failed.get(project, 0) + 1
        elif r["path"].endswith("/attachment/upload-complete"):
            complete_ok[project] = complete_ok.get(project, 0) + 1
        elif r["path"].endswith("/attachment/upload-start"):
            start_ok[project] = start_ok.get(project, 0) + 1
    del text

    rows: Dict[str, List[dict]] = {}
    for row in json.loads(_get(base, "/_test/attachments")):
        rows.setdefault(row["project_name"], []).append(row)

    good = True
    parts = []
    for project, (calls, keys) in expect.items():
        rs = rows.get(project, [])
        want_rows = min(calls, keys)
        bad_rows = [r for r in rs if r["file_size"] != small_size or (small_sha and r.get("sha256") != small_sha)]
        c, s, f = complete_ok.get(project, 0), start_ok.get(project, 0), failed.get(project, 0)
        ok = c == calls and s == calls and f == 0 and len(rs) == want_rows and not bad_rows
        good &= ok
        parts.append(f"{project} {c}/{calls} completed" + ("" if s == calls else f", {s} started")
                     + (f", {f} failed requests" if f else "")
                     + ("" if len(rs) == want_rows and not bad_rows else
                        f", rows {len(rs)}/{want_rows} ({len(bad_rows)} of wrong size or content)"))
    if big:
        project, size, sha = big
        rs = rows.get(project, [])
        ok = len(rs) == 1 and rs[0]["file_size"] == size and (not sha or rs[0].get("sha256") == sha)
        good &= ok and failed.get(project, 0) == 0
        got = rs[0]["file_size"] if rs else 0
        parts.append(f"{project} {got}/{size} bytes" + (", SHA-256 matches" if ok and sha else "")
                     + ("" if ok else " MISSING, SHORT OR CORRUPT"))
    return good, "; ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("--small", required=True, help="SIZE:SHA256 of each small upload")
    ap.add_argument("--expect", action="append", default=[], help="PROJECT=CALLS/KEYS")
    ap.add_argument("--big", help="PROJECT=SIZE[:SHA256]")
    a = ap.parse_args()
    size, _, sha = a.small.partition(":")
    expect = {}
    for e in a.expect:
        project, _, spec = e.rpartition("=")
        calls, _, keys = spec.partition("/")
        expect[project] = (int(calls), int(keys or calls))
    big = None
    if a.big:
        project, _, spec = a.big.rpartition("=")
        bsize, _, bsha = spec.partition(":")
        big = (project, int(bsize), bsha or None)
    ok, summary = verify(a.base, (int(size), sha or None), expect, big)
    print(("arrived: " if ok else "NOT ALL ARRIVED: ") + summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
