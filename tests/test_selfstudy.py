"""Self-study material: every chapter opens with goals, prerequisites and a time, ends with
self-check questions whose answers are folded away, and its links to docs/ resolve."""

import re
from pathlib import Path

import nbformat
import pytest

from rl2_course import course

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted(course.SOLUTIONS_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_chapter_has_a_guide_and_a_self_check(path):
    cells = nbformat.read(path, as_version=4).cells
    guide = cells[1]
    assert guide.cell_type == "markdown" and guide.source.startswith("### Self-study guide")
    for part in ("**Learning goals.**", "**Prerequisites.**", "**Time: about", "chapter_study_time.py",
                 "glossary.md"):
        assert part in guide.source, f"{path.name}: the guide lacks {part!r}"
    checks = [c for c in cells if c.cell_type == "markdown" and c.source.startswith("## Self-check")]
    assert len(checks) == 1
    text = checks[0].source
    questions = re.findall(r"^\d+\. ", text, flags=re.M)
    assert 3 <= len(questions) <= 5
    assert text.count("<details><summary>Answer</summary>") == len(questions) == text.count("</details>")


def test_docs_links_from_the_chapters_and_readme_resolve():
    sources = [(ROOT / "README.md", (ROOT / "README.md").read_text())]
    for path in SOLUTIONS:
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        sources.append((path, text))
    for where, text in sources:
        for target in re.findall(r"\]\(((?:\.\./)?docs/[\w.-]+\.md)(?:#[\w-]+)?\)", text):
            assert (where.parent / target).resolve().is_file(), f"{where.name} links to missing {target}"
    readme = (ROOT / "README.md").read_text()
    assert "docs/glossary.md" in readme and "docs/capstone.md" in readme and "## Course map" in readme


def test_glossary_defines_the_course_words_and_its_anchors_exist():
    glossary = (ROOT / "docs" / "glossary.md").read_text()
    for word in ("Trial", "Episode", "Task", "Fast learner", "Slow learner", "Hidden state", "GAE",
                 "PPO", "Gittins index", "BEB", "Memory wipe", "Bayes-optimal policy"):
        assert f"**{word}" in glossary, f"the glossary does not define {word!r}"
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', glossary))
    for path in SOLUTIONS:
        for cell in nbformat.read(path, as_version=4).cells:
            for anchor in re.findall(r"glossary\.md#([\w-]+)", cell.source):
                assert anchor in anchors, f"{path.name} links to a missing glossary entry #{anchor}"


def test_capstone_brief_has_deliverables_and_a_rubric_that_adds_up():
    text = (ROOT / "docs" / "capstone.md").read_text()
    assert "## What to hand in" in text and "## Rubric" in text
    weights = [int(w) for w in re.findall(r"^\|[^|]+\| (\d+) % \|", text, flags=re.M)]
    assert sum(weights) == 100
