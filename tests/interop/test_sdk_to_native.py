"""The official SDK uploads; our library (through the C ABI) lists and downloads, byte for byte.

In both storage modes (direct; S3 backed by SeaweedFS), to a trace and to a span, files around the
part-size boundaries: small, exactly 5 MiB (one part), 5 MiB + 1 (two parts, the last of one
byte), about 30 MiB (seven parts), and one without an extension (the SDK sends `mime_type: null`,
the server resolves it).
"""

import hashlib
import mimetypes
import os
import uuid

import pytest

MIB = 1024 * 1024
MIB5 = 5 * MIB

FILES = [
    ("notes.txt", 1234),
    ("exact-5mib.bin", MIB5),
    ("five-mib-plus-one.png", MIB5 + 1),
    ("thirty-mib.mp4", 30 * MIB + 4321),
    ("NOEXTENSION", 777),
]


def expected_mime(name: str) -> str:
    # What the SDK sends (mimetypes on the path), else what the server resolves for null.
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


@pytest.mark.parametrize("entity_type", ["trace", "span"])
def test_sdk_uploads_native_lists_and_downloads(peer, entity_type, make_file, tmp_path):
    entity_id = str(uuid.uuid4())
    project = "sdk-to-native"
    sources = {}
    for name, size in FILES:
        path, digest = make_file(name, size)
        sources[name] = (size, digest)
        peer.attachments.upload_attachment(
            project_name=project, entity_type=entity_type, entity_id=entity_id, file_path=path
        )

    listed = peer.native.list(project, entity_type, entity_id)
    by_name = {e.file_name: e for e in listed}
    assert sorted(by_name) == sorted(sources), listed
    for name, (size, _) in sources.items():
        entry = by_name[name]
        assert entry.file_size == size, entry
        assert entry.mime_type == expected_mime(name), entry
        assert entry.link, entry

    # The SDK's own list agrees with ours (name, size, MIME type, link present).
    sdk_listed = peer.attachments.get_attachment_list(project, entity_id, entity_type)
    assert sorted((a.file_name, a.file_size, a.mime_type, bool(a.link)) for a in sdk_listed) == sorted(
        (e.file_name, e.file_size, e.mime_type, bool(e.link)) for e in listed
    )

    for name, (size, digest) in sources.items():
        if size > 20 * MIB:
            # The large one both ways: into a file (atomic rename) and streamed to the callback.
            dest = tmp_path / f"downloaded-{name}"
            peer.native.download_to_file(project, entity_type, entity_id, name, str(dest), by_name[name].mime_type)
            assert dest.stat().st_size == size
            with open(dest, "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == digest, name
            os.unlink(dest)
        h = hashlib.sha256()
        count = [0]

        def feed(chunk, h=h, count=count):
            h.update(chunk)
            count[0] += len(chunk)

        peer.native.download(project, entity_type, entity_id, name, by_name[name].mime_type, on_chunk=feed)
        assert count[0] == size, name
        assert h.hexdigest() == digest, f"{name}: downloaded bytes differ from what the SDK uploaded"
