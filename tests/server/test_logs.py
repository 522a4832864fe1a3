"""switchyard/server/logs.py: the per-request line, in both formats, and what a client cannot do to it."""

from __future__ import annotations

import io

import orjson

from switchyard.server.logs import AccessLog

FIELDS = {"request_id": "req_1", "pack": "qwen", "model": "qwen3-max", "status": 200, "error": None}


def line(fmt: str, **fields) -> str:
    stream = io.StringIO()
    log = AccessLog()
    log.configure(fmt, stream, enabled=True)
    log({**FIELDS, **fields})
    return stream.getvalue()


def test_a_text_line_is_one_line_of_key_value_pairs_without_the_empty_fields() -> None:
    text = line("text")
    assert text.endswith(" info request request_id=req_1 pack=qwen model=qwen3-max status=200\n")


def test_a_json_line_is_one_object_with_every_field() -> None:
    record = orjson.loads(line("json"))
    assert record["msg"] == "request" and record["status"] == 200 and record["error"] is None


def test_a_client_chosen_value_cannot_forge_a_second_text_line_or_extra_fields() -> None:
    text = line("text", model='m\n2026-01-01T00:00:00Z info request status=200 pack="x"')
    assert text.count("\n") == 1
    assert 'model="m\\n2026-01-01T00:00:00Z info request status=200 pack=\\"x\\""' in text


def test_a_disabled_log_writes_nothing() -> None:
    stream = io.StringIO()
    log = AccessLog()
    log.configure("text", stream, enabled=False)
    log(FIELDS)
    assert stream.getvalue() == ""
