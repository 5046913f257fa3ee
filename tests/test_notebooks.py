"""The chapters: notebooks/ is generated from solutions/, and every exercise check works.

* the learner's notebooks are exactly what `rl2_course.course` makes from the masters, and the
  masters are stored without outputs (nbval's reference outputs excepted);
* in the learner's copy every test cell must raise NotImplementedError: the rule, and (slow)
  the root conftest.py hook that applies it in nbval's run of notebooks/ (the chapters
  themselves run only there, in `make test`'s second stage, once per folder);
* the generator itself, on small in-memory notebooks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from rl2_course import course

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted(course.SOLUTIONS_DIR.glob("*.ipynb"))
SOLUTION_IDS = [p.stem for p in SOLUTIONS]


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def _errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


# --------------------------------------------------------------------------- committed files

def test_there_are_chapters():
    assert SOLUTIONS, f"no master notebooks in {course.SOLUTIONS_DIR}"


def test_student_notebooks_are_up_to_date():
    stale = course.stale_notebooks(course.SOLUTIONS_DIR, course.NOTEBOOKS_DIR)
    assert not stale, ("notebooks/ differs from what `python -m rl2_course notebooks` generates: "
                       + ", ".join(p.name for p in stale))


@pytest.mark.parametrize("path", SOLUTIONS, ids=SOLUTION_IDS)
def test_solutions_are_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    assert not course.has_outputs(nb), f"{path.name} has outputs: run `python -m rl2_course.course strip {path}`"
    for cell in nb.cells:
        if cell.cell_type == "code" and not course.is_check_output_cell(cell):
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("path", SOLUTIONS, ids=SOLUTION_IDS)
def test_checked_outputs_have_a_reference(path):
    """nbval skips the comparison for a cell stored unrun, so a marker without output checks nothing."""
    nb = nbformat.read(path, as_version=4)
    marked = [c for c in nb.cells if course.is_check_output_cell(c)]
    for cell in marked:
        assert cell.execution_count is not None and cell.outputs, (
            f"{path.name}: a # NBVAL_CHECK_OUTPUT cell has no stored output; "
            f"run `python -m rl2_course.course record {path}`")


@pytest.mark.parametrize("path", SOLUTIONS, ids=SOLUTION_IDS)
def test_every_exercise_has_a_test_cell_with_points_after_it(path):
    nb = nbformat.read(path, as_version=4)
    course.make_student_notebook(nb)            # markers and nbgrader metadata are valid
    ids = [course.grade_id(c) for c in nb.cells]
    for index, cell in enumerate(nb.cells):
        if course.is_solution_cell(cell):
            test = f"{course.grade_id(cell)}-test"
            assert test in ids[index + 1:], f"{path.name}: no test cell {test!r} after solution cell {index}"
        if course.BEGIN in cell.source:
            assert course.is_solution_cell(cell), f"{path.name}: cell {index} has a solution but no metadata"


@pytest.mark.parametrize("path", SOLUTIONS, ids=SOLUTION_IDS)
def test_solution_hints_do_not_ride_on_the_markers(path):
    """nbgrader's convention: bare markers; a hint is a comment line of its own (or prose)."""
    for cell in nbformat.read(path, as_version=4).cells:
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line or "END SOLUTION" in line:
                assert line.strip() in (course.BEGIN, course.END), line


# --------------------------------------------------------------------------- running them
# The chapters themselves run in `make test`'s nbval stage (solutions/ and notebooks/, once
# each); the root conftest.py adds to it the check below for the learner's copies.

def _test_metadata(gid: str = "double-test", points: float = 1) -> dict:
    return {"grade": True, "grade_id": gid, "locked": True, "points": points, "schema_version": 3,
            "solution": False, "task": False}


def _solution_metadata(gid: str = "double") -> dict:
    return {"grade": False, "grade_id": gid, "locked": False, "schema_version": 3,
            "solution": True, "task": False}


def _check_cell(tags: list[str], test: bool = True):
    cell = new_code_cell("assert double(2) == 4")
    if tags:
        cell.metadata["tags"] = tags
    if test:
        cell.metadata["nbgrader"] = _test_metadata()
    return cell


def test_an_unsolved_check_must_raise_not_implemented_error():
    learner = _check_cell([course.RAISES_TAG])
    stub = new_output("error", ename="NotImplementedError", evalue="Exercise: multiply", traceback=[])
    assert course.unsolved_check_problem(learner, [stub]) is None
    assert "checks nothing" in course.unsolved_check_problem(learner, [])
    other = new_output("error", ename="NameError", evalue="name 'double' is not defined", traceback=[])
    assert "NameError" in course.unsolved_check_problem(learner, [other])
    # the master's test cells (no raises-exception) and other cells are nbval's own business
    assert course.unsolved_check_problem(_check_cell([]), []) is None
    assert course.unsolved_check_problem(_check_cell([course.RAISES_TAG], test=False), []) is None


