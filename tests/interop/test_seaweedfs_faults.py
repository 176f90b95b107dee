"""Negative fidelity checks against SeaweedFS (S3 mode): the refusals come from a real S3 server.

- a tampered presigned URL (test-server fault `tamper_urls`) gets 403 SignatureDoesNotMatch from
  SeaweedFS, and our library reports it (status, HTTP 403, the storage's words);
- an expired presigned URL (fault `expire_urls`) gets 403 from SeaweedFS, and our library recovers
  with a new upload-start; the file arrives intact;
- a wrong ETag in upload-complete (REST driven by hand) is refused by SeaweedFS's
  CompleteMultipartUpload, and the test server relays an error status.

The storage side of each exchange is seen through the recording proxy in front of SeaweedFS, so
the 403s and error codes asserted here are SeaweedFS's own answers.
"""

import base64
import hashlib
import urllib.error
import urllib.request
import uuid

import pytest

import opik_c

MIB = 1024 * 1024
PROJECT = "seaweedfs-faults"


def starts(peer):
    return [r for r in peer.server.requests() if r["path"].endswith("/upload-start")]


def s3_code(record) -> str:
    body = record.get("response_body") or ""
    start = body.find("<Code>")
    return body[start + 6 : body.find("</Code>")] if start >= 0 else ""


def test_tampered_part_url_is_refused_by_seaweedfs(s3_peer, make_file, lib):
    peer = s3_peer
    path, _ = make_file("tampered.bin", 6 * MIB)
    entity = str(uuid.uuid4())
    peer.server.clear_requests()
    peer.proxy.clear()
    # Every upload-start hands out URLs with a corrupted signature (times 0 = forever). The library
    # restarts on an expired URL, but a signature refusal is reported at once.
    peer.server.add_faults({"path_contains": "upload-start", "tamper_urls": True, "times": 0})
    try:
        with lib.attachment_from_file(path) as a, pytest.raises(opik_c.OpikError) as raised:
            peer.native.upload(PROJECT, "trace", entity, a)
    finally:
        peer.server.clear_faults()
    e = raised.value
    print(f"our library reported: {e}")
    assert e.status in (opik_c.OPIK_ERR_HTTP, opik_c.OPIK_ERR_AUTH), e
    assert e.http_status == 403, e
    assert "SignatureDoesNotMatch" in e.message, e
    assert peer.server.api_key not in e.message
    assert "X-Amz-Signature" not in e.message, "a presigned URL's query is a credential"

    puts = [r for r in peer.proxy.take() if r["method"] == "PUT" and "partNumber=" in (r["query"] or "")]
    # Parts still being sent when another part failed are cancelled by the client mid-body.
    parts = [r for r in puts if not r.get("client_aborted")]
    assert parts, "no part PUT reached SeaweedFS"
    for r in parts:
        assert r["status"] == 403, r
        assert s3_code(r) == "SignatureDoesNotMatch", r.get("response_body")
    sent = peer.server.requests()
    assert not [r for r in sent if r["path"].endswith("/upload-complete")], "completed a refused upload"
    print(
        f"tampered: {len(starts(peer))} upload-start(s), {len(parts)} part PUT(s) refused by SeaweedFS, "
        f"{len(puts) - len(parts)} cancelled by the client"
    )
    assert peer.native.list(PROJECT, "trace", entity) == []
    assert len(starts(peer)) == 1, "a signature refusal must not restart the upload with fresh URLs"


def test_tampered_download_link_is_refused_by_seaweedfs(s3_peer, lib):
    peer = s3_peer
    entity = str(uuid.uuid4())
    with lib.attachment_from_bytes(b"tamper me", "link.txt") as a:
        peer.native.upload(PROJECT, "span", entity, a)
    peer.server.clear_requests()
    peer.proxy.clear()
    peer.server.add_faults({"path_contains": "attachment/list", "tamper_urls": True, "times": 0})
    try:
        with pytest.raises(opik_c.OpikError) as raised:
            peer.native.download(PROJECT, "span", entity, "link.txt")
    finally:
        peer.server.clear_faults()
    e = raised.value
    print(f"our library reported: {e}")
    assert e.status in (opik_c.OPIK_ERR_HTTP, opik_c.OPIK_ERR_AUTH) and e.http_status == 403, e
    assert "SignatureDoesNotMatch" in e.message, e
    gets = [r for r in peer.proxy.take() if r["method"] == "GET"]
    assert gets and all(r["status"] == 403 and s3_code(r) == "SignatureDoesNotMatch" for r in gets), gets
    lists = [r for r in peer.server.requests() if r["path"].endswith("/attachment/list")]
    assert len(lists) == 2, "one re-list after a 403 on a presigned link, then the error"
    # Untampered, the same download works.
    assert peer.native.download(PROJECT, "span", entity, "link.txt") == b"tamper me"


