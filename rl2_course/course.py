"""Build the learner's notebooks from the master notebooks (an nbgrader-style generator).

The course keeps one master copy of every chapter in ``solutions/``. A learner's copy in
``notebooks/`` is *generated* from it, never edited by hand::

    python -m rl2_course notebooks           # (re)write notebooks/ from solutions/
    python -m rl2_course notebooks --check   # exit 1 when notebooks/ is out of date

Conventions in a master notebook:

* In a code cell, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` (both
  included) are the solution. The learner's copy replaces them with one line,
  ``raise NotImplementedError("Exercise: <hint>")``, at the indentation of the BEGIN line.
  The hint is whatever follows the marker (``### BEGIN SOLUTION count the pulls``), else a
  generic one. Such a cell gets the tag ``raises-exception`` in the learner's copy.
* A cell tagged ``check`` compares a learner's function with the package's reference (it
  passes on the master and raises on the learner's stub); it gets ``raises-exception`` too.
* Markdown cells may not contain the markers (a solution there would leak into the copy).
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
#: tag of cells that compare a learner's function with the package's reference
CHECK_TAG = "check"
#: nbval's (and our tests') tag for cells allowed to raise
RAISES_TAG = "raises-exception"
#: first line of a cell whose printed output nbval compares with the stored one
CHECK_OUTPUT_MARKER = "# NBVAL_CHECK_OUTPUT"
GENERIC_HINT = "write your solution here"

#: notebook-level metadata a saved notebook may carry but the course does not store
_DROPPED_NB_METADATA = ("widgets",)
#: cell metadata written by Jupyter or nbclient while running, never stored
_DROPPED_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")

_BEGIN_RE = re.compile(r"^(?P<indent>[ \t]*)###[ \t]*BEGIN SOLUTION\b(?P<hint>.*)$")
_END_RE = re.compile(r"^[ \t]*###[ \t]*END SOLUTION\b")


class SolutionMarkerError(ValueError):
    """A master notebook's BEGIN/END SOLUTION markers are unbalanced or misplaced."""


def make_student_notebook(nb: NotebookNode) -> NotebookNode:
    """The learner's copy of master notebook ``nb`` (which is left unchanged).

    Solutions are replaced by ``raise NotImplementedError("Exercise: ...")``, exercise and
    ``check`` cells get the ``raises-exception`` tag, and outputs are stripped except the
    reference outputs of ``# NBVAL_CHECK_OUTPUT`` cells.
    """
    student = _clean(copy.deepcopy(nb))
    for index, cell in enumerate(student.cells):
        has_markers = any(_BEGIN_RE.match(line) or _END_RE.match(line)
                          for line in cell.source.splitlines())
        if cell.cell_type != "code":
            if has_markers:
                raise SolutionMarkerError(f"cell {index} is {cell.cell_type}: solution markers "
                                          "belong in code cells only")
            continue
        tags = list(cell.metadata.get("tags", []))
        if has_markers:
            if is_check_output_cell(cell):
                raise SolutionMarkerError(f"cell {index} checks its output with nbval and so "
                                          "cannot hold an exercise")
            cell.source = _replace_solutions(cell.source, index)
            tags.append(RAISES_TAG)
        if CHECK_TAG in tags:
            tags.append(RAISES_TAG)
        if tags:
            cell.metadata["tags"] = list(dict.fromkeys(tags))   # dedupe, keep order
    return student


def unsolved_check_problem(cell: NotebookNode, outputs: list) -> str | None:
    """Why a check cell of a learner's copy did not fail as it must on the unsolved stub, or None.

    A learner's check cell is tagged ``raises-exception`` so that nbval runs on past it, and
    nbval accepts such a cell whether it raises or not. The course needs more: on the stub it
    must raise NotImplementedError. A check that passes checks nothing, and any other error
    means the chapter broke before the learner's function was called. ``outputs`` are the
    cell's outputs from this run (nbformat dicts). Cells that are not such checks give None.
    """
    tags = cell.metadata.get("tags", [])
    if CHECK_TAG not in tags or RAISES_TAG not in tags:
        return None
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if not errors:
        return "the check passed on the unsolved stub, so it checks nothing"
    if errors[0]["ename"] != "NotImplementedError":
        return f"the check raised {errors[0]['ename']}: {errors[0]['evalue']} (expected NotImplementedError)"
    return None


def _replace_solutions(source: str, index: int) -> str:
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        begin, end = _BEGIN_RE.match(line), _END_RE.match(line)
        if begin:
            if inside:
                raise SolutionMarkerError(f"cell {index}: nested {BEGIN}")
            inside = True
            hint = begin["hint"].strip().lstrip(":-—–").strip() or GENERIC_HINT
            message = json.dumps(f"Exercise: {hint}", ensure_ascii=False)   # a valid Python literal
            out.append(f'{begin["indent"]}raise NotImplementedError({message})')
        elif end:
            if not inside:
                raise SolutionMarkerError(f"cell {index}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"cell {index}: {BEGIN} without {END}")
    return "\n".join(out)


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


def _solutions(solutions: Path) -> list[Path]:
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
    for solution in _solutions(solutions):
        target = out / solution.name
        _write(make_student_notebook(_read(solution)), target)
        written.append(target)
    return written


def stale_notebooks(solutions: Path = SOLUTIONS_DIR, out: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Student notebooks that differ from what would be generated, are missing, or have no
    master notebook (sorted)."""
    out = Path(out)
    masters = _solutions(solutions)
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