@pytest.mark.slow
def test_the_nbval_run_fails_a_learner_check_that_passes_on_the_stub(tmp_path):
    """The hook in the root conftest.py, in a real nbval run on two tiny learner's copies."""
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    stub = 'def double(x):\n    raise NotImplementedError("Exercise: multiply by two")'
    for name, solution in [("good", stub), ("hollow", "def double(x):\n    return 2 * x")]:
        exercise, check = new_code_cell(solution), _check_cell([course.RAISES_TAG])
        exercise.metadata["tags"] = [course.RAISES_TAG]
        nbformat.write(new_notebook(cells=[exercise, check]), tmp_path / f"{name}.ipynb")
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
                          "-p", "no:cacheprovider", "-rA", "good.ipynb", "hollow.ipynb"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    summary = [line.split(" - ")[0] for line in run.stdout.splitlines()
               if line.startswith(("PASSED", "FAILED"))]
    assert run.returncode == 1, run.stdout[-3000:]
    assert sorted(summary) == ["FAILED hollow.ipynb::Cell 1", "PASSED good.ipynb::Cell 0",
                               "PASSED good.ipynb::Cell 1", "PASSED hollow.ipynb::Cell 0"], run.stdout[-3000:]
    assert "the check passed on the unsolved stub, so it checks nothing" in run.stdout


# --------------------------------------------------------------------------- the generator

SOLVED = '''\
def double(x):
    """Twice x."""
    if x is not None:
        # Hint: multiply by two
        ### BEGIN SOLUTION
        y = 2 * x
        return y
        ### END SOLUTION
    return None

def halve(x):
    ### BEGIN SOLUTION
    return x / 2
    ### END SOLUTION'''


def _tiny_notebook():
    nb = new_notebook()
    nb.metadata["widgets"] = {"state": {}}
    exercise = new_code_cell(SOLVED, execution_count=3,
                             outputs=[new_output("stream", name="stdout", text="hi\n")])
    exercise.metadata["execution"] = {"iopub.status.busy": "2024-01-01"}
    exercise.metadata["nbgrader"] = _solution_metadata()
    check = new_code_cell("assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(0) == 0\n"
                          "### END HIDDEN TESTS\nprint('ok')", execution_count=4)
    check.metadata["nbgrader"] = _test_metadata()
    plain = new_code_cell("print(1)", execution_count=5,
                          outputs=[new_output("stream", name="stdout", text="1\n")])
    reference = new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(2)", execution_count=9, outputs=[
        new_output("stream", name="stdout", text="2\n"),
        new_output("display_data", data={"image/png": "AAAA", "text/plain": "<Figure>"})])
    nb.cells = [new_markdown_cell("# Title"), exercise, check, plain, reference]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    return nb


def test_solutions_become_stubs_at_their_indentation():
    student = course.make_student_notebook(_tiny_notebook())
    source = student.cells[1].source
    assert "2 * x" not in source and "x / 2" not in source and "SOLUTION" not in source
    assert source.splitlines()[3:5] == ["        # Hint: multiply by two", "        " + course.CODE_STUB]
    assert "    " + course.CODE_STUB in source.splitlines()
    assert "    return None" in source.splitlines()           # code after a block is kept
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(NotImplementedError, match=course.GENERIC_HINT):
        namespace["double"](1)
    assert namespace["double"](None) is None


def test_exercise_and_test_cells_are_tagged_and_keep_their_metadata():
    student = course.make_student_notebook(_tiny_notebook())
    assert _tags(student.cells[1]) == [course.RAISES_TAG]
    assert _tags(student.cells[2]) == [course.RAISES_TAG]
    assert _tags(student.cells[3]) == []
    assert student.cells[2].metadata["nbgrader"] == _test_metadata()    # the grader matches by it


def test_hidden_tests_are_dropped_from_the_copy():
    student = course.make_student_notebook(_tiny_notebook())
    assert student.cells[2].source == "assert double(2) == 4\nprint('ok')"


def test_a_solution_cell_without_markers_becomes_the_stub():
    cell = new_code_cell("answer = 42")
    cell.metadata["nbgrader"] = _solution_metadata()
    assert course.make_student_notebook(new_notebook(cells=[cell])).cells[0].source == course.CODE_STUB


