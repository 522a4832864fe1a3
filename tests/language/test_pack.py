"""Compiling a pack's upstream pool and limits (switchyard/language/pack.py): the third release's contract
example loads exactly as written, and what it compiles to."""

from __future__ import annotations

import golden_files

from switchyard.language.loader import load_text
from switchyard.language.pack import Endpoint, Limit, compile_pack

CONTRACT = golden_files.FIXTURES / "rule-language.md"
ENV = {"QWEN_KEY_A": "sk-a", "QWEN_KEY_B": "sk-b", "A_KEY": "sk-endpoint-a"}


def third_release_example() -> str:
    section = CONTRACT.read_text(encoding="utf-8").split("## Additions (third release)", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def compiled(text: str, env: dict):
    doc, problems = load_text(text, "pool.yaml")
    assert doc is not None, [str(p) for p in problems]
    pack, problems = compile_pack(doc, env=env)
    assert pack is not None, [str(p) for p in problems]
    return pack


def test_the_contracts_example_of_keys_endpoints_affinity_rest_and_limits_loads_as_written() -> None:
    pack = compiled('pack: pool\nmatch: "`true`"\n' + third_release_example(), ENV)
    up = pack.upstream
    assert up.api_keys == ("sk-a", "sk-b")
    assert up.endpoints == (
        Endpoint("https://a.example/v1", 3.0, ("sk-endpoint-a",)),
        Endpoint("https://b.example/v1", 1.0, ()),
    )
    assert up.affinity.evaluate({"metadata": {"user_id": "u1"}}) == "u1"
    assert (up.rest_after, up.rest_for, up.rest_given) == (3, 30.0, True)
    assert pack.limits == (Limit("client", 60, 200000), Limit("pack", 600, None))
    assert "sk-a" not in repr(up) and "sk-endpoint-a" not in repr(up)


def test_a_pack_with_one_url_and_one_key_is_one_endpoint_using_that_key() -> None:
    text = 'pack: one\nmatch: "`true`"\nupstream: {url: "https://x.example/v1/", protocol: chat, api_key: k}\n'
    up = compiled(text, {}).upstream
    assert (up.url, up.api_key, up.api_keys, up.endpoints) == (
        "https://x.example/v1",
        "k",
        ("k",),
        (Endpoint("https://x.example/v1"),),
    )
    assert not up.rest_given and up.affinity is None


def test_an_empty_key_from_the_environment_is_no_key() -> None:
    text = 'pack: one\nmatch: "`true`"\nupstream: {url: "https://x.example/v1", protocol: chat, api_key: "${K:-}"}\n'
    up = compiled(text, {}).upstream
    assert (up.api_key, up.api_keys) == ("", ())
