"""The front door and the reference: a short README whose links resolve, and docs/ pages whose links do too."""

import re

import pytest
from conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_is_a_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move reference into docs/"
    assert "make demo" in README.read_text() and "make test" in README.read_text()


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    text = page.read_text()
    targets = [t.split("#")[0] for t in LINK.findall(text) if not t.startswith(("http://", "https://", "#"))]
    missing = [t for t in targets if t and not (page.parent / t).exists()]
    assert missing == []


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t).resolve() for t in LINK.findall(README.read_text())}
    assert [p.name for p in DOCS if p.resolve() not in linked] == []
