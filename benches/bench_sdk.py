#!/usr/bin/env python3
"""Throughput benchmark, SDK side: the official Opik Python SDK (opik==2.2.122) moving attachments.

The counterpart of benches/bench_opik.c (our library) with the same command line and output, run
by the benchmark driver against the project's test server (tests/server).

Usage:
  bench_sdk.py upload FILE --project P --entity-id UUID --file-name NAME
  bench_sdk.py download --project P --entity-id UUID --file-name NAME --size N
  bench_sdk.py small FILE --count N --concurrency C --project P

Subcommands and the SDK calls they time (``ac`` is ``opik.Opik(...).get_attachment_client()``,
an ``AttachmentClient``; the mime type is always given as "application/octet-stream", so the SDK
never guesses it):

  upload    one synchronous ``ac.upload_attachment(P, "trace", UUID, FILE, file_name=NAME,
            mime_type=...)`` on the main thread. The SDK itself picks the flow from the server's
            upload-start answer: S3 mode -> POST upload-start (part count = ceil(size / 5 MiB)),
            then one PUT per presigned part URL, one after another on the calling thread, each
            part first read whole into memory (5 MiB, or ceil(size / 10000) for files over
            ~48.8 GiB), sent by the SDK's separate cached S3 httpx client with up to 3 tries, then
            POST upload-complete; direct mode (upload id "BEMinIO") -> upload-start, then one
            chunked PUT of the file to the backend URL streamed in 8 MiB reads through the REST
            httpx client. bytes = the file's size.
  download  ``ac.download_attachment(P, "trace", UUID, NAME, "application/octet-stream")``,
            iterating the chunks (httpx ``iter_bytes``) and discarding them while counting bytes;
            the generator does POST projects/retrieve, GET attachment/list and then the streamed
            GET of the link (the S3 client for a presigned link, the REST client otherwise), all
            timed. Fails if the count differs from --size. bytes = the bytes received.
  small     FILE (a small file) uploaded --count times with ``ac.upload_attachment`` as
            ``small-00000.bin``, ``small-00001.bin``, ... to one fresh trace id (a UUID v7 from
            the SDK's own ``id_helpers.generate_id``) in project P. --concurrency 1: a plain loop
            on the main thread; C > 1: the same synchronous calls submitted to a
            ``concurrent.futures.ThreadPoolExecutor(C)`` (all share the one client and its httpx
            connection pools), timed until every future is done; the executor's worker threads
            start lazily on the first submits, inside the timing. Any exception is a failure.
            bytes = count * file size.

Timing: ``seconds`` is ``time.perf_counter()`` and ``cpu_seconds`` is ``time.process_time()`` (user
+ system of the whole process, all threads, so the SDK's idle background threads are included)
around the operation only. Excluded: interpreter start, ``import opik``, building the
``opik.Opik`` client and its attachment client, reading the file's size, making the names and the
trace id, creating the executor, and a warm-up done before the clock starts:
  - ``ac.get_attachment_list(P, <fresh trace id>, "trace")``, the same list call bench_opik.c
    warms up with (POST projects/retrieve, then GET attachment/list if the project exists; a 404
    for a project not created yet is accepted), through the SDK's REST httpx client, so the first
    timed request pays neither the SDK's lazy set-up of its generated REST client nor the TCP (and
    TLS) connection to the backend, which stays in the client's keep-alive pool (10 s expiry);
  - ``opik.s3_httpx_client.get_cached()``: the process-wide httpx client the SDK builds lazily on
    its first S3 part upload or presigned download (building it loads the CA store); it is only
    built here, not connected, so the first storage request still opens its connection.
The ``opik.Opik`` client also runs its usual background threads while the operation is timed
(4 idle message-queue consumers and a replay-manager thread that ticks every 0.3 s and sends
GET is-alive/ping through the REST client about every 10 s, the first one ~0.3 s after the client
is built); their CPU (a few ms per second when idle) and those pings are part of the figures, as
they are for any SDK user. ``vmhwm_kb`` is VmHWM from /proc/self/status right after the operation (peak RSS of the whole
process, interpreter and SDK included).

Output: on success exactly one line on stdout, ``RESULT {"tool": "sdk", "op": ..., "seconds": ...,
"cpu_seconds": ..., "bytes": ..., "count": ..., "vmhwm_kb": ...}``; everything else (the SDK's
logging too: Python's sys.stdout is pointed at stderr for the run) goes to stderr. Exit status 0
on success, 1 on any failure (including a bad command line) with a message on stderr.

Environment: OPIK_URL_OVERRIDE (required: the test server's base URL, http:// or https://),
OPIK_API_KEY, OPIK_WORKSPACE (default "default"). As benches/async_latency_sdk.py does, the SDK is
isolated from the user's configuration before ``opik`` is imported: a temporary HOME with an
empty ``[opik]`` config file as OPIK_CONFIG_PATH (removed at exit), OPIK_SENTRY_ENABLE=false,
OPIK_ANALYTICS_ENABLE=false, NO_PROXY=127.0.0.1,localhost (unless already set).

TLS: if OPIK_BENCH_CA_FILE names a PEM CA file (the test server then serves HTTPS with the test
CA of tests/server/tests/tls/), the SDK is made to trust exactly that CA, with verification on,
by setting ``SSL_CERT_FILE`` to it (and OPIK_CHECK_TLS_CERTIFICATE=true, so a stray setting cannot
turn verification off). Why this way: opik 2.2.122 uses two httpx (0.28) clients, and
SSL_CERT_FILE reaches both through their own supported paths, without touching SDK internals:
  - the REST client (``opik.httpx_client.get``: every backend request, the direct-mode PUT and
    non-presigned downloads) is built with ``verify=os.environ["SSL_CERT_FILE"]`` when the config's
    ``check_tls_certificate`` is true and SSL_CERT_FILE is set -- the SDK's own, explicit support
    for a custom CA bundle (httpx 0.28 marks ``verify=<str>`` deprecated but honours it; the
    DeprecationWarning is hidden by Python's default filters);
  - the S3 client (``opik.s3_httpx_client.get``: part PUTs and presigned downloads) is a plain
    ``httpx.Client`` with the default ``verify=True`` and ``trust_env=True``, and httpx then builds
    its SSL context from SSL_CERT_FILE instead of certifi (``httpx.create_ssl_context``).
The alternative, ``opik.hooks.add_httpx_client_hook(HttpxClientHook(None, {"verify": ctx}))``, is
public too but overrides the SDK's own TLS argument; the environment variable leaves the SDK's
client construction exactly as a user with a private CA would run it. A file that is not the
server's CA makes the warm-up fail with CERTIFICATE_VERIFY_FAILED (exit 1); so does an https
URL without OPIK_BENCH_CA_FILE (certifi's store does not hold the test CA).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from typing import List, Optional

from sdk_env import isolate_environment

MIME = "application/octet-stream"
PROG = "bench_sdk"


def _trust_ca() -> Optional[str]:
    """Makes both of the SDK's httpx clients trust OPIK_BENCH_CA_FILE (see the module docstring)."""
    ca = os.environ.get("OPIK_BENCH_CA_FILE")
    if not ca:
        return None
    if not os.path.isfile(ca):
        raise SystemExit(f"{PROG}: OPIK_BENCH_CA_FILE={ca} is not a file")
    ca = os.path.abspath(ca)
    os.environ["SSL_CERT_FILE"] = ca
    os.environ.pop("SSL_CERT_DIR", None)
    os.environ["OPIK_CHECK_TLS_CERTIFICATE"] = "true"
    # httpx 0.28's notice about the SDK's `verify=<path>`; hidden by default, but not under -W error.
    warnings.filterwarnings("ignore", message="`verify=<str>` is deprecated", category=DeprecationWarning)
    return ca


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # a bad command line is a failure: exit 1, not argparse's 2
        self.print_usage(sys.stderr)
        print(f"{PROG}: {message}", file=sys.stderr)
        sys.exit(1)


