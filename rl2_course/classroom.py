"""Classroom release: the assignment zip for learners and the grader for their notebooks.

An instructor runs::

    make assignment                                   # -> dist/rl2-course-assignment.zip
    python -m rl2_course grade SUBMISSION.ipynb       # per-exercise pass/fail and points
    python -m rl2_course grade SUBMISSIONS/ --out GRADES/   # a class: gradebook + feedback

**The assignment** holds the learner's copies of every chapter, generated afresh from
``solutions/`` by `course.make_student_notebook` (so a stale ``notebooks/`` can never leak into
it), a short ``ASSIGNMENT.md`` saying how work is checked, and a ``README.md`` saying how to
install the package and its assets (``--repository URL`` names the repository to clone). It
never holds a solution or a hidden test: the build refuses to write a zip in which a marker
survived.

**The grader does not trust the submission's test cells.** It finds the master notebook in
``solutions/`` that the submission is a copy of (the one sharing most nbgrader ``grade_id`` s
with it, else the one of the same file name), and runs the submission on a fresh kernel with
the *master's* test cells, hidden tests included, in place of whatever the submission holds
there (`assemble`): an edited test cell is replaced, a deleted one is put back after the
nearest cell the master has before it, and a learner's cell that merely claims a test's
``grade_id`` runs as the learner's code and counts for nothing. An exercise passes when its
test cell ran without raising, and earns that cell's ``points``. The hidden tests also fail a
function that is, copies or calls the package's reference (`rl2_course.checks`). What a
learner's code can still do is what any code in the same kernel can: patch the libraries the
tests use; the report lists every test cell that was replaced or restored, for a human to read.

Two limits keep a bad submission from hanging the grader: each cell may run for
``cell_timeout`` seconds (then the kernel is interrupted and the cell counts as timed out, and
the notebook goes on with the next cell), and the whole notebook for ``timeout`` seconds (cells
not reached by then are reported as not run). A cell that catches the interrupt and runs on
has its kernel killed a few seconds later (`INTERRUPT_GRACE`). A kernel that dies takes the
remaining cells with it; they are reported, not retried.

The submission is code the grader does not trust, so it never runs in the grader's process:
a child process in a session (process group) of its own starts the kernel and runs the cells,
in a temporary directory that holds a copy of the notebook, under an address-space limit (the
machine's available memory unless told), a CPU-time limit and a file-size limit, and, where
Linux offers Landlock, unable to write anywhere but that directory (`rl2_course.sandbox`).
The grader enforces the wall-clock limit from outside: when the child overruns it, or the run
ends in any way, every process of the run is killed, those that left its process groups too
(they are found by a marker in their environment). What the kernel prints on its own (such as
jupyter's "running over TCP without encryption" warning) goes to a log in that directory, not
into the report.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import re
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from rl2_course.course import (BEGIN, BEGIN_HIDDEN, SOLUTIONS_DIR, grade_id, is_test_cell,
                               make_student_notebook, nbgrader_metadata, notebook_text, solution_paths)
from rl2_course.errors import UsageError, writable_directory
from rl2_course.files import atomic_write, atomic_write_text
from rl2_course.limits import available_memory

#: outcome of one exercise; ERROR: the submission could not be graded at all (batch mode)
PASS, FAIL, TIMEOUT, NOT_RUN, ERROR = "pass", "fail", "timeout", "not run", "error"

ASSIGNMENT_README = """\
# rl2-course assignment

Each notebook is one chapter. Cells that say `raise NotImplementedError("Exercise: ...")` are
yours to fill in; the test cell after each exercise checks your function against the course's
reference implementation and raises if they disagree. Write the function yourself: one that is,
or calls, the package's reference fails.

Run every notebook top to bottom on a fresh kernel before you hand it in
(Kernel -> Restart Kernel and Run All Cells). Your instructor grades a notebook with

    python -m rl2_course grade YOUR-NOTEBOOK.ipynb

which runs it on a fresh kernel, with a time limit per cell and per notebook, with the course's
own test cells (and further tests you do not see) in place of the ones in your copy: editing
or deleting a test cell changes nothing. It prints one line per exercise: pass, fail (with the
error), timeout, or not run, and the points earned.
"""

#: README.md of the assignment zip: how a learner installs the package and its assets. The zip
#: holds only notebooks; they import `rl2_course` and load its pretrained agents from the
#: repository's ``assets/`` (`settings.assets_dir`), so the learner needs the repository too.
INSTALL_README = """\
# Setting up for the rl2-course assignment

