"""Fixtures of the interop suite: real peers (SeaweedFS, the official `opik` Python SDK) around the
project's Opik-compatible test server, and our library through its C ABI (ctypes, `opik_c`).

Session-scoped, started once, stopped by PID (and waited for) in fixture finalizers, so they stop
even when a test fails:

- `weed`: `weed mini` with one identity, so SeaweedFS checks every SigV4 signature;
- `s3_proxy`: a recording HTTP proxy in front of it (the storage half of the transcripts);
- `direct_server` / `s3_server`: `opik-test-server` in direct mode and in S3 mode backed by
  SeaweedFS (through the proxy), both with an API key and a non-default workspace, so the
  Authorization and Comet-Workspace headers are checked on every backend request;
- `peer` (parametrised over both modes): the server, an `opik.Opik` client and a native client.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

API_KEY = "interop-api-key-3f9c2e"
WORKSPACE = "interop-ws"
PROJECT = "interop"
SUMMARY_PATH = os.path.join(REPO, "target", "interop-transcript-summary.txt")
# Written by test_traces_native.py's transcript comparison of traces and spans.
TRACES_SUMMARY_PATH = os.path.join(REPO, "target", "interop-traces-summary.txt")

# Isolate both clients from the machine's configuration before `opik` is imported anywhere: a
# HOME of our own (no ~/.opik.config) and an explicit, empty config file.
_HOME = tempfile.mkdtemp(prefix="opik-interop-home-")
_CONFIG = os.path.join(_HOME, ".opik.config")
with open(_CONFIG, "w") as _f:
    # The SDK only warns about a missing OPIK_CONFIG_PATH file; our library refuses it with
    # OPIK_ERR_CONFIG (documented), so the file exists, with an empty [opik] section.
    _f.write("[opik]\n")
for _k in [k for k in os.environ if k.upper().startswith("OPIK_")]:
    del os.environ[_k]
for _k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_k, None)
os.environ.update(
    HOME=_HOME,
    OPIK_CONFIG_PATH=_CONFIG,
    OPIK_WORKSPACE=WORKSPACE,
    OPIK_API_KEY=API_KEY,
    OPIK_SENTRY_ENABLE="false",
    OPIK_ANALYTICS_ENABLE="false",
    NO_PROXY="127.0.0.1,localhost",
)

import opik_c  # noqa: E402
import peers  # noqa: E402

LIBRARY = os.path.join(REPO, "target", "debug", "libopik_attachments.so")
SERVER = os.path.join(REPO, "target", "debug", "opik-test-server")


# --- artifacts -----------------------------------------------------------------------------------


def _newest_source(*dirs: str) -> float:
    newest = 0.0
    for d in dirs:
        for root, _, files in os.walk(os.path.join(REPO, d)):
            for name in files:
                newest = max(newest, os.path.getmtime(os.path.join(root, name)))
    return newest


def _ensure_built(artifact: str, sources: tuple, cargo_args: list) -> None:
    """Builds `artifact` with cargo only when it is missing or older than its sources (scripts/test
    builds everything first, so this is normally a no-op)."""
    stale = not os.path.exists(artifact) or os.path.getmtime(artifact) < _newest_source(*sources)
    if stale:
        subprocess.run(["cargo", "build", "--quiet", *cargo_args], cwd=REPO, check=True)


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the session fixtures stop every peer.
    signal.signal(signal.SIGTERM, _terminate)
    _ensure_built(LIBRARY, ("src", "build.rs", "Cargo.toml"), ["-p", "opik-attachments", "--lib"])
    _ensure_built(SERVER, ("tests/server/src", "tests/server/Cargo.toml"), ["-p", "opik-test-server"])


# --- the transcript summary (printed whatever the capture mode) ----------------------------------


def pytest_sessionstart(session):
    for path in (SUMMARY_PATH, TRACES_SUMMARY_PATH):
        if os.path.exists(path):
            os.unlink(path)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    terminalreporter.write_sep("=", "interop: peers and transcript comparison")
    for line in PEER_VERSIONS:
        terminalreporter.write_line(line)
    shown = False
    for path in (SUMMARY_PATH, TRACES_SUMMARY_PATH):
        if os.path.exists(path):
            with open(path) as f:
                for line in f.read().rstrip("\n").splitlines():
                    terminalreporter.write_line(line)
            terminalreporter.write_line(f"(also in {os.path.relpath(path, REPO)})")
            shown = True
    if not shown:
        terminalreporter.write_line("no transcript comparison ran")


def pytest_unconfigure(config):
    shutil.rmtree(_HOME, ignore_errors=True)


PEER_VERSIONS: list = []


# --- peers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def workdir():
    """Data of the peers and test files; removed at the end (after every peer stopped)."""
    d = tempfile.mkdtemp(prefix="opik-interop-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _wait_for_port(port: int, proc, what: str, log, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early ({proc.returncode}): {log()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start listening on {port}: {log()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def weed(workdir):
    d = os.path.join(workdir, "weed")
    os.makedirs(d)
    w = peers.Weed(d)
    try:
        for attempt in range(3):
            w.start()
            try:
                _wait_for_port(w.s3_port, w.proc, "weed mini", w.log, time.monotonic() + 60)
                w.check_writes(time.monotonic() + 60)
                break
            except RuntimeError:
                w.stop()
                if attempt == 2 or w.proc.returncode is None:
                    raise
        PEER_VERSIONS.append(f"SeaweedFS: {w.version()}; {w.where()}")
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="session")
def s3_proxy(weed):
    proxy = peers.RecordingProxy(weed.s3_port)
    try:
        yield proxy
    finally:
        proxy.stop()


def _start_server(workdir: str, name: str, extra: list) -> peers.TestServer:
    server = peers.TestServer(SERVER, workdir, name, API_KEY, WORKSPACE, extra)
    server.start(time.monotonic() + 60)
    return server


@pytest.fixture(scope="session")
def direct_server(workdir):
    server = _start_server(workdir, "direct", ["--mode", "direct"])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(workdir, s3_proxy):
    server = _start_server(
        workdir,
        "s3",
        [
            "--s3-endpoint",
            s3_proxy.endpoint,
            "--s3-access-key",
            peers.ACCESS_KEY,
            "--s3-secret-key",
            peers.SECRET_KEY,
        ],
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lib() -> opik_c.Library:
    return opik_c.Library(LIBRARY)


@pytest.fixture(scope="session")
def opik_module():
    import opik

    PEER_VERSIONS.append(f"opik (official Python SDK): {opik.__version__}")
    return opik


@dataclass
class Peer:
    """One storage mode: the test server, the official SDK and our library pointed at it."""

    mode: str
    server: peers.TestServer
    sdk: Any  # opik.Opik
    attachments: Any  # the SDK's AttachmentClient
    native: opik_c.Client
    proxy: Optional[peers.RecordingProxy]

    @property
    def url(self) -> str:
        return self.server.base_url

    def close(self) -> None:
        self.native.close()
        self.sdk.end()


def _make_peer(mode: str, server: peers.TestServer, proxy, lib: opik_c.Library, opik_module) -> Peer:
    sdk = opik_module.Opik(host=server.base_url, workspace=WORKSPACE, api_key=API_KEY, project_name=PROJECT)
    native = lib.client(server.base_url, api_key=API_KEY, workspace=WORKSPACE, project_name=PROJECT, timeout_ms=30_000)
    return Peer(mode, server, sdk, sdk.get_attachment_client(), native, proxy)


# The clients of a mode depend on its server, so they are closed before it stops.
@pytest.fixture(scope="session")
def direct_peer(direct_server, lib, opik_module) -> Peer:
    os.environ["OPIK_URL_OVERRIDE"] = direct_server.base_url
    p = _make_peer("direct", direct_server, None, lib, opik_module)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="session")
def s3_peer(s3_server, s3_proxy, lib, opik_module) -> Peer:
    p = _make_peer("s3", s3_server, s3_proxy, lib, opik_module)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(params=["direct", "s3"])
def peer(request) -> Peer:
    """Each storage mode in turn: direct, then S3 backed by SeaweedFS."""
    return request.getfixturevalue(f"{request.param}_peer")


# --- data ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def make_file(workdir):
    """make_file(name, size) -> (path, sha256): deterministic pseudo-random content, cached."""
    d = os.path.join(workdir, "files")
    os.makedirs(d)
    cache: Dict[tuple, tuple] = {}

    def make(name: str, size: int, seed: int = 0):
        key = (name, size, seed)
        if key not in cache:
            data = random.Random(f"{name}/{size}/{seed}").randbytes(size)
            path = os.path.join(d, f"{len(cache)}", name)
            os.makedirs(os.path.dirname(path))
            with open(path, "wb") as f:
                f.write(data)
            cache[key] = (path, hashlib.sha256(data).hexdigest())
        return cache[key]

    return make

