"""The README and the notebooks link to each other and to figures by relative path; a file moved or
renamed must not leave a link behind. Also: every script in benchmarks/ is listed in its README."""

import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _pages():
    return [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def broken_links(page: pathlib.Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(page.read_text())
            if not m.group(1).startswith(("http://", "https://", "mailto:")) and not (page.parent / m.group(1)).exists()]


@pytest.mark.skipif(not (REPO / "docs").is_dir(), reason="not a source checkout")
def test_every_relative_link_of_the_docs_resolves():
    broken = {str(p.relative_to(REPO)): b for p in _pages() if (b := broken_links(p))}
    assert not broken, f"links to missing files: {broken}"


def test_the_link_check_finds_a_missing_file(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.png").write_bytes(b"")
    page.write_text("![a](there.png) [b](missing.md#part) [c](https://example.org/x) [d](#anchor)")
    assert broken_links(page) == ["missing.md"]


@pytest.mark.skipif(not (REPO / "benchmarks").is_dir(), reason="not a source checkout")
def test_every_benchmark_script_is_listed_in_the_benchmarks_readme():
    listed = (REPO / "benchmarks" / "README.md").read_text()
    scripts = [p.name for p in (REPO / "benchmarks").iterdir() if p.suffix in (".py", ".sh")]
    missing = [s for s in scripts if f"`{s}`" not in listed]
    assert scripts and not missing, f"benchmarks/README.md does not list {missing}"