def _one_cell(source: str, meta: dict | None = None, tags: list[str] | None = None):
    cell = new_code_cell(source)
    if meta is not None:
        cell.metadata["nbgrader"] = meta
    if tags:
        cell.metadata["tags"] = tags
    return cell


@pytest.mark.parametrize("cells, says", [
    ([_one_cell("### BEGIN SOLUTION hint\nx = 1\n### END SOLUTION", _solution_metadata())], "bare marker"),
    ([_one_cell("x = 1  # see BEGIN SOLUTION", _solution_metadata())], "bare marker"),
    ([_one_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")], "not a solution cell"),
    ([_one_cell("### BEGIN HIDDEN TESTS\nx = 1\n### END HIDDEN TESTS", _solution_metadata())], "not a test cell"),
    ([_one_cell("### BEGIN HIDDEN TESTS\nx = 1", _test_metadata())], "without"),
    ([_one_cell("assert True", tags=["check"])], "make it an nbgrader test cell"),
    ([_one_cell("assert True", _test_metadata(points=0))], "points > 0"),
    ([_one_cell("assert True", {**_test_metadata(), "locked": False})], "locked"),
    ([_one_cell("assert True", {**_test_metadata(), "schema_version": 1})], "schema_version"),
    ([_one_cell("x = 1", _solution_metadata("a")), _one_cell("y = 1", _solution_metadata("a"))], "used twice"),
])
def test_wrong_markers_or_metadata_are_one_line_errors(cells, says):
    with pytest.raises(course.SolutionMarkerError, match=says) as caught:
        course.make_student_notebook(new_notebook(cells=cells))
    assert "\n" not in str(caught.value)


def test_outputs_are_stripped_except_nbval_references():
    nb = _tiny_notebook()
    student = course.make_student_notebook(nb)
    for cell in student.cells[1:4]:
        assert cell.outputs == [] and cell.execution_count is None
        assert "execution" not in cell.metadata
    reference = student.cells[4]
    assert reference.execution_count == 4                 # numbered as a fresh run numbers it
    assert [o.output_type for o in reference.outputs] == ["stream", "display_data"]
    assert dict(reference.outputs[1].data) == {"text/plain": "<Figure>"}
    assert "widgets" not in student.metadata
    # the master is left as it was
    assert nb.cells[1].outputs and course.BEGIN in nb.cells[1].source


def test_markers_are_validated():
    for source in ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                   "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"]:
        nb = new_notebook(cells=[_one_cell(source, _solution_metadata())])
        with pytest.raises(course.SolutionMarkerError):
            course.make_student_notebook(nb)
    with pytest.raises(course.SolutionMarkerError):
        course.make_student_notebook(new_notebook(cells=[new_markdown_cell("### BEGIN SOLUTION\n### END SOLUTION")]))
    with pytest.raises(course.SolutionMarkerError):
        course.make_student_notebook(new_notebook(cells=[_one_cell(
            "# NBVAL_CHECK_OUTPUT\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION", _solution_metadata())]))


def test_generation_is_deterministic_and_staleness_is_exact(tmp_path):
    solutions, out = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    nbformat.write(_tiny_notebook(), solutions / "00-tiny.ipynb")
    assert course.stale_notebooks(solutions, out) == [out / "00-tiny.ipynb"]     # missing
    written = course.write_student_notebooks(solutions, out)
    assert written == [out / "00-tiny.ipynb"]
    first = written[0].read_bytes()
    assert first.endswith(b"\n")
    assert course.write_student_notebooks(solutions, out) == written
    assert written[0].read_bytes() == first                                         # byte-identical
    assert course.stale_notebooks(solutions, out) == []
    written[0].write_text(first.decode().replace("Title", "Changed"))
    (out / "99-orphan.ipynb").write_text(first.decode())
    assert course.stale_notebooks(solutions, out) == [out / "00-tiny.ipynb", out / "99-orphan.ipynb"]


def test_strip_outputs(tmp_path):
    path = tmp_path / "master.ipynb"
    nbformat.write(_tiny_notebook(), path)
    assert course.has_outputs(nbformat.read(path, as_version=4))
    assert course.strip_outputs(path) is True
    stripped = nbformat.read(path, as_version=4)
    assert not course.has_outputs(stripped)
    assert "BEGIN SOLUTION" in stripped.cells[1].source               # solutions stay in the master
    assert stripped.cells[1].outputs == [] and stripped.cells[4].outputs   # nbval reference kept
    assert course.strip_outputs(path) is False                        # already clean: untouched
