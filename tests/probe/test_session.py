"""`switchyard probe` against strict fake providers: the pack it writes loads, passes its tests, and is right.

Each fake refuses different things in a different error style (tests/fakes/strict_providers.py); the
probe runs as a separate process, as users run it. What every run must hold: the written pack passes
`check` and `test` (run again here with the project's own loader and test runner), the provider saw
no more than `--max-requests`, and the key appears nowhere: not in the output, not in the pack.
"""

from __future__ import annotations

import re

import pytest
from fakes.chat_provider import ALLOWED_FIELDS
from fakes.strict_providers import CHAT_PROVIDERS, KEY, FakeResponsesLite, Rules, StrictChatProvider, rate_limited
from golden_files import GOLDEN, check_text
from probe_run import probe

from switchyard import packs
from switchyard.packtest import run_packs


def requests_seen(fake) -> int:
    return len(fake.requests) if isinstance(fake, FakeResponsesLite) else len(fake.received)


def assert_sound(probed, fake, limit: int = 60) -> None:
    assert probed.returncode == 0, probed.stderr
    assert "1 packs OK" in probed.stderr and ", 0 failed" in probed.stderr, probed.stderr
    rules = packs.load([str(probed.pack)], placeholders=True)
    outcomes = run_packs(rules.packs)
    assert outcomes and all(o.ok for o in outcomes), [o.report() for o in outcomes if not o.ok]
    assert requests_seen(fake) == probed.used() <= limit
    for text in (probed.stdout, probed.stderr, probed.text):
        assert KEY not in text


@pytest.mark.parametrize("name", sorted(CHAT_PROVIDERS))
async def test_the_pack_written_for_each_strict_chat_provider_passes_check_and_test(aiohttp_server, tmp_path, name):
    fake = CHAT_PROVIDERS[name]()
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path)
    assert_sound(probed, fake)


async def test_the_pack_written_for_a_responses_provider_passes_check_and_test(aiohttp_server, tmp_path):
    fake = FakeResponsesLite()
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path, protocol="responses")
    assert_sound(probed, fake)
    assert "developer messages sent as system messages" in probed.text
    assert "drop: tools[?type == 'namespace']" in probed.text
    keep = re.search(r"- keep: \[(.*)\]", probed.text).group(1).split(", ")
    assert "client_metadata" not in keep and "store" in keep


async def test_the_pack_for_a_provider_that_names_the_field_is_the_golden_one(aiohttp_server, tmp_path):
    fake = CHAT_PROVIDERS["dashscope"]()
    server = await aiohttp_server(fake.app)
    url = str(server.make_url("/v1"))
    probed = await probe(url, tmp_path)
    assert probed.returncode == 0, probed.stderr
    check_text(GOLDEN / "probe" / "dashscope.yaml", probed.text.replace(url, "http://127.0.0.1:PORT/v1"))


async def test_a_provider_answering_only_invalid_request_is_still_searched_out(aiohttp_server, tmp_path):
    fake = CHAT_PROVIDERS["opaque"]()
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path)
    assert_sound(probed, fake)
    text = probed.text
    assert "developer messages sent as system messages" in text
    assert "all system text as one leading system message" in text
    assert "text-only content lists joined into one string" in text
    assert "drop: messages[].reasoning_content" in text
    keep = re.search(r"- keep: \[(.*)\]", text).group(1).split(", ")
    assert set(keep) == {"model", "messages", "stream", "stream_options", "max_tokens", "temperature", "top_p"} | {
        "tools",
        "tool_choice",
    }


async def test_a_renamed_cap_a_refused_role_and_refused_strict_are_each_mapped(aiohttp_server, tmp_path):
    fake = CHAT_PROVIDERS["renames"]()
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path)
    assert_sound(probed, fake)
    assert "rename: {max_tokens: max_completion_tokens}" in probed.text
    assert "drop: tools[].function.strict" in probed.text
    assert "Use 'max_completion_tokens' instead" in probed.text  # the provider's answer, cited


