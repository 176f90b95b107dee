"""Embedded media, differential: our extractor against the official SDK's `AttachmentsExtractor`
on the corpus of extract_corpus.py (72 documents: every media type, data URIs, several blobs in
one string, deep nesting, a top-level list, thresholds, invalid base64, text and random bytes, the
URL-safe alphabet, escapes, non-ASCII text, keys).

Ours runs through the `extract_embedded` example (`--jsonl`: the Rust API, which exposes the
attachments' bytes). Equal means: the rewritten JSON equal to the SDK's sanitised document once
the placeholders' random numbers and times are normalised, and the same attachments in the same
order, byte for byte, with the same content type and extension; our names must also have the
SDK's form, a number in 1..99,999,999 and a time within the run.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import time

import pytest

import extract_corpus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = re.compile(r"(input|output|metadata)-attachment-(\d+)-(\d+)-sdk\.(\w+)")


def normalise(value):
    """The document with every placeholder's number and time replaced by N and T."""
    if isinstance(value, str):
        return NAME.sub(lambda m: f"{m.group(1)}-attachment-N-T-sdk.{m.group(4)}", value)
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {normalise(k): normalise(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def corpus():
    return extract_corpus.cases()


@pytest.fixture(scope="module")
def ours(corpus):
    """Our answers, one per case, from one run of the example."""
    # conftest.py gives the suite a HOME of its own; cargo (rustup) needs the real one.
    env = dict(os.environ, HOME=pwd.getpwuid(os.getuid()).pw_dir)
    subprocess.run(
        ["cargo", "build", "-q", "--example", "extract_embedded"], cwd=REPO, check=True, timeout=900, env=env
    )
    exe = os.path.join(REPO, "target", "debug", "examples", "extract_embedded")
    requests = "".join(json.dumps(c) + "\n" for c in corpus)
    started = time.time()
    run = subprocess.run([exe, "--jsonl"], input=requests, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(answers) == len(corpus)
    return started, time.time(), answers


def test_corpus_covers_the_cases_of_the_issue(corpus):
    names = {c["name"] for c in corpus}
    for needed in ["bare_png", "bare_jpeg", "bare_jpeg_no_end", "bare_gif89", "bare_webp", "bare_pdf",
                   "bare_mp4", "bare_svg", "data_uri_png", "several_in_one", "deep", "top_level_list",
                   "run_exactly_T", "run_T_minus_4", "stray_char", "bare_text", "bare_random",
                   "urlsafe_png"]:
        assert needed in names


def test_same_decisions_as_the_sdk(corpus, ours):
    started, finished, answers = ours
    extracted = 0
    for case, got in zip(corpus, answers):
        name = case["name"]
        assert "error" not in got, f"{name}: {got['error']}"
        want_doc, want_atts = extract_corpus.sdk_extract(case["json"], case["context"], case["min_chars"])
        got_doc = json.loads(got["json"])
        assert normalise(got_doc) == normalise(want_doc), name
        assert len(got["attachments"]) == len(want_atts), name
        placeholders = NAME.findall(got["json"])
        assert len(placeholders) == len(want_atts), f"{name}: one placeholder per attachment"
        for i, (g, w) in enumerate(zip(got["attachments"], want_atts)):
            what = f"{name} attachment {i}"
            assert extract_corpus.base64.b64decode(g["base64"]) == w["data"], what
            assert g["content_type"] == w["content_type"], what
            m = NAME.fullmatch(g["file_name"])
            assert m, f"{what}: {g['file_name']}"
            assert m.group(1) == case["context"], what
            assert m.group(4) == w["file_name"].rsplit(".", 1)[1], what
            assert 1 <= int(m.group(2)) <= 99_999_999, what
            assert int(started * 1000) - 1000 <= int(m.group(3)) <= int(finished * 1000) + 1000, what
            # The placeholders, in text order, name the attachments in order.
            assert "-".join(placeholders[i]) .startswith(case["context"]), what
            assert f"[{g['file_name']}]" in got["json"], what
        extracted += len(want_atts)
    # The corpus is not vacuous: most cases extract something, some extract nothing.
    assert extracted >= 60


def test_untouched_documents_come_back_byte_identical(corpus, ours):
    _, _, answers = ours
    for case, got in zip(corpus, answers):
        if not got["attachments"]:
            assert got["json"] == case["json"], case["name"]


def test_text_between_placeholders_is_kept_as_written(corpus, ours):
    """Escapes, spacing and number spellings outside the replaced runs stay as they were."""
    _, _, answers = ours
    by_name = {c["name"]: (c, a) for c, a in zip(corpus, answers)}
    case, got = by_name["spacing"]
    assert got["json"].startswith('{ "a" : [ 1.0e+2 , -0.5 , true , null ] ,\n\t"b" : "[input-attachment-')
    case, got = by_name["escaped_newline_between"]
    assert "]\\n[input-attachment-" in got["json"]


def test_invalid_json_and_context_are_refused():
    exe = os.path.join(REPO, "target", "debug", "examples", "extract_embedded")
    requests = [
        {"json": '{"a": [1, 2,]}', "context": "input", "min_chars": 100},
        {"json": '{"a":\n  tru}', "context": "input", "min_chars": 100},
        {"json": '{"a": 1}', "context": "inputs", "min_chars": 100},
    ]
    run = subprocess.run([exe, "--jsonl"], input="".join(json.dumps(r) + "\n" for r in requests),
                         capture_output=True, text=True, timeout=60)
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert "line 1, column 13" in answers[0]["error"]
    assert "line 2, column" in answers[1]["error"]
    assert "context" in answers[2]["error"]
