"""switchyard/server/logs.py: the per-request line, in both formats, and what a client cannot do to it."""

from __future__ import annotations

import io
import logging

import orjson

from switchyard.server.logs import AccessLog

FIELDS = {"request_id": "req_1", "pack": "qwen", "model": "qwen3-max", "status": 200, "error": None}


def line(fmt: str, level: str = "info", **fields) -> str:
    stream = io.StringIO()
    log = AccessLog()
    log.configure(fmt, stream, logging.INFO)
    log({**FIELDS, **fields}, level)
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


def test_a_line_below_the_configured_level_is_not_written_and_one_at_or_above_is() -> None:
    stream = io.StringIO()
    log = AccessLog()
    log.configure("text", stream, logging.WARNING)
    log(FIELDS)
    assert stream.getvalue() == ""
    log(FIELDS, "warning")
    log(FIELDS, "error")
    assert [row.split()[1] for row in stream.getvalue().splitlines()] == ["warning", "error"]


def test_failures_are_logged_at_their_level_in_both_formats() -> None:
    assert " warning request " in line("text", "warning", status=400)
    assert orjson.loads(line("json", "error", status=500))["level"] == "error"


def test_a_worker_of_serve_workers_names_itself_last_on_the_line_in_both_formats() -> None:
    for fmt in ("text", "json"):
        stream = io.StringIO()
        log = AccessLog()
        log.configure(fmt, stream, logging.INFO)
        log(FIELDS)
        log.in_worker(4242)
        log(FIELDS)
        alone, worker = stream.getvalue().splitlines()
        if fmt == "text":  # (the time stamp, first, may differ)
            assert "worker" not in alone and worker.split(" ", 1)[1] == alone.split(" ", 1)[1] + " worker=4242"
        else:
            before, after = orjson.loads(alone), orjson.loads(worker)
            assert "worker" not in before and after.pop("worker") == 4242
            assert {**after, "ts": None} == {**before, "ts": None}
