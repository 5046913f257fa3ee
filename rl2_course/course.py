"""Build the learner's notebooks from the master notebooks (an nbgrader-style generator).

The course keeps one master copy of every chapter in ``solutions/``. A learner's copy in
``notebooks/`` is *generated* from it, never edited by hand::

    python -m rl2_course notebooks           # (re)write notebooks/ from solutions/
    python -m rl2_course notebooks --check   # exit 1 when notebooks/ is out of date

Conventions in a master notebook (nbgrader's, so that nbgrader itself can release and grade
the same files; ``tests/test_nbgrader.py`` checks that both generators agree):

* An exercise is a *solution cell*, cell metadata ``{"nbgrader": {"solution": true, "grade":
  false, "locked": false, "task": false, "grade_id": "ch01-ucb1", "schema_version": 3}}``. In
  it, the lines from a bare ``### BEGIN SOLUTION`` line to a bare ``### END SOLUTION`` line
  (both included) are the solution; the learner's copy replaces them with `CODE_STUB`, a
  ``raise NotImplementedError(...)`` at the indentation of the BEGIN line. A solution cell
  without markers is replaced whole. A hint goes into the prose or a comment line of its own
  above the markers: text on a marker line is refused (nbgrader would swallow it with the
  solution).
* A *test cell* (``"grade": true, "solution": false, "locked": true, "points": N``, its
  ``grade_id`` the exercise's plus ``-test``) checks the learner's function against the
  package's reference. Lines between bare ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN
  TESTS`` lines are the grader's alone: the learner's copy drops them, and the grader
  (`rl2_course.classroom`) runs the master's test cells, hidden lines included, in place of
  whatever the submission holds there.
* Solution and test cells get the tag ``raises-exception`` in the learner's copy (nbval runs on
  past them; the root conftest.py then requires a test cell to raise NotImplementedError).
* Markers belong in code cells of those kinds only; anywhere else they are refused (a solution
  in prose would leak into the copy), and so is any other line that mentions them.
* Outputs are not stored, with one exception: a code cell whose first line is
  ``# NBVAL_CHECK_OUTPUT`` keeps its (text) output, because that output is the reference
  nbval compares a fresh run with. Such a cell must not contain an exercise.

Files are written deterministically (sorted keys, one-space indent, trailing newline), so
regenerating an unchanged chapter gives byte-identical files and ``--check`` is exact.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from rl2_course.errors import UsageError

#: the master notebooks (with solutions, stored without outputs)
SOLUTIONS_DIR = Path(__file__).resolve().parents[1] / "solutions"
#: the learner's notebooks, generated from SOLUTIONS_DIR
NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
#: the tag the course used for test cells before they carried nbgrader metadata (refused now)
CHECK_TAG = "check"
#: nbval's (and our tests') tag for cells allowed to raise
RAISES_TAG = "raises-exception"
#: first line of a cell whose printed output nbval compares with the stored one
CHECK_OUTPUT_MARKER = "# NBVAL_CHECK_OUTPUT"
GENERIC_HINT = "write your solution here"
#: what a solution becomes in the learner's copy; nbgrader's ClearSolutions.code_stub must be
#: set to the same for its release to equal ours
CODE_STUB = f'raise NotImplementedError("Exercise: {GENERIC_HINT}")'
#: the nbgrader cell-metadata schema the masters use
NBGRADER_SCHEMA = 3

#: notebook-level metadata a saved notebook may carry but the course does not store
_DROPPED_NB_METADATA = ("widgets",)
#: cell metadata written by Jupyter or nbclient while running, never stored
_DROPPED_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
#: what nbgrader takes for a marker: these words anywhere on a line (a substring match)
_MARKER_WORDS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


class SolutionMarkerError(UsageError):
    """A master notebook's markers or nbgrader metadata are wrong (unbalanced, misplaced,
    not bare, or in a cell whose metadata does not allow them)."""


def nbgrader_metadata(cell: NotebookNode) -> dict:
    """The cell's nbgrader metadata ({} for an ordinary cell)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_solution_cell(cell: NotebookNode) -> bool:
    return bool(nbgrader_metadata(cell).get("solution"))