This zip holds the notebooks only. They import the course's Python package, `rl2_course`, and
load its pretrained agents and result tables from the course repository's `assets/` folder, so
you need a copy of the repository: {repository}.

## On your machine (Linux or macOS, Python 3.11, `make`)

    git clone {clone} rl2-course
    cd rl2-course
    make install        # .venv with the pinned packages and the course, installed editable

`make install` installs the package *editable* (`pip install -e .`), so it finds its assets in
`rl2-course/assets/`. Then open this zip's notebooks with that environment:

    .venv/bin/jupyter lab --ServerApp.root_dir=/path/to/rl2-course-assignment

Conda instead of make: `conda env create -f environment.yml`, `conda activate rl2-course`,
`pip install --no-deps -e .` in the repository. If you install the package any other way (not
editable, or from another folder), point it at the assets:
`export RL2_COURSE_ASSETS=/path/to/rl2-course/assets`.

Check the set-up: `python -c "import rl2_course.settings as s; print(s.assets_dir())"` prints
a folder that holds `checkpoints/`.

## Without a local Python

Binder (the repository's `binder/` folder) and Google Colab (`docs/colab.md` in the
repository: one set-up cell to paste at the top of a notebook) run the same notebooks in a
browser. Upload your notebook from this zip there, and download it again before you hand it in.

What to hand in and how it is graded: `ASSIGNMENT.md`.
"""


def install_readme(repository: str | None = None) -> str:
    """The assignment's README.md; ``repository`` is the address to clone (None: the learner
    is told to ask the instructor for it)."""
    if repository:
        return INSTALL_README.format(repository=repository, clone=repository)
    return INSTALL_README.format(repository="ask your instructor for its address",
                                 clone="REPOSITORY-ADDRESS")


@dataclass
class ExerciseResult:
    """How one exercise (its test cell) came out."""

    name: str
    cell: int            # index of the test cell in the notebook that ran
    status: str          # pass | fail | timeout | not run
    message: str = ""    # the error's last line, for anything but a pass
    grade_id: str = ""
    points: float = 0.0
    max_points: float = 0.0


@dataclass
class GradeReport:
    notebook: str
    master: str = ""
    exercises: list[ExerciseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)     # notes: replaced test cells, limits hit
    wall_seconds: float = 0.0
    # None: the notebook could write only in its temporary directory; else why not (no Landlock)
    confined_writes: str | None = None

    @property
    def passed(self) -> int:
        return sum(e.status == PASS for e in self.exercises)

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> float:
        return sum(e.max_points for e in self.exercises)

    @property
    def all_passed(self) -> bool:
        return bool(self.exercises) and self.passed == len(self.exercises)

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(passed=self.passed, total=len(self.exercises), points=self.points,
                    max_points=self.max_points)
        return data

    def table(self) -> str:
        width = max([len("exercise")] + [len(e.name) for e in self.exercises])
        lines = [f"{'exercise':<{width}}  {'result':<8}  {'points':>7}  detail"]
        for e in self.exercises:
            lines.append(f"{e.name:<{width}}  {e.status:<8}  {_points(e.points, e.max_points):>7}  "
                         f"{e.message}".rstrip())
        lines.append(f"\n{self.passed} of {len(self.exercises)} exercises pass, "
                     f"{_points(self.points, self.max_points)} points "
                     f"({self.notebook}, {self.wall_seconds:.0f} s)")
        lines += [f"note: {error}" for error in self.errors]
        if self.confined_writes is not None:
            lines.append(f"note: the notebook's writes outside its temporary directory were not "
                         f"blocked: {self.confined_writes}")
        return "\n".join(lines)


def _points(earned: float, total: float) -> str:
    return f"{earned:g}/{total:g}"


@dataclass
class Exercise:
    """One graded exercise of a master notebook: its test cell."""

    cell: int            # index of the test cell in the master
    name: str            # the nearest "### Exercise ..." heading above it
    grade_id: str
    points: float


def find_exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """Every test cell of master ``nb`` (nbgrader ``grade`` cells), in notebook order."""
    found, heading = [], None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.lstrip("#").strip().lower().startswith("exercise") and line.startswith("#"):
                    heading = line.lstrip("#").strip()
        elif is_test_cell(cell):
            meta = nbgrader_metadata(cell)
            found.append(Exercise(index, heading or f"test cell {index}", grade_id(cell),
                                  float(meta.get("points", 0))))
            heading = None
    return found


def _error_line(cell: nbformat.NotebookNode) -> str | None:
    """The last line of the error a cell raised (None if it raised nothing)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
            return text.splitlines()[-1] if text else "error"
    return None


