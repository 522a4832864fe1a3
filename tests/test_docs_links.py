"""The docs hold together: every relative link (and its #anchor) resolves, the README links every page
an ops team needs, and each claim about another project on the comparison page cites a listed source."""

from __future__ import annotations

import re

import golden_files

ROOT = golden_files.ROOT
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(text: str) -> set[str]:
    """GitHub's anchors: a heading in lower case, punctuation removed, spaces as dashes."""
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_relative_link_and_anchor_in_the_docs_resolves() -> None:
    broken = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # an absolute URL
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_the_readme_links_the_pages_for_ops_teams() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("getting-started", "cookbook", "operations", "comparison", "server", "rule-language"):
        assert f"](docs/{page}.md" in readme, page


def test_each_claim_on_the_comparison_page_cites_a_listed_source_with_its_address() -> None:
    text = (ROOT / "docs" / "comparison.md").read_text(encoding="utf-8")
    body, sources = text.split("\n## Sources\n")
    listed = {int(n): entry for n, entry in re.findall(r"^(\d+)\. (.*?)(?=^\d+\. |\Z)", sources, re.M | re.S)}
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
    assert cited and cited == set(listed), (cited, set(listed))
    for n, entry in listed.items():
        assert re.search(r"https://\S+", entry), f"source {n} has no address"
    table = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| |")]
    for row in table:  # every cell about another project either cites a source or is empty
        for cell in row.strip("|").split("|")[2:]:
            assert not cell.strip() or re.search(r"\[\d+\]", cell), cell
