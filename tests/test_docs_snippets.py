"""The YAML snippets in the docs are real packs: each is checked and its `tests:` cases run.

Every ```yaml block in the listed pages that starts with `pack:` is written to a folder of its own
(a block of several packs separated by `---` as one file each) and goes through `switchyard check`
and `switchyard test`, as a reader who copies it would run them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import golden_files
import pytest

PAGES = ["docs/new-strict-provider.md", "docs/cookbook.md"]
BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def snippets() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        text = (golden_files.ROOT / page).read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            if match.group(1).lstrip().startswith("pack:"):
                found.append((page, text[: match.start()].count("\n") + 2, match.group(1)))
    return found


def switchyard(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    return subprocess.run([sys.executable, "-m", "switchyard", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(("page", "line", "text"), snippets(), ids=lambda v: str(v) if isinstance(v, int) else None)
def test_a_pack_snippet_in_the_docs_checks_and_passes_its_tests(tmp_path, page, line, text):
    for i, document in enumerate(text.split("\n---\n")):  # a block may hold several packs, one file each
        (tmp_path / f"pack{i}.yaml").write_text(document, encoding="utf-8")
    checked = switchyard("check", str(tmp_path))
    assert checked.returncode == 0, f"{page}:{line}: {checked.stdout}{checked.stderr}"
    tested = switchyard("test", str(tmp_path))
    assert tested.returncode == 0 and tested.stdout.endswith(" 0 failed\n"), f"{page}:{line}: {tested.stdout}"


def test_the_pages_have_snippets() -> None:
    assert len(snippets()) >= 5


def blocks(page: str, language: str) -> list[str]:
    text = (golden_files.ROOT / page).read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_codex_configuration_in_the_docs_parses_and_uses_only_keys_codex_documents() -> None:
    import tomllib

    for page in ("docs/getting-started.md", "README.md"):
        [config] = blocks(page, "toml")
        parsed = tomllib.loads(config)
        provider = parsed["model_providers"][parsed["model_provider"]]
        # protocols.md D.2: the keys of Codex's ModelProviderInfo used here
        assert set(provider) <= {"name", "base_url", "env_key", "wire_api", "request_max_retries", "stream_max_retries"}
        assert provider["wire_api"] == "responses" and provider["base_url"].endswith("/v1")


def test_the_python_snippets_in_the_docs_compile() -> None:
    for page in ("docs/getting-started.md",):
        for code in blocks(page, "python"):
            compile(code, page, "exec")
