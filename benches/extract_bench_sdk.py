#!/usr/bin/env python3
"""Embedded media, the official SDK's side: its AttachmentsExtractor on the same document.

    extract_bench_sdk.py DOC.json [MIN_CHARS]

Prints one JSON line: "parse_seconds" (json.loads of the text), "seconds" (extract_and_replace on
the parsed document, as the SDK's message processor calls it: regex, decode, temporary file per
attachment), "attachments", "attachment_bytes", "rss_before_kb" (with the text read and parsed),
"vmhwm_kb" (peak RSS of the process). The temporary files are removed afterwards, untimed.
"""

import json
import os
import sys
import time

from opik.api_objects.attachment import attachments_extractor


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def main() -> None:
    path = sys.argv[1]
    min_chars = int(sys.argv[2]) if len(sys.argv) > 2 else 256_000
    with open(path) as f:
        text = f.read()
    t0 = time.perf_counter()
    data = json.loads(text)
    parse = time.perf_counter() - t0
    rss_before = rss_kb("VmRSS")
    extractor = attachments_extractor.AttachmentsExtractor(min_chars)
    t0 = time.perf_counter()
    found = extractor.extract_and_replace(data, "trace", "id", "project", "input")
    seconds = time.perf_counter() - t0
    total = 0
    for item in found:
        total += os.path.getsize(item.attachment_data.data)
        os.unlink(item.attachment_data.data)
    print(json.dumps({
        "parse_seconds": parse, "seconds": seconds, "doc_bytes": len(text), "attachments": len(found),
        "attachment_bytes": total, "rss_before_kb": rss_before, "vmhwm_kb": rss_kb("VmHWM"),
    }))


if __name__ == "__main__":
    main()