# -- the master's tests in the submission ---------------------------------------------------------

def _read_notebook(path: Path, what: str = "notebook") -> nbformat.NotebookNode:
    """``path`` read as a notebook, or a one-line `UsageError`."""
    if not path.is_file():
        raise UsageError(f"no {what} at {path}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:   # nbformat raises several unrelated types for a bad file
        raise UsageError(f"{path} is not a readable notebook ({type(error).__name__})") from None


def load_masters(solutions: str | Path = SOLUTIONS_DIR) -> list[tuple[Path, nbformat.NotebookNode]]:
    """The master notebooks in ``solutions``, each checked as the generator checks it (bad
    markers or metadata are a one-line `UsageError`)."""
    masters = []
    for path in solution_paths(Path(solutions)):
        nb = _read_notebook(path, "master notebook")
        make_student_notebook(nb)          # raises SolutionMarkerError, a UsageError
        masters.append((path, nb))
    return masters


def find_master(submission: nbformat.NotebookNode, name: str,
                masters: list[tuple[Path, nbformat.NotebookNode]]) -> tuple[Path, nbformat.NotebookNode]:
    """The master ``submission`` is a copy of: the one whose test and solution ``grade_id`` s it
    shares most, else the one called ``name``; a one-line `UsageError` when none fits."""
    ids = {grade_id(cell) for cell in submission.cells} - {None}

    def score(entry: tuple[Path, nbformat.NotebookNode]) -> tuple[int, bool]:
        path, master = entry
        return len(ids & {grade_id(cell) for cell in master.cells}), path.name == name

    best = max(masters, key=score, default=None)
    if best is None or score(best) == (0, False):
        raise UsageError(f"{name} matches no master notebook: it shares no nbgrader grade_id "
                         "with any, and none has its file name")
    return best


def _cell_key(cell: nbformat.NotebookNode) -> tuple[str, str | None]:
    """How a master's cell is recognised in a submission: by grade_id, else by cell id."""
    gid = grade_id(cell)
    return ("grade_id", gid) if gid else ("id", cell.get("id"))


def assemble(submission: nbformat.NotebookNode, master: nbformat.NotebookNode
             ) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook the grader runs: ``submission`` with the master's test cells in place of
    its own (replaced where it kept them, put back where it lost them), and notes on what
    was changed. Only the master's test cells carry test metadata in the result."""
    graded = copy.deepcopy(submission)
    exercises = {e.grade_id: e for e in find_exercises(master)}
    master_cells = {e.grade_id: master.cells[e.cell] for e in exercises.values()}
    # what the learner was given (hidden lines dropped): a test cell left as it was is no news
    released = make_student_notebook(master)
    notes: list[str] = []
    placed: set[str] = set()
    for index, cell in enumerate(graded.cells):
        gid = grade_id(cell)
        if gid in exercises and gid not in placed:
            given = {released.cells[exercises[gid].cell].source, master_cells[gid].source}
            if cell.cell_type != "code" or cell.source not in given:
                notes.append(f"the test cell of {exercises[gid].name} differed from the master's "
                             "(which ran in its place)")
            graded.cells[index] = _master_copy(master_cells[gid], cell.get("id"))
            placed.add(gid)
        elif is_test_cell(cell):     # a claim the master does not back, or a second copy
            del cell.metadata["nbgrader"]
    for gid, exercise in exercises.items():      # in the master's order
        if gid in placed:
            continue
        where = _anchor(graded, master, exercise.cell)
        graded.cells.insert(where, _master_copy(master_cells[gid], None))
        placed.add(gid)
        notes.append(f"the test cell of {exercise.name} was missing from the submission; the "
                     "master's was put back" + (" at the end" if where == len(graded.cells) - 1 else ""))
    for cell in graded.cells:       # outputs are not needed and may be large
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    graded.nbformat_minor = max(graded.get("nbformat_minor", 0), master.get("nbformat_minor", 0))
    _unique_cell_ids(graded)
    return graded, notes


def _master_copy(cell: nbformat.NotebookNode, cell_id: str | None) -> nbformat.NotebookNode:
    copied = copy.deepcopy(cell)
    copied.outputs, copied.execution_count = [], None
    if cell_id:
        copied["id"] = cell_id
    return copied


def _anchor(graded: nbformat.NotebookNode, master: nbformat.NotebookNode, index: int) -> int:
    """Where master cell ``index`` goes in ``graded``: after the nearest master cell before it
    that ``graded`` has (its solution cell, usually), else at the end."""
    positions = {}
    for position, cell in enumerate(graded.cells):
        positions.setdefault(_cell_key(cell), position)
    for earlier in reversed(master.cells[:index]):
        key = _cell_key(earlier)
        if key[1] is not None and key in positions:
            return positions[key] + 1
    return len(graded.cells)


def _unique_cell_ids(nb: nbformat.NotebookNode) -> None:
    """Give every cell an id of its own (nbformat 4.5 refuses duplicates and, from 4.5 on,
    missing ones; a learner's copy-pasted cells may have either)."""
    if nb.nbformat_minor < 5:
        return
    seen: set[str] = set()
    for cell in nb.cells:
        if not cell.get("id") or cell["id"] in seen:
            cell["id"] = uuid.uuid4().hex[:12]
        seen.add(cell["id"])


def _limits(timeout: float, cell_timeout: float, memory_limit: float | None) -> int:
    """Refuse limits that are not finite positive numbers; the memory limit in bytes."""
    for name, value in (("--timeout", timeout), ("--cell-timeout", cell_timeout)):
        if not 0 < value < math.inf:             # NaN fails this too
            raise UsageError(f"{name} must be a finite number of seconds > 0, got {value}")
    if memory_limit is None:
        return int(available_memory())
    if not 0 < memory_limit < math.inf:
        raise UsageError(f"--memory must be a finite number of GB > 0, got {memory_limit / 1e9}")
    return int(memory_limit)


def grade_notebook(path: str | Path, *, solutions: str | Path = SOLUTIONS_DIR,
                   masters: list[tuple[Path, nbformat.NotebookNode]] | None = None,
                   timeout: float = 900, cell_timeout: float = 300,
                   kernel_name: str = "python3", memory_limit: float | None = None) -> GradeReport:
    """Grade the submission at ``path`` with the master's test cells (`assemble`), run on a
    fresh, confined kernel.

    The master comes from ``solutions`` (or from ``masters``, as `load_masters` gives them).
    The notebook runs in a child process group of its own (`_run_confined`), in a temporary
    working directory that holds nothing but it, with ``memory_limit`` bytes of address space
    (default: the memory the machine has available, `limits.available_memory`), CPU time in
    proportion to ``timeout``, and (where Linux offers Landlock) write access to nothing but
    that directory. ``cell_timeout`` and ``timeout`` are enforced by interrupting the cell
    and, when it does not stop, by killing the kernel; a limit the child process itself fails
    to keep is enforced from outside by killing every process of the run.
    """
    path = Path(path)
    submission = _read_notebook(path)
    memory = _limits(timeout, cell_timeout, memory_limit)
    master_path, master = find_master(submission, path.name,
                                      load_masters(solutions) if masters is None else masters)
    graded, notes = assemble(submission, master)
    report = GradeReport(notebook=str(path), master=master_path.name, errors=notes)
    tests = [(index, cell) for index, cell in enumerate(graded.cells) if is_test_cell(cell)]
    if not tests:
        report.errors.append(f"the master {master_path.name} has no test cells: nothing to grade")
        return report
    outcome = _run_confined(graded, path.name, timeout=timeout, cell_timeout=cell_timeout,
                            kernel_name=kernel_name, memory_limit=memory)
    report.errors += outcome.notes
    report.wall_seconds = outcome.wall_seconds
    report.confined_writes = outcome.confined_writes
    exercises = {e.grade_id: e for e in find_exercises(master)}
    for index, cell in tests:
        exercise = exercises[grade_id(cell)]
        status, message = outcome.cells.get(index, (NOT_RUN, ""))
        report.exercises.append(ExerciseResult(
            exercise.name, index, status, message, exercise.grade_id,
            exercise.points if status == PASS else 0.0, exercise.points))
    return report


# -- a class at once: the gradebook ------------------------------------------------------------

#: columns of gradebook.csv: one row per learner, submission and exercise
GRADEBOOK_COLUMNS = ("learner", "submission", "master", "exercise", "grade_id", "status",
                     "points", "max_points", "message")


@dataclass
class Submission:
    """One notebook of a batch: who handed it in, and its report or why it was not graded."""

    learner: str
    path: str            # relative to the submissions folder
    report: GradeReport | None = None
    error: str = ""


def find_submissions(folder: Path, skip: Path | None = None) -> list[tuple[str, Path]]:
    """(learner, notebook) for every notebook under ``folder``: ``folder/LEARNER.ipynb`` or
    anything below ``folder/LEARNER/`` (nbgrader's ``submitted/LEARNER/ASSIGNMENT/`` too).
    Hidden folders, Jupyter's checkpoints and ``skip`` (the output folder) are left out."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if skip is not None and path.resolve().is_relative_to(skip.resolve()):
            continue
        learner = relative.parts[0] if len(relative.parts) > 1 else path.stem
        found.append((learner, path))
    return found


def grade_folder(folder: str | Path, out: str | Path, *, solutions: str | Path = SOLUTIONS_DIR,
                 timeout: float = 900, cell_timeout: float = 300, kernel_name: str = "python3",
                 memory_limit: float | None = None) -> list[Submission]:
    """Grade every notebook under ``folder`` (`find_submissions`) and write ``out/gradebook.csv``
    (one row per learner, submission and exercise), ``out/gradebook.json`` (every report, and
    each learner's total) and ``out/feedback/LEARNER.md``. A submission that cannot be graded
    (unreadable, no matching master) is an ``error`` row, not the end of the batch."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise UsageError(f"no folder of submissions at {folder}")
    _limits(timeout, cell_timeout, memory_limit)
    found = find_submissions(folder, skip=out)
    if not found:
        raise UsageError(f"no notebooks (*.ipynb) under {folder}")
    masters = load_masters(solutions)
    writable_directory(out / "feedback", "--out")
    results = []
    for learner, path in found:
        entry = Submission(learner, str(path.relative_to(folder)))
        try:
            entry.report = grade_notebook(path, masters=masters, timeout=timeout,
                                          cell_timeout=cell_timeout, kernel_name=kernel_name,
                                          memory_limit=memory_limit)
        except UsageError as error:
            entry.error = str(error)
        results.append(entry)
    _write_gradebook(results, out)
    return results


def _write_gradebook(results: list[Submission], out: Path) -> None:
    rows = []
    for entry in results:
        if entry.report is None:
            rows.append([entry.learner, entry.path, "", "", "", ERROR, 0, 0, entry.error])
            continue
        for e in entry.report.exercises:
            rows.append([entry.learner, entry.path, entry.report.master, e.name, e.grade_id,
                         e.status, f"{e.points:g}", f"{e.max_points:g}", e.message])
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(GRADEBOOK_COLUMNS)
    writer.writerows(rows)
    atomic_write_text(out / "gradebook.csv", text.getvalue())
    learners: dict[str, list[Submission]] = {}
    for entry in results:
        learners.setdefault(entry.learner, []).append(entry)
    summary = {learner: {"points": sum(e.report.points for e in entries if e.report),
                         "max_points": sum(e.report.max_points for e in entries if e.report),
                         "submissions": len(entries)}
               for learner, entries in learners.items()}
    data = {"learners": summary,
            "submissions": [{"learner": e.learner, "path": e.path, "error": e.error,
                             **(e.report.to_json() if e.report else {})} for e in results]}
    atomic_write_text(out / "gradebook.json", json.dumps(data, indent=1) + "\n")
    for learner, entries in learners.items():
        atomic_write_text(out / "feedback" / f"{_file_name(learner)}.md", feedback(learner, entries))


def _file_name(learner: str) -> str:
    """A learner's name as a file name: nothing that could leave the feedback folder."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", learner).lstrip(".") or "_"


def feedback(learner: str, entries: list[Submission]) -> str:
    """The markdown a learner gets: per notebook, each exercise's result, points and error."""
    lines = [f"# Feedback for {learner}", ""]
    for entry in entries:
        lines.append(f"## {entry.path}")
        lines.append("")
        report = entry.report
        if report is None:
            lines += [f"Not graded: {entry.error}", ""]
            continue
        lines += [f"{report.passed} of {len(report.exercises)} exercises pass: "
                  f"**{_points(report.points, report.max_points)} points**.", "",
                  "| exercise | result | points | detail |", "|---|---|---:|---|"]
        for e in report.exercises:
            detail = e.message.replace("|", "\\|")
            lines.append(f"| {e.name} | {e.status} | {_points(e.points, e.max_points)} | {detail} |")
        lines.append("")
        lines += [f"* {note}" for note in report.errors]
        if report.errors:
            lines.append("")
    return "\n".join(lines)


# -- running a notebook confined -----------------------------------------------------------------

#: seconds a kernel may take to start (not counted in --timeout, as before the confinement)
KERNEL_START_LIMIT = 120.0
#: seconds an interrupted cell has to stop before its kernel is killed (a cell that catches
#: KeyboardInterrupt would otherwise keep the kernel busy for ever)
INTERRUPT_GRACE = 3.0
#: seconds past its own limits the child process gets before the parent kills its processes
#: (it needs a moment to notice a killed kernel and report; a loaded machine needs more)
OUTSIDE_MARGIN = 5.0
#: largest file the notebook may write (RLIMIT_FSIZE): enough for a checkpoint, not a full disk
FILE_SIZE_LIMIT = 2 * 10 ** 9
#: what the confined child process runs (`_child_main`); a test replaces it by one that hangs
_CHILD_PROGRAM = "from rl2_course.classroom import _child_main; _child_main()"


@dataclass
class _Outcome:
    """What the confined run reported: each code cell's (status, message), notes, timing."""

    cells: dict[int, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    confined_writes: str | None = "not started"


def _run_confined(nb: nbformat.NotebookNode, name: str, *, timeout: float, cell_timeout: float,
                  kernel_name: str, memory_limit: int) -> _Outcome:
    """Run notebook ``nb``, saved as ``name`` in a temporary directory, in a confined child
    process (`_child_main`) and collect its outcome, killing every process of the run when it
    ends or overruns."""
    import select
    import subprocess
    import sys
    import tempfile
    import uuid

    from rl2_course import sandbox

    outcome, marker = _Outcome(), uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="rl2-grade-", ignore_cleanup_errors=True) as work_dir:
        work = Path(work_dir)
        notebook = work / Path(name).name
        nbformat.write(nb, notebook)             # the kernel never sees the original's folder
        for sub in (".tmp", ".ipython", ".jupyter-runtime", ".matplotlib"):
            (work / sub).mkdir()
        _copy_font_cache(work / ".matplotlib")
        env = {**os.environ, sandbox.MARKER_VARIABLE: marker, "TMPDIR": str(work / ".tmp"),
               "IPYTHONDIR": str(work / ".ipython"),
               "JUPYTER_RUNTIME_DIR": str(work / ".jupyter-runtime"),
               "MPLCONFIGDIR": str(work / ".matplotlib"), "PYTHONDONTWRITEBYTECODE": "1"}
        settings = {"notebook": str(notebook), "work": str(work), "timeout": timeout,
                    "cell_timeout": cell_timeout, "kernel_name": kernel_name,
                    "memory_limit": memory_limit,
                    # per process; a kernel may keep every core busy for the whole limit
                    "cpu_seconds": (timeout + KERNEL_START_LIMIT) * (os.cpu_count() or 1) + 60}
        read_end, write_end = os.pipe()          # the child's reports; the kernel never gets it
        log = open(work / "grader.log", "wb")    # the child's and the kernel's own output
        child, kernel_group, current, started, finished, buffer = None, None, None, None, False, b""
        try:
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD_PROGRAM, json.dumps(settings), str(write_end)],
                cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(write_end,), start_new_session=True)
            os.close(write_end)
            write_end = -1
            deadline = time.monotonic() + KERNEL_START_LIMIT
            while not finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select([read_end], [], [], min(left, 1.0))
                if not ready:
                    continue
                chunk = os.read(read_end, 65536)
                if not chunk:                    # the child exited: let it be reaped
                    try:
                        child.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    kind = event.pop("event")
                    if kind == "kernel":         # the limit runs from here
                        kernel_group, started = event["pgid"], time.monotonic()
                        deadline = started + timeout + INTERRUPT_GRACE + OUTSIDE_MARGIN
                    elif kind == "confined":
                        outcome.confined_writes = event["problem"]
                    elif kind == "start":
                        current = event["index"]
                    elif kind == "cell":
                        outcome.cells[event["index"]] = (event["status"], event["message"])
                        current = None
                    elif kind == "note":
                        outcome.notes.append(event["text"])
                    elif kind == "done":
                        finished = True
            if not finished:
                outcome.notes.append(_overrun_note(child, started, current, timeout, work, outcome))
        finally:
            # whatever happened (an overrun, a crash, Ctrl-C of the grader): nothing of the run
            # may outlive it, including processes that left its process groups
            if child is not None:
                sandbox.kill_process_group(child.pid)
            sandbox.kill_process_group(kernel_group)
            sandbox.kill_marked(marker)
            if child is not None:
                child.wait()
            log.close()
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        if started is not None:
            outcome.wall_seconds = round(time.monotonic() - started, 1)
    return outcome