def test_expired_part_urls_restart_the_upload(s3_peer, make_file, lib):
    peer = s3_peer
    path, digest = make_file("expired.bin", 12_000_000)
    entity = str(uuid.uuid4())
    peer.server.clear_requests()
    peer.proxy.clear()
    peer.server.add_faults({"path_contains": "upload-start", "expire_urls": True, "times": 1})
    try:
        with lib.attachment_from_file(path) as a:
            peer.native.upload(PROJECT, "trace", entity, a)
    finally:
        peer.server.clear_faults()

    sent = peer.server.requests()
    start_reqs = [r for r in sent if r["path"].endswith("/upload-start")]
    completes = [r for r in sent if r["path"].endswith("/upload-complete")]
    assert len(start_reqs) == 2, "one upload-start with expired URLs, one fresh"
    assert len(completes) == 1 and completes[0]["status"] == 204, completes
    parts = [r for r in peer.proxy.take() if r["method"] == "PUT" and "partNumber=" in (r["query"] or "")]
    by_upload = {}
    for r in parts:
        upload_id = dict(p.split("=", 1) for p in r["query"].split("&"))["uploadId"]
        by_upload.setdefault(upload_id, []).append(r)
    final_id = completes[0]["body_json"]["upload_id"]
    # Parts still being sent when another part got its 403 are cancelled by the client mid-body.
    stale = [r for uid, rs in by_upload.items() if uid != final_id for r in rs if not r.get("client_aborted")]
    assert stale and all(r["status"] == 403 for r in stale), stale
    assert all(s3_code(r) == "AccessDenied" for r in stale), [r.get("response_body") for r in stale]
    assert sorted(r["status"] for r in by_upload[final_id]) == [200, 200, 200]
    print(f"expired: {len(start_reqs)} upload-starts, {len(stale)} part PUT(s) refused as expired, then 3 accepted")

    # Intact, through both clients.
    h = hashlib.sha256()
    peer.native.download(PROJECT, "trace", entity, "expired.bin", on_chunk=h.update)
    assert h.hexdigest() == digest
    got = b"".join(peer.attachments.download_attachment(PROJECT, "trace", entity, "expired.bin", "application/octet-stream"))
    assert hashlib.sha256(got).hexdigest() == digest


def test_wrong_etag_is_refused_by_seaweedfs(s3_peer):
    peer = s3_peer
    server = peer.server
    entity = str(uuid.uuid4())
    data = b"etag check " * 1000
    status, start = server.rest(
        "POST",
        "v1/private/attachment/upload-start",
        {
            "file_name": "etag.bin",
            "num_of_file_parts": 1,
            "mime_type": "application/octet-stream",
            "project_name": PROJECT,
            "entity_type": "trace",
            "entity_id": entity,
            "path": base64.b64encode(server.base_url.encode()).decode(),
        },
    )
    assert status == 200, start
    (url,) = start["pre_sign_urls"]
    # The part PUT straight to the presigned URL: Content-Length, no Opik headers.
    put = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(put, timeout=30) as resp:
        assert resp.status == 200
        etag = resp.headers["ETag"]
    assert etag == f'"{hashlib.md5(data).hexdigest()}"'

    def complete(e_tag):
        return server.rest(
            "POST",
            "v1/private/attachment/upload-complete",
            {
                "file_name": "etag.bin",
                "project_name": PROJECT,
                "entity_type": "trace",
                "entity_id": entity,
                "file_size": len(data),
                "mime_type": "application/octet-stream",
                "upload_id": start["upload_id"],
                "uploaded_file_parts": [{"e_tag": e_tag, "part_number": 1}],
            },
        )

    peer.proxy.clear()
    wrong = f'"{hashlib.md5(b"something else").hexdigest()}"'
    status_wrong, body_wrong = complete(wrong)
    assert 400 <= status_wrong < 500, (status_wrong, body_wrong)
    assert "InvalidPart" in body_wrong["message"], body_wrong
    assert "&#" not in body_wrong["message"], "S3 XML escapes must be decoded in the relayed message"
    # SeaweedFS itself refused the CompleteMultipartUpload the server forwarded.
    forwarded = [r for r in peer.proxy.take() if r["method"] == "POST" and "uploadId=" in (r["query"] or "")]
    assert forwarded, "the server did not forward the completion to SeaweedFS"
    assert "InvalidPart" in (forwarded[-1].get("response_body") or ""), forwarded[-1]

    # The right ETag, verbatim with its quotes, completes the same upload.
    status, body = complete(etag)
    assert status == 204, body
    print(f"wrong e_tag: HTTP {status_wrong} {body_wrong}")
    listed = peer.native.list(PROJECT, "trace", entity)
    assert [(e.file_name, e.file_size) for e in listed] == [("etag.bin", len(data))]
