"""Our library uploads (through the C ABI) from a file, from bytes, from base64 and zero bytes; the
official SDK lists them with the same names, sizes and MIME types and downloads them byte for byte.

In both storage modes (direct; S3 backed by SeaweedFS), to a trace and to a span.
"""

import base64
import hashlib
import random
import uuid

import pytest

MIB = 1024 * 1024
MIB5 = 5 * MIB


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("entity_type", ["trace", "span"])
def test_native_uploads_sdk_lists_and_downloads(peer, lib, entity_type, make_file):
    entity_id = str(uuid.uuid4())
    project = "native-to-sdk"
    expected = {}  # name -> (size, mime, sha256)

    def upload(attachment, digest):
        with attachment:
            peer.native.upload(project, entity_type, entity_id, attachment)
            expected[attachment.file_name] = (attachment.size, attachment.content_type, digest)

    # From a file: 11 MiB + 7 (three parts in S3 mode), type from the extension.
    path, digest = make_file("clip.webm", 11 * MIB + 7)
    upload(lib.attachment_from_file(path), digest)

    # From bytes: 5 MiB + 1 (two parts, the last of one byte), type from the name.
    data = make_bytes(MIB5 + 1, seed=2)
    upload(lib.attachment_from_bytes(data, "frame.png"), sha256(data))

    # From base64: a data: URI (its MIME type is used), and URL-safe base64 without padding with
    # an explicit type.
    doc = b'{"interop": true, "values": [1, 2, 3]}\n' * 50
    uri = "data:application/json;base64," + base64.b64encode(doc).decode()
    upload(lib.attachment_from_base64(uri, "payload.json"), sha256(doc))
    raw = make_bytes(100_003, seed=3)
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    upload(lib.attachment_from_base64(text, "raw-b64.dat", "application/x-interop"), sha256(raw))

    # Zero bytes (the SDK itself refuses to upload those).
    upload(lib.attachment_from_bytes(b"", "empty.txt"), sha256(b""))

    assert expected["clip.webm"][1] == "video/webm"
    assert expected["frame.png"][1] == "image/png"
    assert expected["payload.json"][1] == "application/json"
    assert expected["raw-b64.dat"][1] == "application/x-interop"
    assert expected["empty.txt"][:2] == (0, "text/plain")

    listed = peer.attachments.get_attachment_list(project, entity_id, entity_type)
    got = {a.file_name: (a.file_size, a.mime_type) for a in listed}
    assert got == {name: (size, mime) for name, (size, mime, _) in expected.items()}
    assert all(a.link for a in listed), listed

    for name, (size, mime, digest) in expected.items():
        h = hashlib.sha256()
        n = 0
        # The zero-byte file too: the SDK lists it and its download yields no chunk at all,
        # which is the empty file (only its upload path refuses empty files).
        for chunk in peer.attachments.download_attachment(project, entity_type, entity_id, name, mime):
            h.update(chunk)
            n += len(chunk)
        assert n == size, name
        assert h.hexdigest() == digest, f"{name}: the SDK downloaded different bytes than we uploaded"


def test_sdk_refuses_zero_byte_upload_that_we_send(peer, make_file):
    """The asymmetry the suite relies on: the SDK refuses an empty file before any request."""
    from opik.file_upload.s3_multipart_upload.s3_upload_error import S3UploadErrorFileIsEmpty

    path, _ = make_file("empty.bin", 0)
    peer.server.clear_requests()
    with pytest.raises(S3UploadErrorFileIsEmpty):
        peer.attachments.upload_attachment(
            project_name="native-to-sdk", entity_type="trace", entity_id=str(uuid.uuid4()), file_path=path
        )
    sent = [r for r in peer.server.requests() if r["target"] != "ping"]
    assert sent == [], sent


UNUSUAL_NAMES = ["my file+ü #1&x=y?.bin", "日本語 résumé.txt", "a%20b;c,d'e.bin"]


@pytest.mark.parametrize("name", UNUSUAL_NAMES)
def test_unusual_file_names_both_ways(peer, lib, name, tmp_path):
    """Names that need percent-encoding end up in the object key, so in the path SeaweedFS checks
    the signature over: both clients must use the presigned URLs byte for byte."""
    data = make_bytes(100_000, seed=len(name))
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    with lib.attachment_from_bytes(data, name) as a:
        peer.native.upload("names", "trace", ours, a)
    (listed,) = peer.attachments.get_attachment_list("names", ours, "trace")
    assert (listed.file_name, listed.file_size) == (name, len(data))
    got = b"".join(peer.attachments.download_attachment("names", "trace", ours, name, listed.mime_type))
    assert got == data

    path = tmp_path / "source.bin"
    path.write_bytes(data)
    peer.attachments.upload_attachment(
        project_name="names", entity_type="span", entity_id=theirs, file_path=str(path), file_name=name
    )
    assert [e.file_name for e in peer.native.list("names", "span", theirs)] == [name]
    assert peer.native.download("names", "span", theirs, name) == data