async def test_reasoning_under_a_field_no_pack_knows_is_mapped_to_reasoning_content(aiohttp_server, tmp_path):
    fake = CHAT_PROVIDERS["thoughts"]()
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path)
    assert_sound(probed, fake)
    assert "rename: {'choices[].delta.thoughts': reasoning_content}" in probed.text
    assert "rename: {'choices[].message.thoughts': reasoning_content}" in probed.text
    assert "stream: thoughts -> reasoning_content" in probed.stderr
    assert "a named tool_choice sent as 'required'" in probed.text  # its tool_choice takes strings only
    assert 'tool-call messages get content ""' in probed.text


async def test_the_probe_never_sends_more_than_max_requests(aiohttp_server, tmp_path):
    fake = CHAT_PROVIDERS["opaque"]()
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path, "--max-requests", "7")
    assert probed.returncode == 1
    assert len(fake.received) == 7
    assert "stopped: the request budget (--max-requests 7) is spent" in probed.stderr
    assert "1 packs OK" in probed.stderr  # what was learnt is written, and loads
    assert KEY not in probed.stderr + probed.text


async def test_a_429_is_waited_out_as_retry_after_says_and_the_request_sent_again(aiohttp_server, tmp_path):
    fake = rate_limited()
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path)
    assert_sound(probed, fake)
    assert "request 1: 429, pausing 0.2 s as the provider asked" in probed.stderr
    assert fake.received[0].body == fake.received[1].body


async def test_a_401_stops_the_probe_with_a_clear_message_and_no_pack(aiohttp_server, tmp_path):
    fake = CHAT_PROVIDERS["dashscope"]()
    server = await aiohttp_server(fake.app)
    wrong = "sk-wrong-key-1234"
    probed = await probe(str(server.make_url("/v1")), tmp_path, key=wrong)
    assert probed.returncode == 1
    assert len(fake.received) == 0  # the fake refuses before reading a body
    assert "the provider answered 401" in probed.stderr and "--key-env" in probed.stderr
    assert not probed.pack.exists()
    assert wrong not in probed.stdout + probed.stderr


async def test_without_out_the_pack_goes_to_stdout_and_the_report_to_stderr(aiohttp_server, tmp_path):
    fake = CHAT_PROVIDERS["renames"]()
    server = await aiohttp_server(fake.app)
    # given the full endpoint rather than the base URL, as people copy it from a provider's docs
    probed = await probe(str(server.make_url("/v1/chat/completions")), tmp_path, "--out", "")
    assert probed.returncode == 0, probed.stderr
    assert probed.stdout.startswith("# Written by `switchyard probe") and "pack: fake-coder" in probed.stdout
    assert "switchyard probe:" not in probed.stdout and "switchyard probe:" in probed.stderr
    assert f"${{FAKE_CODER_BASE_URL:-{server.make_url('/v1')}}}" in probed.stdout


async def test_an_unset_key_variable_is_a_usage_error_before_any_request(aiohttp_server, tmp_path):
    fake = CHAT_PROVIDERS["dashscope"]()
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path, key="")
    assert probed.returncode == 2 and "PROBE_TEST_KEY is not set" in probed.stderr
    assert fake.received == []


async def test_a_provider_without_tools_leaves_what_needs_tools_untried_and_says_so(aiohttp_server, tmp_path):
    fake = StrictChatProvider(Rules(fields=ALLOWED_FIELDS - {"tools", "tool_choice", "parallel_tool_calls"}), "named")
    server = await aiohttp_server(fake.app)
    probed = await probe(str(server.make_url("/v1")), tmp_path)
    assert_sound(probed, fake)
    assert "tools strict: not tried: it needs tools, which the provider refused" in probed.stderr
    assert "  tools (left out by keep)" in probed.stderr
