"""Classroom release: the assignment zip for learners and the grader for their notebooks.

An instructor runs::

    make assignment                                   # -> dist/rl2-course-assignment.zip
    python -m rl2_course grade SUBMISSION.ipynb       # per-exercise pass/fail table
    python -m rl2_course grade SUBMISSION.ipynb --json

**The assignment** holds the learner's copies of every chapter, generated afresh from
``solutions/`` by `course.make_student_notebook` (so a stale ``notebooks/`` can never leak into
it), and a short ``ASSIGNMENT.md`` saying how work is checked. It never holds a solution: the
build refuses to write a zip in which a ``### BEGIN SOLUTION`` marker survived.

**The grader** runs a submitted notebook top to bottom on a fresh kernel, as nbval does, and
reads the outcome of every *check cell* (the cells tagged ``check``; each follows an exercise
and compares the learner's function with the package's reference). An exercise passes when its
check cell ran without raising. The exercise's name is the nearest ``### Exercise ...`` heading
above its check cell.

Two limits keep a bad submission from hanging the grader: each cell may run for
``cell_timeout`` seconds (then the kernel is interrupted and the cell counts as timed out, and
the notebook goes on with the next cell), and the whole notebook for ``timeout`` seconds (cells
not reached by then are reported as not run). A kernel that dies takes the remaining cells
with it; they are reported, not retried.
"""

from __future__ import annotations

import json
import math
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from rl2_course.course import BEGIN, CHECK_TAG, SOLUTIONS_DIR, make_student_notebook, notebook_text
from rl2_course.errors import UsageError, writable_directory
from rl2_course.files import atomic_write

#: outcome of one exercise
PASS, FAIL, TIMEOUT, NOT_RUN = "pass", "fail", "timeout", "not run"

ASSIGNMENT_README = """\
# rl2-course assignment

Each notebook is one chapter. Cells that say `raise NotImplementedError("Exercise: ...")` are
yours to fill in; the cell after each exercise checks your function against the course's
reference implementation and raises if they disagree.

Run every notebook top to bottom on a fresh kernel before you hand it in
(Kernel -> Restart Kernel and Run All Cells). Your instructor grades a notebook with

    python -m rl2_course grade YOUR-NOTEBOOK.ipynb

which runs it on a fresh kernel, with a time limit per cell and per notebook, and prints one
line per exercise: pass, fail (with the error), timeout, or not run.
"""


@dataclass
class ExerciseResult:
    """How one exercise (its check cell) came out."""

    name: str
    cell: int            # index of the check cell in the notebook
    status: str          # pass | fail | timeout | not run
    message: str = ""    # the error's last line, for anything but a pass


@dataclass
class GradeReport:
    notebook: str
    exercises: list[ExerciseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)     # problems outside the check cells
    wall_seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(e.status == PASS for e in self.exercises)

    @property
    def all_passed(self) -> bool:
        return bool(self.exercises) and self.passed == len(self.exercises)

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(passed=self.passed, total=len(self.exercises))
        return data

    def table(self) -> str:
        width = max([len("exercise")] + [len(e.name) for e in self.exercises])
        lines = [f"{'exercise':<{width}}  {'result':<8}  detail"]
        for e in self.exercises:
            lines.append(f"{e.name:<{width}}  {e.status:<8}  {e.message}".rstrip())
        lines.append(f"\n{self.passed} of {len(self.exercises)} exercises pass "
                     f"({self.notebook}, {self.wall_seconds:.0f} s)")
        lines += [f"note: {error}" for error in self.errors]
        return "\n".join(lines)