def is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell: nbgrader ``grade`` without ``solution``."""
    meta = nbgrader_metadata(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def grade_id(cell: NotebookNode) -> str | None:
    return nbgrader_metadata(cell).get("grade_id")


def make_student_notebook(nb: NotebookNode) -> NotebookNode:
    """The learner's copy of master notebook ``nb`` (which is left unchanged).

    Solutions are replaced by `CODE_STUB`, hidden tests are dropped, solution and test cells
    get the ``raises-exception`` tag, and outputs are stripped except the reference outputs
    of ``# NBVAL_CHECK_OUTPUT`` cells. Wrong markers or metadata raise `SolutionMarkerError`.
    """
    student = _clean(copy.deepcopy(nb))
    seen_ids: set[str] = set()
    for index, cell in enumerate(student.cells):
        _check_nbgrader_metadata(cell, index, seen_ids)
        solution, test = is_solution_cell(cell), is_test_cell(cell)
        marked = {word for word in _MARKER_WORDS for line in cell.source.splitlines() if word in line}
        if marked and cell.cell_type != "code":
            raise SolutionMarkerError(f"cell {index} is {cell.cell_type}: solution markers "
                                      "belong in code cells only")
        if marked and is_check_output_cell(cell):
            raise SolutionMarkerError(f"cell {index} checks its output with nbval and so "
                                      "cannot hold an exercise")
        if marked & {"BEGIN SOLUTION", "END SOLUTION"} and not solution:
            raise SolutionMarkerError(f"cell {index} holds {BEGIN} but is not a solution cell: "
                                      "give it nbgrader metadata with \"solution\": true")
        if marked & {"BEGIN HIDDEN TESTS", "END HIDDEN TESTS"} and not test:
            raise SolutionMarkerError(f"cell {index} holds {BEGIN_HIDDEN} but is not a test cell: "
                                      "give it nbgrader metadata with \"grade\": true")
        if solution:
            cell.source, replaced = _strip_region(cell.source, BEGIN, END, CODE_STUB, index)
            if not replaced:                 # nbgrader's rule: a solution cell without markers
                cell.source = CODE_STUB      # is a solution as a whole
        if test:
            cell.source, _ = _strip_region(cell.source, BEGIN_HIDDEN, END_HIDDEN, None, index)
        if solution or test:
            tags = list(cell.metadata.get("tags", []))
            cell.metadata["tags"] = list(dict.fromkeys([*tags, RAISES_TAG]))   # dedupe, keep order
    return student


def _check_nbgrader_metadata(cell: NotebookNode, index: int, seen_ids: set[str]) -> None:
    """Refuse nbgrader metadata that nbgrader would refuse or that the grader cannot use, and
    the old ``check`` tag (a test cell is now told by its metadata)."""
    if CHECK_TAG in cell.get("metadata", {}).get("tags", []) and not is_test_cell(cell):
        raise SolutionMarkerError(
            f"cell {index} is tagged {CHECK_TAG!r}: make it an nbgrader test cell instead "
            '(metadata {"nbgrader": {"grade": true, "solution": false, "locked": true, '
            '"points": N, "grade_id": "...-test", "schema_version": 3, "task": false}})')
    if "nbgrader" not in cell.get("metadata", {}):
        return
    meta = nbgrader_metadata(cell)
    where = f"cell {index} ({meta.get('grade_id', 'no grade_id')})"
    if meta.get("schema_version") != NBGRADER_SCHEMA:
        raise SolutionMarkerError(f"{where}: nbgrader schema_version must be {NBGRADER_SCHEMA}")
    if not isinstance(meta.get("grade_id"), str) or not re.fullmatch(r"[A-Za-z0-9_-]+", meta["grade_id"]):
        raise SolutionMarkerError(f"{where}: grade_id must be letters, digits, '-' or '_'")
    if meta["grade_id"] in seen_ids:
        raise SolutionMarkerError(f"{where}: grade_id {meta['grade_id']!r} is used twice")
    seen_ids.add(meta["grade_id"])
    if cell.cell_type != "code" and (meta.get("solution") or meta.get("grade")):
        raise SolutionMarkerError(f"{where}: only code cells are solution or test cells here")
    if meta.get("solution") and meta.get("grade"):
        raise SolutionMarkerError(f"{where}: a solution cell is not graded itself (\"grade\": "
                                  "false); its test cell carries the points")
    if is_test_cell(cell):
        points = meta.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 < points < 1e6:
            raise SolutionMarkerError(f"{where}: a test cell needs points > 0, got {points!r}")
        if not meta.get("locked"):
            raise SolutionMarkerError(f"{where}: a test cell must be locked")


def unsolved_check_problem(cell: NotebookNode, outputs: list) -> str | None:
    """Why a test cell of a learner's copy did not fail as it must on the unsolved stub, or None.

    A learner's test cell is tagged ``raises-exception`` so that nbval runs on past it, and
    nbval accepts such a cell whether it raises or not. The course needs more: on the stub it
    must raise NotImplementedError. A check that passes checks nothing, and any other error
    means the chapter broke before the learner's function was called. ``outputs`` are the
    cell's outputs from this run (nbformat dicts). Cells that are not such checks give None.
    """
    if not is_test_cell(cell) or RAISES_TAG not in cell.metadata.get("tags", []):
        return None
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if not errors:
        return "the check passed on the unsolved stub, so it checks nothing"
    if errors[0]["ename"] != "NotImplementedError":
        return f"the check raised {errors[0]['ename']}: {errors[0]['evalue']} (expected NotImplementedError)"
    return None


def _strip_region(source: str, begin: str, end: str, stub: str | None,
                  index: int) -> tuple[str, bool]:
    """``source`` without its ``begin`` … ``end`` regions (marker lines included), each
    replaced by ``stub`` at the BEGIN line's indentation (None: by nothing); and whether
    there was one. Marker lines must be bare; so that nbgrader, which takes any line holding
    the marker's words for a marker, reads the cell the same way, no other line may hold them."""
    out: list[str] = []
    inside = found = False
    for line in source.split("\n"):            # split/join on "\n" exactly as nbgrader does
        words = [w for w in _MARKER_WORDS if w in line]
        if line.strip() == begin:
            if inside:
                raise SolutionMarkerError(f"cell {index}: nested {begin}")
            inside = found = True
            if stub is not None:
                out.append(line[:len(line) - len(line.lstrip())] + stub)
        elif line.strip() == end:
            if not inside:
                raise SolutionMarkerError(f"cell {index}: {end} without {begin}")
            inside = False
        elif words:
            raise SolutionMarkerError(
                f"cell {index}: {words[0]!r} outside a bare marker line ({line.strip()[:60]!r}); "
                "marker lines hold the marker alone: put a hint on a comment line of its own")
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"cell {index}: {begin} without {end}")
    return "\n".join(out), found


