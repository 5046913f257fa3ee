"""The chapters: notebooks/ is generated from solutions/, and every exercise check works.

* the learner's notebooks are exactly what `rl2_course.course` makes from the masters, and the
  masters are stored without outputs (nbval's reference outputs excepted);
* (slow) each master runs top to bottom without an error, and in the learner's copy every
  check cell raises NotImplementedError while no cell outside the ``raises-exception`` ones fails;
* the generator itself, on small in-memory notebooks.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from rl2_course import course

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
def test_every_chapter_checks_its_exercises(path):
    nb = nbformat.read(path, as_version=4)
    exercises = [c for c in nb.cells if c.cell_type == "code" and course.BEGIN in c.source]
    checks = [c for c in nb.cells if course.CHECK_TAG in _tags(c)]
    if exercises:
        assert checks, f"{path.name} has exercises but no cell tagged {course.CHECK_TAG!r}"


# --------------------------------------------------------------------------- running them

@pytest.fixture(scope="module")
def executed():
    """Run each master and its learner's copy once per test session (module), on fresh kernels."""
    cache: dict[tuple[str, str], tuple[nbformat.NotebookNode, float]] = {}

    def run(path: Path, which: str):
        key = (path.name, which)
        if key not in cache:
            nb = nbformat.read(path, as_version=4)
            if which == "student":
                nb = course.make_student_notebook(nb)
            start = time.perf_counter()
            ran = course.execute_notebook(nb, cwd=path.parent, timeout=600, allow_errors=True,
                                          kernel_name="python3")
            cache[key] = ran, time.perf_counter() - start
        return cache[key]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=SOLUTION_IDS)
def test_solution_runs_without_errors(path, executed):
    ran, seconds = executed(path, "solution")
    failures = [(i, e.ename, e.evalue) for i, cell in enumerate(ran.cells) for e in _errors(cell)]
    assert not failures, f"{path.name} raised in cells {failures}"
    print(f"{path.name}: {seconds:.1f} s")


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=SOLUTION_IDS)
def test_student_copy_checks_fail_and_nothing_else_does(path, executed):
    ran, seconds = executed(path, "student")
    for i, cell in enumerate(ran.cells):
        if cell.cell_type != "code":
            continue
        errors = _errors(cell)
        if course.CHECK_TAG in _tags(cell):
            assert errors, f"check cell {i} of the learner's {path.name} passed on the unsolved stub"
            assert errors[0].ename == "NotImplementedError", (
                f"check cell {i} of the learner's {path.name} raised {errors[0].ename}: {errors[0].evalue}")
        elif course.RAISES_TAG not in _tags(cell):
            assert not errors, (f"cell {i} of the learner's {path.name} raised "
                                f"{errors[0].ename}: {errors[0].evalue}")
    print(f"{path.name} (learner's copy): {seconds:.1f} s")


# --------------------------------------------------------------------------- the generator

SOLVED = '''\
def double(x):
    """Twice x."""
    if x is not None:
        ### BEGIN SOLUTION multiply by two
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
    check = new_code_cell("assert double(2) == 4", execution_count=4)
    check.metadata["tags"] = ["check"]
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
    assert '        raise NotImplementedError("Exercise: multiply by two")' in source.splitlines()
    assert f'    raise NotImplementedError("Exercise: {course.GENERIC_HINT}")' in source.splitlines()
    assert "    return None" in source.splitlines()           # code after a block is kept
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(NotImplementedError, match="multiply by two"):
        namespace["double"](1)
    assert namespace["double"](None) is None


def test_exercise_and_check_cells_are_tagged():
    student = course.make_student_notebook(_tiny_notebook())
    assert _tags(student.cells[1]) == [course.RAISES_TAG]
    assert _tags(student.cells[2]) == ["check", course.RAISES_TAG]
    assert _tags(student.cells[3]) == []


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
    assert nb.cells[1].outputs and "BEGIN SOLUTION" in nb.cells[1].source


def test_markers_are_validated():
    for source in ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                   "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"]:
        nb = new_notebook(cells=[new_code_cell(source)])
        with pytest.raises(course.SolutionMarkerError):
            course.make_student_notebook(nb)
    with pytest.raises(course.SolutionMarkerError):
        course.make_student_notebook(new_notebook(cells=[new_markdown_cell("### BEGIN SOLUTION\n### END SOLUTION")]))
    with pytest.raises(course.SolutionMarkerError):
        course.make_student_notebook(new_notebook(cells=[new_code_cell(
            "# NBVAL_CHECK_OUTPUT\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION")]))


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