def _overrun_note(child, started: float | None, current: int | None, timeout: float, work: Path,
                  outcome: _Outcome) -> str:
    """Why the confined run ended without reporting its end, for the report."""
    if child.poll() is None and started is None:
        return f"the kernel did not start within {KERNEL_START_LIMIT:g} s; nothing was run"
    if child.poll() is None:
        if current is not None:
            outcome.cells[current] = (TIMEOUT, f"ran past the notebook's {timeout:g} s limit")
        where = f" at cell {current}" if current is not None else ""
        return (f"the notebook ran past its {timeout:g} s limit{where} and was stopped (its "
                f"processes killed); later cells were not run")
    return (f"the grader's runner ended with status {child.returncode} ({_last_line(work / 'grader.log')}); "
            f"cells after that point were not run")


def _last_line(log: Path) -> str:
    """The last line of the runner's log that says something (never the kernel's warnings)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    said = [line.strip() for line in lines if line.strip() and "warn" not in line.lower()]
    return said[-1][:200] if said else "no message"


def _copy_font_cache(target: Path) -> None:
    """Copy matplotlib's font list into the run's own config directory, so that a notebook that
    plots does not spend seconds rebuilding it (matplotlib itself is not imported here)."""
    source = Path(os.environ.get("MPLCONFIGDIR") or
                  Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matplotlib")
    for font_list in source.glob("fontlist-*.json"):
        try:
            (target / font_list.name).write_bytes(font_list.read_bytes())
        except OSError:
            pass


def _child_main() -> None:
    """The confined side of `_run_confined` (``python -c``): limit and confine this process,
    then run the notebook cell by cell, reporting each outcome as one JSON line on the pipe
    whose descriptor is the second argument."""
    import signal
    import sys
    import threading

    from rl2_course import sandbox

    settings, pipe = json.loads(sys.argv[1]), int(sys.argv[2])
    os.set_inheritable(pipe, False)              # the kernel must not be able to forge reports
    reports = os.fdopen(pipe, "w", buffering=1)

    def report(event: str, **fields) -> None:
        reports.write(json.dumps({"event": event, **fields}) + "\n")

    sandbox.set_resource_limits(memory_bytes=settings["memory_limit"],
                                cpu_seconds=settings["cpu_seconds"], file_bytes=FILE_SIZE_LIMIT)
    report("confined", problem=sandbox.confine_writes_to(settings["work"]))
    timeout, cell_timeout = settings["timeout"], settings["cell_timeout"]
    nb = nbformat.read(settings["notebook"], as_version=4)
    # no timeout of nbclient's own: its interrupt-and-wait never gives up on a cell that catches
    # KeyboardInterrupt; the watchdog below interrupts, then kills
    client = NotebookClient(nb, timeout=None, kernel_name=settings["kernel_name"],
                            allow_errors=True, resources={"metadata": {"path": settings["work"]}})
    try:
        with client.setup_kernel():
            pgid = getattr(client.km.provisioner, "pgid", None)
            report("kernel", pgid=pgid)
            start = time.perf_counter()        # the limit is on running cells, not on starting a kernel
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                left = timeout - (time.perf_counter() - start)
                if left <= 0:
                    report("note", text=f"the notebook ran past its {timeout:g} s limit at cell "
                                        f"{index}; later cells were not run")
                    break
                allowed = min(cell_timeout, left)
                seconds = f"{round(allowed, 1):g}"
                fired: list[str] = []

                def interrupt() -> None:
                    fired.append("interrupt")
                    _signal_group(pgid, signal.SIGINT)

                def kill() -> None:
                    fired.append("kill")
                    _signal_group(pgid, signal.SIGKILL)

                watchdogs = [threading.Timer(allowed, interrupt),
                             threading.Timer(allowed + INTERRUPT_GRACE, kill)]
                report("start", index=index)
                for watchdog in watchdogs:
                    watchdog.start()
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    if "kill" in fired:
                        report("cell", index=index, status=TIMEOUT,
                               message=f"ran past {seconds} s and ignored the interrupt")
                        report("note", text=f"cell {index} ran past {seconds} s and ignored "
                                            f"the interrupt; its kernel was stopped and later "
                                            f"cells were not run")
                    else:
                        report("cell", index=index, status=FAIL, message="the kernel died")
                        report("note", text="the kernel died; cells after that point were not run")
                    break
                finally:
                    for watchdog in watchdogs:
                        watchdog.cancel()
                error = _error_line(cell)
                if fired:
                    report("cell", index=index, status=TIMEOUT, message=f"ran past {seconds} s")
                    if not is_test_cell(cell):
                        report("note", text=f"cell {index} ran past {seconds} s and was interrupted")
                else:
                    report("cell", index=index, status=FAIL if error else PASS, message=error or "")
    except DeadKernelError:
        report("note", text="the kernel died; cells after that point were not run")
    except RuntimeError as error:    # e.g. a kernel that fails to start
        report("note", text=f"the notebook could not be run: {error}")
    report("done")


def _signal_group(pgid: int | None, sig: int) -> None:
    """Send ``sig`` to the kernel's process group (it has one of its own: jupyter_client starts
    kernels in a new session); a group that is gone needs nothing."""
    if pgid:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def build_assignment(out: str | Path, solutions: Path = SOLUTIONS_DIR, *,
                     repository: str | None = None) -> Path:
    """Write the learner's notebooks (generated from ``solutions``), ASSIGNMENT.md and README.md
    (how to install the package and its assets; ``repository``: the address to clone) into a zip."""
    out = Path(out)
    if out.name in ("", ".", "..") or out.is_dir():     # '' and '/' name no file
        raise UsageError(f"--out {str(out) or repr('')} is a directory, not the zip file to write")
    masters = solution_paths(Path(solutions))
    writable_directory(out.parent, "--out")

    def write(file) -> None:
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            _add(archive, "ASSIGNMENT.md", ASSIGNMENT_README)
            _add(archive, "README.md", install_readme(repository))
            for master in masters:
                text = notebook_text(make_student_notebook(nbformat.read(master, as_version=4)))
                if BEGIN in text or BEGIN_HIDDEN in text:
                    raise RuntimeError(f"a solution or hidden test survived in the copy of {master.name}")
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


def print_gradebook(results: list[Submission], out: Path, as_json: bool) -> None:
    """One line per submission (or the gradebook's JSON), then where the files are."""
    if as_json:
        print((Path(out) / "gradebook.json").read_text(), end="")
        return
    width = max(len(f"{e.learner}  {e.path}") for e in results)
    for e in results:
        result = (f"{_points(e.report.points, e.report.max_points)} points, {e.report.passed} of "
                  f"{len(e.report.exercises)} pass" if e.report else f"not graded: {e.error}")
        print(f"{f'{e.learner}  {e.path}':<{width}}  {result}")
    print(f"wrote {Path(out) / 'gradebook.csv'}, gradebook.json and feedback/ (one file per learner)")
