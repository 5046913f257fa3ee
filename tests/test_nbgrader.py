"""nbgrader itself on the course's masters (the ``instructor`` extra).

* its ``generate_assignment`` of solutions/ gives the learner's copies in notebooks/, cell for
  cell (solutions become the same stub, hidden tests are dropped);
* its ``autograde`` and the course's grader agree, exercise by exercise, on submissions of
  chapter 00: solved, unsolved, and one that hands in the package's reference as its own
  (nbgrader, too, runs the master's test cells with their hidden tests).

Without nbgrader installed this module is skipped, except under CI=true, where it must run.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from rl2_course import course
from rl2_course.classroom import PASS, grade_notebook

if os.environ.get("CI") != "true":
    pytest.importorskip("nbgrader", reason="nbgrader is in the instructor extra: pip install -e '.[instructor]'")

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "00-trials-and-tasks"        # the quickest chapter to run
pytestmark = pytest.mark.slow


def _nbgrader(course_dir: Path, *args: str) -> None:
    # the kernels nbgrader starts must import this checkout's rl2_course, as the grader's do;
    # nbgrader runs the `alembic` script of its environment by name, so that goes on PATH
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory) -> Path:
    """An nbgrader course: every chapter as assignment ``all``, chapter 00 alone as ``a00``."""
    root = tmp_path_factory.mktemp("nbgrader-course")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{root}/gradebook.db'\n"
        # the course's stub, so that both generators write the same learner's copy
        f"c.ClearSolutions.code_stub = {{'python': {course.CODE_STUB!r}}}\n"
        "c.ExecutePreprocessor.timeout = 600\n")
    for assignment, names in (("all", [p.stem for p in course.solution_paths(course.SOLUTIONS_DIR)]),
                              ("a00", [CHAPTER])):
        (root / "source" / assignment).mkdir(parents=True)
        for name in names:
            (root / "source" / assignment / f"{name}.ipynb").write_bytes(
                (course.SOLUTIONS_DIR / f"{name}.ipynb").read_bytes())
        _nbgrader(root, "generate_assignment", assignment, "--force")
    return root


def test_nbgrader_releases_what_the_course_generates(course_dir):
    for path in sorted(course.NOTEBOOKS_DIR.glob("*.ipynb")):
        ours = nbformat.read(path, as_version=4)
        theirs = nbformat.read(course_dir / "release" / "all" / path.name, as_version=4)
        assert len(ours.cells) == len(theirs.cells), path.name
        graded = 0
        for index, (mine, nbgraders) in enumerate(zip(ours.cells, theirs.cells)):
            assert course.grade_id(mine) == course.grade_id(nbgraders), (path.name, index)
            assert mine.source == nbgraders.source, (path.name, index)
            graded += course.is_solution_cell(mine) or course.is_test_cell(mine)
        assert graded or "### Exercise" not in path.read_text(), path.name


def _submissions() -> dict[str, nbformat.NotebookNode]:
    """The learner's copy of chapter 00: solved (the master's solution cells pasted in),
    unsolved, and with the package's function handed in as the learner's."""
    master = nbformat.read(course.SOLUTIONS_DIR / f"{CHAPTER}.ipynb", as_version=4)
    unsolved = nbformat.read(course.NOTEBOOKS_DIR / f"{CHAPTER}.ipynb", as_version=4)
    solved, aliased = copy.deepcopy(unsolved), copy.deepcopy(unsolved)
    for index, cell in enumerate(master.cells):
        if course.is_solution_cell(cell):
            lines = [line for line in cell.source.split("\n") if line.strip() not in (course.BEGIN, course.END)]
            solved.cells[index].source = "\n".join(lines)
            name = cell.source.split("(")[0].removeprefix("def ").strip()
            aliased.cells[index].source = f"{name} = encode_trial_input"
    return {"solved": solved, "unsolved": unsolved, "aliased": aliased}


def test_nbgrader_autograde_and_the_course_grader_agree(course_dir):
    from nbgrader.api import Gradebook

    ours = {}
    for learner, nb in _submissions().items():
        path = course_dir / "submitted" / learner / "a00" / f"{CHAPTER}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        report = grade_notebook(path, timeout=600, cell_timeout=300)
        ours[learner] = {e.grade_id: e.status == PASS for e in report.exercises}
    _nbgrader(course_dir, "autograde", "a00", "--create", "--force")
    theirs = {}
    with Gradebook(f"sqlite:///{course_dir}/gradebook.db") as gradebook:
        for learner in ours:
            submitted = gradebook.find_submission_notebook(CHAPTER, "a00", learner)
            theirs[learner] = {g.name: g.auto_score == g.max_score for g in submitted.grades}
    assert ours == theirs
    assert all(ours["solved"].values()) and ours["solved"]
    assert not any(ours["unsolved"].values()) and not any(ours["aliased"].values())