def is_check_output_cell(cell: NotebookNode) -> bool:
    """Whether nbval compares this code cell's output (its first line is the marker)."""
    lines = cell.source.lstrip().splitlines()
    return cell.cell_type == "code" and bool(lines) and lines[0].strip() == CHECK_OUTPUT_MARKER


def _clean(nb: NotebookNode) -> NotebookNode:
    """Drop outputs, execution counts and run-time metadata (in place); returns ``nb``.

    ``# NBVAL_CHECK_OUTPUT`` cells keep their text outputs as nbval's reference, numbered
    as a fresh top-to-bottom run would number them.
    """
    for key in _DROPPED_NB_METADATA:
        nb.metadata.pop(key, None)
    nb.metadata.get("language_info", {}).pop("version", None)    # the Python that last ran it
    count = 0
    for cell in nb.cells:
        for key in _DROPPED_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "markdown":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        if cell.cell_type != "code":
            continue
        count += 1
        if is_check_output_cell(cell) and cell.get("execution_count") is not None:
            cell.outputs = [_text_output(o) for o in cell.outputs if _text_output(o) is not None]
            cell.execution_count = count
            for output in cell.outputs:
                if output.output_type == "execute_result":
                    output.execution_count = count
        else:
            cell.outputs = []
            cell.execution_count = None
    return nb


