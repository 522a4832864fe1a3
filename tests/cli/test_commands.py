"""The `switchyard` command, run as a user runs it: a real process on rule folders made for each test.

The console script `.venv/bin/switchyard` is used when it is installed beside the interpreter running
the tests, `python -m switchyard` otherwise; both are the same `switchyard.cli.main.main`. Every run gets a
clean environment without the `QWEN_*` variables, so packs that interpolate them load the same on
every machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import golden_files
import pytest

from switchyard.language.loader import load_file

CODEX_REQUEST = golden_files.FIXTURES / "codex-cli-0.169.0" / "turn1-request.json"
GOLDEN = golden_files.GOLDEN / "language"
SCRIPT = Path(sys.executable).parent / "switchyard"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "switchyard"]

# The pack of the contract's "A rule pack" section, as written there.
CONTRACT_PACK = """\
pack: qwen                              # required; unique; lowercase letters, digits and '-'
description: Alibaba Qwen through DashScope compatible mode (Chat Completions only)
priority: 0                             # optional integer; higher is tried first; ties by file name
match: "starts_with(model, 'qwen')"     # required; JMESPath on the client's request body as received
models: [qwen3-coder-plus, qwen3-max]   # optional; what GET /v1/models lists for this pack
upstream:
  url: ${QWEN_BASE_URL:-https://dashscope.aliyuncs.com/compatible-mode/v1}
  protocol: chat                        # chat | responses: what the upstream speaks
  api_key: ${QWEN_API_KEY:-}            # optional; see "Credentials"
  headers: {X-Source: sidecar}          # optional extra headers; values may use ${VAR}
  force_stream: false                   # optional; see "Streaming"
  timeout: {connect: 10, read: 600}     # optional, seconds; read = longest silence between bytes
request:                                # steps run on the request after it is in the upstream's protocol
  - drop: [client_metadata, prompt_cache_key]
response:                               # steps run on each upstream event, before translation back
  - rename: {"choices[].delta.reasoning": reasoning_content}
tests:                                  # golden cases, run by the `test` command
  - name: drops what DashScope rejects
    client: responses
    input: {model: qwen3-max, input: hi, prompt_cache_key: abc}
    excludes: [prompt_cache_key]
"""

# A chat pack with the contract's example steps, for `apply` on Chat Completions bodies.
CHAT_PACK = """\
pack: chat-sample
description: the contract's example steps on a Chat Completions upstream
match: "starts_with(model, 'qwen')"
upstream: {url: https://dashscope.example/v1, protocol: chat}
request:
  - drop: [client_metadata, prompt_cache_key, include, store]
  - each: messages
    match: "role == 'developer'"
    do: [{set: {role: system}}]
  - each: input
    match: "role == 'developer'"
    do: [{set: {role: system}}]
  - rename: {max_output_tokens: max_tokens}
  - match: "reasoning.effort && reasoning.effort != 'none'"
    set: {enable_thinking: true}
  - drop: [reasoning, reasoning_effort]
  - match: "!stream"
    drop: stream_options
  - drop: "tools[?type != 'function']"
  - match: "n > `1`"
    reject: "this model returns one choice only (n must be 1)"
response:
  - rename: {"choices[].delta.thinking": reasoning_content}
"""

OTHER_PACK = """\
pack: other
match: "starts_with(model, 'gpt')"
upstream: {url: https://api.example/v1, protocol: chat}
request:
  - set: {served_by: other}
"""

TESTED_PACK = """\
pack: tested
match: "`true`"
upstream: {url: https://api.example/v1, protocol: chat}
request:
  - rename: {max_output_tokens: max_tokens}
  - drop: store
response:
  - rename: {"choices[].delta.reasoning": reasoning_content}
tests:
  - name: renames max_output_tokens
    input: {model: m, max_output_tokens: 5, store: true}
    expect: {model: m, max_tokens: 5}
  - name: a wrong expectation
    input: {model: m, max_output_tokens: 5}
    expect: {model: m, max_output_tokens: 5}
  - name: a missing include
    input: {model: m, store: true, user: u}
    includes: {user: u, store: true}
  - name: a field that should be gone
    input: {model: m, max_output_tokens: 5}
    excludes: [max_tokens]
  - name: renames reasoning in a chunk
    stage: response
    input: {choices: [{delta: {reasoning: r}}]}
    includes: {choices: [{delta: {reasoning_content: r}}]}
"""


def run(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN_")}
    return subprocess.run([*COMMAND, *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=env, timeout=60)


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def json_file(folder: Path, body: object) -> str:
    path = folder / "body.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return str(path)


def assert_one_clean_error_line(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write(tmp_path / "rules", qwen=CHAT_PACK, other=OTHER_PACK)


# -- check


def test_check_of_good_packs_prints_how_many_and_exits_0(rules: Path) -> None:
    result = run("check", str(rules))
    assert (result.returncode, result.stdout, result.stderr) == (0, "2 packs OK\n", "")


def test_check_reads_the_rules_folder_by_default(tmp_path: Path) -> None:
    write(tmp_path / "rules", qwen=CONTRACT_PACK)
    result = run("check", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "1 packs OK\n")


def test_check_accepts_the_pack_of_the_contract_as_written(tmp_path: Path) -> None:
    result = run("check", str(write(tmp_path / "rules", qwen=CONTRACT_PACK)))
    assert result.returncode == 0, result.stdout


def test_check_prints_every_problem_with_its_position_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path / "rules", good=OTHER_PACK)
    bad = 'pack: bad\nmatch: "model =="\nupstream: {url: https://x.example, protocol: chat, timout: 5}\n'
    (tmp_path / "rules" / "bad.yaml").write_text(bad, encoding="utf-8")
    result = run("check", "rules", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "rules/bad.yaml:2:17: invalid JMESPath 'model ==': incomplete expression",
        "rules/bad.yaml:3:52: unknown key 'timout' (did you mean 'timeout'?)",
    ]


def test_check_of_the_golden_broken_packs_prints_their_expected_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    errors = GOLDEN / "errors"
    result = run("check", "env.yaml", "two_actions.yaml", cwd=errors)
    # Secrets are for serving: `check` reports unset variables once, as placeholders, not as problems.
    env = [line for line in (errors / "env.expected").read_text().splitlines(True) if "is not set" not in line]
    expected = "".join(env) + (errors / "two_actions.expected").read_text()
    assert (result.returncode, result.stdout) == (1, expected)


def test_check_test_and_apply_need_no_secrets_and_name_the_unset_variables_once(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "rules",
        keyed="""
            pack: keyed
            match: "`true`"
            upstream: {url: "${SWITCHYARD_TEST_NO_URL}", protocol: chat, api_key: "${SWITCHYARD_TEST_NO_KEY}"}
            request:
              - drop: [store]
            tests:
              - name: drops store
                input: {model: m, store: true}
                expect: {model: m}
        """,
    )
    note = "note: not set, used as placeholders (serving needs them): SWITCHYARD_TEST_NO_URL, SWITCHYARD_TEST_NO_KEY"
    for args, out in ((("check", str(folder)), "1 packs OK\n"), (("test", str(folder)), "2 passed, 0 failed\n")):
        result = run(*args)
        assert (result.returncode, result.stdout, result.stderr.splitlines()) == (0, out, [note])
    applied = run("apply", "--rules", str(folder), "--client", "chat", "-", stdin='{"model": "m", "store": true}')
    assert (applied.returncode, json.loads(applied.stdout)) == (0, {"model": "m"})


def test_serve_still_refuses_a_pack_whose_secret_is_unset(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "rules",
        keyed="""
            pack: keyed
            match: "`true`"
            upstream: {url: "https://x.example/v1", protocol: chat, api_key: "${SWITCHYARD_TEST_NO_KEY}"}
        """,
    )
    result = run("serve", "--rules", str(folder), "--port", "9")
    assert result.returncode == 1
    assert "environment variable SWITCHYARD_TEST_NO_KEY is not set" in result.stderr


def test_check_of_a_missing_path_is_one_line_on_stderr_and_exit_2(tmp_path: Path) -> None:
    result = run("check", str(tmp_path / "nowhere"))
    assert_one_clean_error_line(result)
    assert "nowhere" in result.stderr


# -- apply


def test_apply_prints_the_body_the_upstream_would_receive(rules: Path, tmp_path: Path) -> None:
    body = {
        "model": "qwen3-max",
        "messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "max_output_tokens": 100,
        "reasoning_effort": "high",
        "stream": False,
        "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": "f"}}, {"type": "web_search"}],
        "store": True,
    }
    result = run("apply", "--rules", str(rules), "--client", "chat", json_file(tmp_path, body))
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {
        "model": "qwen3-max",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "max_tokens": 100,
        "stream": False,
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }


def test_apply_reads_the_body_from_stdin(rules: Path) -> None:
    result = run("apply", "--rules", str(rules), "--client", "chat", "-", stdin='{"model": "gpt-5"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"model": "gpt-5", "served_by": "other"}


def test_apply_explain_tells_on_stderr_what_each_step_did(rules: Path) -> None:
    body = '{"model": "qwen3-max", "max_output_tokens": 5, "stream": false, "stream_options": {}, "n": 1}'
    result = run("apply", "--rules", str(rules), "--client", "chat", "--explain", "-", stdin=body)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"model": "qwen3-max", "max_tokens": 5, "stream": False, "n": 1}
    lines = result.stderr.splitlines()
    assert lines[0].startswith("pack chat-sample (") and lines[0].endswith("client chat, upstream chat")
    assert len(lines) == 1 + 9  # the pack line, then one line per request step
    assert "request step 4 (rename) (line 13): renamed max_output_tokens -> max_tokens" in lines
    assert "request step 5 (set) (line 15): skipped, match is false" in lines
    assert "request step 7 (drop) (line 18): removed stream_options" in lines
    assert "request step 1 (drop) (line 6): no change" in lines


def test_apply_with_pack_uses_that_pack_whatever_its_match(rules: Path) -> None:
    result = run("apply", "--rules", str(rules), "--pack", "other", "--client", "chat", "-", stdin='{"model": "qwen"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"model": "qwen", "served_by": "other"}


def test_apply_with_an_unknown_pack_is_a_usage_error(rules: Path) -> None:
    result = run("apply", "--rules", str(rules), "--pack", "nope", "--client", "chat", "-", stdin="{}")
    assert_one_clean_error_line(result)


def test_apply_when_no_pack_matches_names_the_model(rules: Path) -> None:
    result = run("apply", "--rules", str(rules), "--client", "chat", "-", stdin='{"model": "llama-3"}')
    assert_one_clean_error_line(result)
    assert "llama-3" in result.stderr


def test_apply_stage_response_runs_the_response_steps_on_one_event(rules: Path) -> None:
    chunk = {"choices": [{"index": 0, "delta": {"thinking": "hmm"}}]}
    args = ("apply", "--rules", str(rules), "--pack", "chat-sample", "--client", "chat", "--stage", "response", "-")
    result = run(*args, stdin=json.dumps(chunk))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]}


def test_apply_stage_response_needs_a_pack(rules: Path) -> None:
    result = run("apply", "--rules", str(rules), "--client", "chat", "--stage", "response", "-", stdin="{}")
    assert_one_clean_error_line(result)
    assert "--pack" in result.stderr


def test_apply_of_a_rejected_request_prints_the_error_body_and_exits_1(rules: Path) -> None:
    result = run("apply", "--rules", str(rules), "--client", "chat", "-", stdin='{"model": "qwen3-max", "n": 3}')
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "status": 400,
        "error": {
            "message": "this model returns one choice only (n must be 1)",
            "type": "invalid_request_error",
            "param": None,
            "code": "rejected_by_rule",
        },
    }


def test_apply_of_invalid_json_is_one_line_on_stderr_and_exit_2(rules: Path) -> None:
    result = run("apply", "--rules", str(rules), "--client", "chat", "-", stdin='{"model": ')
    assert_one_clean_error_line(result)
    assert "not valid JSON" in result.stderr


def test_apply_of_a_missing_file_is_one_line_on_stderr_and_exit_2(rules: Path, tmp_path: Path) -> None:
    result = run("apply", "--rules", str(rules), "--client", "chat", str(tmp_path / "missing.json"))
    assert_one_clean_error_line(result)
    assert "missing.json" in result.stderr


def test_apply_with_a_missing_rules_folder_is_one_line_on_stderr_and_exit_2(tmp_path: Path) -> None:
    result = run("apply", "--rules", str(tmp_path / "nowhere"), "--client", "chat", "-", stdin="{}")
    assert_one_clean_error_line(result)


def test_apply_with_broken_rules_prints_the_problems_and_exits_2(tmp_path: Path) -> None:
    write(
        tmp_path / "rules",
        bad="pack: bad\nmatch: '`true`'\nupstream: {url: https://x.example, protocol: chat}\n"
        "request: [{drop: a, keep: [b]}]\n",
    )
    result = run("apply", "--rules", "rules", "--client", "chat", "-", stdin="{}", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.splitlines()[0]
        == "rules/bad.yaml:4:21: step 1 has two actions (drop, keep); a step has exactly one"
    )
    assert "Traceback" not in result.stderr


def test_apply_of_the_codex_request_through_a_chat_pack(rules: Path) -> None:
    original = json.loads(CODEX_REQUEST.read_text(encoding="utf-8"))
    result = run("apply", "--rules", str(rules), "--client", "chat", "--explain", str(CODEX_REQUEST))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    for gone in ("client_metadata", "prompt_cache_key", "include", "store", "reasoning"):
        assert gone in original and gone not in body
    assert [t["type"] for t in body["tools"]] == ["function"] * 7
    assert [t["name"] for t in body["tools"]] == [t["name"] for t in original["tools"] if t["type"] == "function"]
    assert [m["role"] for m in body["input"]] == ["system", "system", "user", "user"]
    assert body["input"][0]["content"] == original["input"][0]["content"]
    assert "request step 8 (drop) (line 19): removed tools[4], tools[8]" in result.stderr.splitlines()


# -- test


def test_test_of_passing_cases_prints_the_count_and_exits_0(tmp_path: Path) -> None:
    result = run("test", str(write(tmp_path / "rules", qwen=CONTRACT_PACK)))
    # its one case, and its steps on the shapes they meet
    assert (result.returncode, result.stdout, result.stderr) == (0, "2 passed, 0 failed\n", "")


def test_test_prints_each_failure_with_a_readable_diff_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path / "rules", tested=TESTED_PACK)
    result = run("test", "rules", cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert out[-1] == "3 passed, 3 failed"  # five cases, and the steps on the shapes they meet
    heads = [line for line in out if not line.startswith(" ")]
    assert heads[:-1] == [
        "rules/tested.yaml:13: tested: 'a wrong expectation' failed",
        "rules/tested.yaml:16: tested: 'a missing include' failed",
        "rules/tested.yaml:19: tested: 'a field that should be gone' failed",
    ]
    assert '  -  "max_output_tokens": 5,' in out or '  -  "max_output_tokens": 5' in out
    assert '  +  "max_tokens": 5,' in out or '  +  "max_tokens": 5' in out
    assert "  store: missing (expected true)" in out
    assert "  result has max_tokens, which should be absent" in out


def test_test_of_a_missing_path_is_one_line_on_stderr_and_exit_2(tmp_path: Path) -> None:
    assert_one_clean_error_line(run("test", str(tmp_path / "nowhere")))


# -- schema


def schema() -> dict:
    result = run("schema")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_schema_is_json_describing_every_action_and_top_level_key() -> None:
    from switchyard.language.actions import ACTIONS
    from switchyard.language.shape import pack_shape

    document = schema()
    assert document["$schema"].startswith("https://json-schema.org/")
    assert set(document["properties"]) == set(pack_shape().fields)
    actions = [next(iter(s["required"])) for s in document["$defs"]["step"]["oneOf"]]
    assert actions == list(ACTIONS)
    assert document["additionalProperties"] is False


def sample_packs(tmp_path: Path) -> list[Path]:
    """Every pack the project ships or shows: rules/, whole packs in the docs' YAML examples, this file's."""
    root = golden_files.ROOT
    files = sorted([*root.glob("rules/*.yaml"), *root.glob("rules/*.yml")])
    for doc in sorted(root.glob("docs/*.md")):
        for i, block in enumerate(doc.read_text(encoding="utf-8").split("```yaml\n")[1:]):
            text = block.split("```", 1)[0]
            if text.startswith(("pack:", "# yaml-language-server")):
                for j, document in enumerate(text.split("\n---\n")):  # several packs in one example
                    files.append(tmp_path / f"{doc.stem}-{i}-{j}.yaml")
                    files[-1].write_text(document, encoding="utf-8")
    write(tmp_path, contract=CONTRACT_PACK, chat=CHAT_PACK, other=OTHER_PACK, tested=TESTED_PACK)
    return [*files, *(tmp_path / f"{name}.yaml" for name in ("contract", "chat", "other", "tested"))]


def test_schema_validates_every_shipped_and_sample_pack_and_refuses_broken_ones(tmp_path: Path) -> None:
    import jsonschema  # a dev dependency: the schema and the validator must agree on every pack

    document = schema()
    jsonschema.Draft202012Validator.check_schema(document)
    validator = jsonschema.Draft202012Validator(document)
    packs = sample_packs(tmp_path)
    assert len(packs) >= 5
    for path in packs:
        doc, problems = load_file(str(path))
        assert doc is not None, problems
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc.data)]
        assert not errors, f"{path}: {errors}"
    for name in ("unknown_keys", "wrong_types", "two_actions", "each_without_do", "tests_without_expectation"):
        doc, _ = load_file(str(GOLDEN / "errors" / f"{name}.yaml"))
        assert not validator.is_valid(doc.data), name


def test_apply_reports_a_step_whose_match_fails_on_the_body_as_that_step_without_a_traceback(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "rules",
        guarded="""
            pack: guarded
            match: "`true`"
            upstream: {url: "https://x.example/v1", protocol: chat}
            request:
              - match: "starts_with(user, 'x')"
                set: {flagged: true}
        """,
    )
    for explain in ((), ("--explain",)):
        result = run("apply", "--rules", str(folder), "--client", "chat", *explain, "-", stdin='{"model": "m"}')
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
        assert "request step 1 (set): JMESPath error: starts_with() expected string, got null" in result.stderr


def test_test_runs_response_steps_on_every_stream_shape_and_names_the_step_that_fails(tmp_path: Path) -> None:
    # A match on delta.content is fine on text chunks and fails on the role-only first chunk (content null):
    # in production that ends every stream; `switchyard test` finds it with no test case written.
    folder = write(
        tmp_path / "rules",
        starts="""
            pack: starts
            match: "`true`"
            upstream: {url: "https://x.example/v1", protocol: chat}
            response:
              - match: "starts_with(choices[0].delta.content, 'a')"
                set: {flagged: true}
        """,
    )
    result = run("test", str(folder))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].endswith("starts: 'steps on the shapes they meet (chat upstream)' failed")
    assert any(
        line.strip().startswith("on a role-only first chunk: ")
        and "starts.yaml:7:5: response step 1 (set)" in line
        and "starts_with()" in line
        for line in lines
    ), lines
    assert lines[-1] == "0 passed, 1 failed"


def test_apply_explain_short_gives_one_short_line_per_step_and_the_bridge_as_sizes() -> None:
    rules = golden_files.ROOT / "rules"
    result = run("apply", "--rules", str(rules), "--client", "responses", "--explain", "--short", str(CODEX_REQUEST))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert (
        lines[1]
        == "bridge responses -> chat: tools[9] -> tools[13]; input[4] + reasoning -> messages[4] + stream_options"
    )
    assert any(re.fullmatch(r"request step 13 \(keep\) \(line \d+\): removed 4", line) for line in lines), lines
    assert all(len(line) < 140 for line in lines)


def test_version_names_the_installed_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("switchyard ")
    assert result.stdout.split()[1][0].isdigit() or result.stdout.split()[1] == "unknown"


def test_check_of_a_folder_without_packs_fails(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "notes.txt").write_text("not a pack")
    result = run("check", str(tmp_path / "rules"))
    assert result.returncode == 1
    assert result.stdout.startswith("no packs in ")


def test_check_warns_of_a_variable_written_without_braces_at_its_position(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "rules",
        bare="""
            pack: bare
            match: "`true`"
            upstream:
              url: "https://x.example/v1"
              protocol: chat
              api_key: $BARE_KEY
        """,
    )
    result = run("check", str(folder))
    assert (result.returncode, result.stdout) == (0, "1 packs OK\n")
    warning = "warning: $BARE_KEY is sent as written: only ${BARE_KEY} is replaced from the environment"
    assert result.stderr.splitlines() == [f"{folder}/bare.yaml:7:12: {warning}"]


def test_serve_refuses_an_unknown_log_level_in_one_line(tmp_path: Path) -> None:
    result = run("serve", "--rules", str(tmp_path), "--log-level", "verbose")
    assert result.returncode == 2 and "invalid choice: 'verbose'" in result.stderr and "Traceback" not in result.stderr
