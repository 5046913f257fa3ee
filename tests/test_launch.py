"""One-click launch: Binder's environment is the pinned one, the Colab and Binder links agree,
and the assignment zip tells a learner how to install the package and its assets."""

import os
import re
import zipfile
from pathlib import Path

from rl2_course.classroom import build_assignment
from rl2_course.settings import ASSETS_ENV_VAR

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def _content_lines(path: Path) -> list[str]:
    """The lines of a YAML file that are not comments or blank."""
    return [line.rstrip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_binder_environment_is_environment_yml_plus_the_cpu_wheel_index():
    binder = _content_lines(ROOT / "binder" / "environment.yml")
    assert f"      - {CPU_INDEX}" in binder
    assert [line for line in binder if CPU_INDEX not in line] == _content_lines(ROOT / "environment.yml")


def test_binder_post_build_installs_the_course_editable():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert text.startswith("#!/bin/bash") and "pip install --no-deps -e ." in text


def test_binder_and_colab_links_name_one_repository_and_real_notebooks():
    texts = {name: (ROOT / name).read_text() for name in ("README.md", "docs/colab.md")}
    slugs, notebooks = set(), set()
    for name, text in texts.items():
        found = (re.findall(r"mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/", text)
                 + re.findall(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/", text))
        assert found, f"{name} has no Binder or Colab link"
        slugs.update(found)
        notebooks.update(re.findall(r"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/"
                                    r"[\w.-]+/(notebooks/[\w.-]+\.ipynb)", text))
    slugs.update(re.findall(r'REPO = "https://github\.com/([\w.-]+/[\w.-]+)"', texts["docs/colab.md"]))
    assert len(slugs) == 1, f"the launch links name several repositories: {sorted(slugs)}"
    assert notebooks and all((ROOT / nb).is_file() for nb in notebooks)
    assert "urlpath=lab/tree/notebooks" in texts["README.md"]


def test_colab_cell_installs_the_package_editable_with_its_assets():
    text = (ROOT / "docs" / "colab.md").read_text()
    cell = text.split("```python", 1)[1].split("```", 1)[0]
    assert "git clone" in cell and "pip install" in cell and "-e /content/rl2-course" in cell
    assert "enable_custom_widget_manager" in cell
    assert ASSETS_ENV_VAR in text


def test_assignment_zip_has_a_readme_that_says_how_to_install_package_and_assets(tmp_path):
    def readme(**kwargs):
        with zipfile.ZipFile(build_assignment(tmp_path / "a.zip", **kwargs)) as archive:
            return archive.read("rl2-course-assignment/README.md").decode()

    text = readme()
    for needed in ("git clone", "make install", "pip install --no-deps -e .", "environment.yml",
                   ASSETS_ENV_VAR, "assets", "docs/colab.md", "ASSIGNMENT.md", "Python 3.11"):
        assert needed in text, f"the assignment README does not mention {needed!r}"
    assert "ask your instructor" in text
    url = "https://example.org/course/rl2-course.git"
    named = readme(repository=url)
    assert f"git clone {url} rl2-course" in named and "ask your instructor" not in named