def find_exercises(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """(check cell index, exercise name) for every check cell, in notebook order."""
    found, heading = [], None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.lstrip("#").strip().lower().startswith("exercise") and line.startswith("#"):
                    heading = line.lstrip("#").strip()
        elif CHECK_TAG in cell.get("metadata", {}).get("tags", []):
            found.append((index, heading or f"check cell {index}"))
            heading = None
    return found


def _error_line(cell: nbformat.NotebookNode) -> str | None:
    """The last line of the error a cell raised (None if it raised nothing)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
            return text.splitlines()[-1] if text else "error"
    return None


def grade_notebook(path: str | Path, *, timeout: float = 900, cell_timeout: float = 300,
                   kernel_name: str = "python3") -> GradeReport:
    """Run the notebook at ``path`` on a fresh kernel and grade each exercise by its check cell."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no notebook at {path}")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:   # nbformat raises several unrelated types for a bad file
        raise UsageError(f"{path} is not a readable notebook ({type(error).__name__})") from None
    if timeout <= 0 or cell_timeout <= 0:
        raise UsageError("--timeout and --cell-timeout must be positive")
    exercises = find_exercises(nb)
    report = GradeReport(notebook=str(path))
    if not exercises:
        report.errors.append("the notebook has no check cells (cells tagged 'check'): nothing to grade")
    status = {index: NOT_RUN for index, _ in exercises}
    message = {index: "" for index, _ in exercises}

    client = NotebookClient(nb, timeout=int(cell_timeout), kernel_name=kernel_name,
                            allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.perf_counter()
    try:
        with client.setup_kernel():
            start = time.perf_counter()    # the limit is on running cells, not on starting a kernel
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                left = timeout - (time.perf_counter() - start)
                if left <= 0:
                    report.errors.append(f"the notebook ran past its {timeout:g} s limit at cell {index}; "
                                         "later cells were not run")
                    break
                allowed = min(cell_timeout, left)
                client.timeout = max(1, math.ceil(allowed))
                began = time.perf_counter()
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    timed_out = True
                else:
                    # with interrupt_on_timeout the cell comes back holding a KeyboardInterrupt
                    timed_out = (time.perf_counter() - began >= client.timeout
                                 and (_error_line(cell) or "").startswith("KeyboardInterrupt"))
                error = _error_line(cell)
                if index in status:
                    status[index] = TIMEOUT if timed_out else (FAIL if error else PASS)
                    message[index] = (f"ran past {client.timeout:g} s" if timed_out else error or "")
                elif timed_out:
                    report.errors.append(f"cell {index} ran past {client.timeout:g} s and was interrupted")
    except DeadKernelError:
        report.errors.append("the kernel died; cells after that point were not run")
    except RuntimeError as error:    # e.g. a kernel that fails to start
        report.errors.append(f"the notebook could not be run: {error}")
    report.wall_seconds = round(time.perf_counter() - start, 1)
    for index, name in exercises:
        report.exercises.append(ExerciseResult(name, index, status[index], message[index]))
    return report


def build_assignment(out: str | Path, solutions: Path = SOLUTIONS_DIR) -> Path:
    """Write the learner's notebooks (generated from ``solutions``) and ASSIGNMENT.md into a zip."""
    out = Path(out)
    masters = sorted(Path(solutions).glob("*.ipynb"))
    if not masters:
        raise UsageError(f"no master notebooks in {solutions}")
    writable_directory(out.parent, "--out")

    def write(file) -> None:
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            _add(archive, "ASSIGNMENT.md", ASSIGNMENT_README)
            for master in masters:
                text = notebook_text(make_student_notebook(nbformat.read(master, as_version=4)))
                if BEGIN in text:
                    raise RuntimeError(f"a solution marker survived in the copy of {master.name}")
                _add(archive, f"notebooks/{master.name}", text)

    try:        # atomic: never a half-written zip under the final name
        return atomic_write(out, write)
    except OSError as error:
        raise UsageError(f"cannot write {out}: {error.strerror}") from None


def _add(archive: zipfile.ZipFile, name: str, text: str) -> None:
    # a fixed timestamp, so the same solutions give a byte-identical zip
    info = zipfile.ZipInfo(f"rl2-course-assignment/{name}", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, text)


def print_report(report: GradeReport, as_json: bool) -> None:
    print(json.dumps(report.to_json(), indent=1) if as_json else report.table())