def _text_output(output: NotebookNode) -> NotebookNode | None:
    """The text part of an output (images and rich data are not reference material)."""
    if output.output_type == "stream":
        return output
    if output.output_type in ("execute_result", "display_data") and "text/plain" in output.data:
        kept = copy.deepcopy(output)
        kept.data = {"text/plain": output.data["text/plain"]}
        kept.metadata = {}
        return kept
    return None


def notebook_text(nb: NotebookNode) -> str:
    """The exact text the course stores for ``nb`` (stable key order, trailing newline)."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def _write(nb: NotebookNode, path: Path) -> bool:
    """Write ``nb`` to ``path`` unless it already holds exactly that; True when written."""
    text = notebook_text(nb)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return True


def _read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


def solution_paths(solutions: Path) -> list[Path]:
    """The master notebooks in ``solutions``; none is a one-line `UsageError`."""
    masters = sorted(Path(solutions).glob("*.ipynb"))
    if not masters:
        raise UsageError(f"no master notebooks (*.ipynb) in {solutions}")
    return masters


def student_notebook_text(solution: Path) -> str:
    """The text the learner's copy of ``solution`` must have."""
    return notebook_text(make_student_notebook(_read(solution)))


def write_student_notebooks(solutions: Path = SOLUTIONS_DIR, out: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Write ``out/<name>.ipynb`` for every ``solutions/<name>.ipynb``; returns the paths.

    Every path is returned, whether its content changed or not. Student notebooks without a
    master are left alone (`stale_notebooks` reports them).
    """
    out = Path(out)
    written = []
    for solution in solution_paths(solutions):
        target = out / solution.name
        _write(make_student_notebook(_read(solution)), target)
        written.append(target)
    return written


def stale_notebooks(solutions: Path = SOLUTIONS_DIR, out: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Student notebooks that differ from what would be generated, are missing, or have no
    master notebook (sorted)."""
    out = Path(out)
    masters = solution_paths(solutions)
    stale = []
    for solution in masters:
        target = out / solution.name
        if not target.exists() or target.read_text(encoding="utf-8") != student_notebook_text(solution):
            stale.append(target)
    names = {m.name for m in masters}
    stale += [p for p in sorted(out.glob("*.ipynb")) if p.name not in names]
    return sorted(stale)


def strip_outputs(path: Path) -> bool:
    """Store the notebook at ``path`` without outputs (but with its nbval reference outputs).

    Returns True when the file changed. Used to keep ``solutions/`` clean after working in
    Jupyter: ``python -m rl2_course.course strip solutions/*.ipynb``.
    """
    path = Path(path)
    return _write(_clean(_read(path)), path)


def has_outputs(nb: NotebookNode) -> bool:
    """Whether ``nb`` stores anything `strip_outputs` would remove."""
    return notebook_text(_clean(copy.deepcopy(nb))) != notebook_text(nb)


def execute_notebook(nb: NotebookNode, *, cwd: Path | None = None, timeout: int = 600,
                     allow_errors: bool = False, kernel_name: str = "python3") -> NotebookNode:
    """Run a copy of ``nb`` top to bottom on a fresh kernel and return it with its outputs."""
    from nbclient import NotebookClient

    ran = copy.deepcopy(nb)
    resources = {"metadata": {"path": str(cwd)}} if cwd is not None else {}
    NotebookClient(ran, timeout=timeout, kernel_name=kernel_name, allow_errors=allow_errors,
                   resources=resources).execute()
    return ran


def record_reference_outputs(path: Path, timeout: int = 600) -> bool:
    """Run master notebook ``path`` and store it with only its ``# NBVAL_CHECK_OUTPUT`` outputs.

    Run this after changing a chapter whose checked outputs change; returns True when the
    file changed.
    """
    path = Path(path)
    ran = execute_notebook(_read(path), cwd=path.parent, timeout=timeout)
    return _write(_clean(ran), path)


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rl2_course.course",
                                     description="keep master notebooks clean")
    parser.add_argument("action", choices=["strip", "record"],
                        help="strip: drop outputs; record: re-run and store nbval reference outputs")
    parser.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args(argv)
    for path in args.paths:
        changed = strip_outputs(path) if args.action == "strip" else record_reference_outputs(path)
        print(f"{'updated' if changed else 'unchanged'}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