def _parse(argv: List[str]) -> argparse.Namespace:
    ap = _Parser(prog="bench_sdk.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="op", required=True, parser_class=_Parser)
    up = sub.add_parser("upload", help="one synchronous upload of FILE")
    up.add_argument("file")
    up.add_argument("--project", required=True)
    up.add_argument("--entity-id", required=True)
    up.add_argument("--file-name", required=True)
    down = sub.add_parser("download", help="one download, counted and discarded")
    down.add_argument("--project", required=True)
    down.add_argument("--entity-id", required=True)
    down.add_argument("--file-name", required=True)
    down.add_argument("--size", type=int, required=True)
    small = sub.add_parser("small", help="FILE uploaded --count times")
    small.add_argument("file")
    small.add_argument("--count", type=int, required=True)
    small.add_argument("--concurrency", type=int, default=1)
    small.add_argument("--project", required=True)
    args = ap.parse_args(argv)
    if args.op == "small" and (args.count < 1 or args.concurrency < 1):
        ap.error("--count and --concurrency must be at least 1")
    if args.op == "download" and args.size < 0:
        ap.error("--size must not be negative")
    return args


def _vmhwm_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main(argv: List[str]) -> int:
    args = _parse(argv)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # only the RESULT line goes to stdout

    temp_home = isolate_environment()
    try:
        return _run(args, real_stdout)
    finally:
        if temp_home:
            shutil.rmtree(temp_home, ignore_errors=True)


def _run(args: argparse.Namespace, real_stdout) -> int:
    url = os.environ.get("OPIK_URL_OVERRIDE")
    if not url:
        print(f"{PROG}: set OPIK_URL_OVERRIDE to the test server's base URL", file=sys.stderr)
        return 1
    ca = _trust_ca()
    if ca is None and url.lower().startswith("https:"):
        print(f"{PROG}: note: https URL without OPIK_BENCH_CA_FILE; using the default trust store",
              file=sys.stderr)

    if args.op in ("upload", "small"):
        if not os.path.isfile(args.file):
            print(f"{PROG}: {args.file}: no such file", file=sys.stderr)
            return 1
        file_size = os.path.getsize(args.file)

    import opik  # after the environment is set
    from opik import id_helpers, s3_httpx_client
    from opik.rest_api.core import ApiError

    client = opik.Opik(host=url, workspace=os.environ["OPIK_WORKSPACE"], api_key=os.environ["OPIK_API_KEY"],
                       project_name=args.project, _show_misconfiguration_message=False)
    try:
        ac = client.get_attachment_client()
        # Warm-up (untimed, see the module docstring): the same list call on a fresh, empty trace id
        # as bench_opik.c makes; an unknown project answers 404, which is fine.
        try:
            ac.get_attachment_list(args.project, id_helpers.generate_id(), "trace")
        except ApiError as e:
            if e.status_code != 404:
                print(f"{PROG}: warm-up list call to {url} failed: {e!r}", file=sys.stderr)
                return 1
        except Exception as e:
            print(f"{PROG}: warm-up list call to {url} failed: {e!r}", file=sys.stderr)
            return 1
        s3_httpx_client.get_cached()

        if args.op == "upload":
            op = _op_upload(ac, args)
            nbytes, count = file_size, 1
        elif args.op == "download":
            op = _op_download(ac, args)
            count = 1
        else:
            entity_id = id_helpers.generate_id()
            names = [f"small-{i:05d}.bin" for i in range(args.count)]
            op = _op_small(ac, args, entity_id, names)
            nbytes, count = file_size * args.count, args.count
        if op is None:
            return 1
        seconds, cpu_seconds, moved = op
        if args.op == "download":
            nbytes = moved
        vmhwm = _vmhwm_kb()
    finally:
        try:
            client.end()
        except Exception as e:  # nothing is queued; report, but the measurement stands
            print(f"{PROG}: client.end(): {e!r}", file=sys.stderr)

    result = {
        "tool": "sdk",
        "op": args.op,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "bytes": nbytes,
        "count": count,
        "vmhwm_kb": vmhwm,
    }
    real_stdout.write("RESULT " + json.dumps(result) + "\n")
    real_stdout.flush()
    return 0


def _op_upload(ac, args):
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        ac.upload_attachment(args.project, "trace", args.entity_id, args.file,
                             file_name=args.file_name, mime_type=MIME)
    except Exception as e:
        print(f"{PROG}: upload of {args.file} as {args.file_name} failed: {e!r}", file=sys.stderr)
        return None
    t1, c1 = time.perf_counter(), time.process_time()
    return t1 - t0, c1 - c0, 0


def _op_download(ac, args):
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        for chunk in ac.download_attachment(args.project, "trace", args.entity_id, args.file_name, MIME):
            n += len(chunk)
    except Exception as e:
        print(f"{PROG}: download of {args.file_name} failed after {n} bytes: {e!r}", file=sys.stderr)
        return None
    t1, c1 = time.perf_counter(), time.process_time()
    if n != args.size:
        print(f"{PROG}: downloaded {n} bytes of {args.file_name}, expected {args.size}", file=sys.stderr)
        return None
    return t1 - t0, c1 - c0, n


def _op_small(ac, args, entity_id: str, names: List[str]):
    def upload(name: str) -> None:
        ac.upload_attachment(args.project, "trace", entity_id, args.file, file_name=name, mime_type=MIME)

    errors: List[str] = []
    if args.concurrency == 1:
        t0, c0 = time.perf_counter(), time.process_time()
        for name in names:
            try:
                upload(name)
            except Exception as e:
                errors.append(f"{name}: {e!r}")
        t1, c1 = time.perf_counter(), time.process_time()
    else:
        from concurrent.futures import ThreadPoolExecutor

        executor = ThreadPoolExecutor(max_workers=args.concurrency, thread_name_prefix="bench-sdk")
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            futures = [executor.submit(upload, name) for name in names]
            for name, fut in zip(names, futures):
                try:
                    fut.result()
                except Exception as e:
                    errors.append(f"{name}: {e!r}")
            t1, c1 = time.perf_counter(), time.process_time()
        finally:
            executor.shutdown(wait=True)
    if errors:
        print(f"{PROG}: {len(errors)} of {len(names)} uploads to trace {entity_id} failed, e.g.:", file=sys.stderr)
        for line in errors[:5]:
            print(f"  {line}", file=sys.stderr)
        return None
    print(f"{PROG}: small: {len(names)} uploads to trace {entity_id}", file=sys.stderr)
    return t1 - t0, c1 - c0, 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
