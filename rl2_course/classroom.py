"""Classroom release: the assignment zip for learners and the grader for their notebooks.

An instructor runs::

    make assignment                                   # -> dist/rl2-course-assignment.zip
    python -m rl2_course grade SUBMISSION.ipynb       # per-exercise pass/fail table
    python -m rl2_course grade SUBMISSION.ipynb --json

**The assignment** holds the learner's copies of every chapter, generated afresh from
``solutions/`` by `course.make_student_notebook` (so a stale ``notebooks/`` can never leak into
it), a short ``ASSIGNMENT.md`` saying how work is checked, and a ``README.md`` saying how to
install the package and its assets (``--repository URL`` names the repository to clone). It
never holds a solution: the build refuses to write a zip in which a ``### BEGIN SOLUTION``
marker survived.

**The grader** runs a submitted notebook top to bottom on a fresh kernel, as nbval does, and
reads the outcome of every *check cell* (the cells tagged ``check``; each follows an exercise
and compares the learner's function with the package's reference). An exercise passes when its
check cell ran without raising. The exercise's name is the nearest ``### Exercise ...`` heading
above its check cell.

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

import json
import math
import os
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from rl2_course.course import BEGIN, CHECK_TAG, SOLUTIONS_DIR, make_student_notebook, notebook_text
from rl2_course.errors import UsageError, writable_directory
from rl2_course.files import atomic_write
from rl2_course.limits import available_memory

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
    # None: the notebook could write only in its temporary directory; else why not (no Landlock)
    confined_writes: str | None = None

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
        if self.confined_writes is not None:
            lines.append(f"note: the notebook's writes outside its temporary directory were not "
                         f"blocked: {self.confined_writes}")
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
                   kernel_name: str = "python3", memory_limit: float | None = None) -> GradeReport:
    """Run the notebook at ``path`` on a fresh, confined kernel and grade each exercise by its
    check cell.

    The notebook runs in a child process group of its own (`_run_confined`), in a temporary
    working directory that holds a copy of it, with ``memory_limit`` bytes of address space
    (default: the memory the machine has available, `limits.available_memory`), CPU time in
    proportion to ``timeout``, and (where Linux offers Landlock) write access to nothing but
    that directory. ``cell_timeout`` and ``timeout`` are enforced by interrupting the cell
    and, when it does not stop, by killing the kernel; a limit the child process itself fails
    to keep is enforced from outside by killing every process of the run.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no notebook at {path}")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:   # nbformat raises several unrelated types for a bad file
        raise UsageError(f"{path} is not a readable notebook ({type(error).__name__})") from None
    for name, value in (("--timeout", timeout), ("--cell-timeout", cell_timeout)):
        if not 0 < value < math.inf:             # NaN fails this too
            raise UsageError(f"{name} must be a finite number of seconds > 0, got {value}")
    if memory_limit is None:
        memory_limit = available_memory()
    elif not 0 < memory_limit < math.inf:
        raise UsageError(f"--memory must be a finite number of GB > 0, got {memory_limit / 1e9}")
    exercises = find_exercises(nb)
    report = GradeReport(notebook=str(path))
    if not exercises:
        report.errors.append("the notebook has no check cells (cells tagged 'check'): nothing to grade")
    outcome = _run_confined(path, timeout=timeout, cell_timeout=cell_timeout,
                            kernel_name=kernel_name, memory_limit=int(memory_limit))
    report.errors += outcome.notes
    report.wall_seconds = outcome.wall_seconds
    report.confined_writes = outcome.confined_writes
    for index, name in exercises:
        status, message = outcome.cells.get(index, (NOT_RUN, ""))
        report.exercises.append(ExerciseResult(name, index, status, message))
    return report


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


def _run_confined(path: Path, *, timeout: float, cell_timeout: float, kernel_name: str,
                  memory_limit: int) -> _Outcome:
    """Run the notebook at ``path`` in a confined child process (`_child_main`) and collect its
    outcome, killing every process of the run when it ends or overruns."""
    import select
    import shutil
    import subprocess
    import sys
    import tempfile
    import uuid

    from rl2_course import sandbox

    outcome, marker = _Outcome(), uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="rl2-grade-", ignore_cleanup_errors=True) as work_dir:
        work = Path(work_dir)
        notebook = work / path.name
        shutil.copyfile(path, notebook)          # the kernel never sees the original's folder
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
                    if CHECK_TAG not in cell.get("metadata", {}).get("tags", []):
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
    masters = sorted(Path(solutions).glob("*.ipynb"))
    if not masters:
        raise UsageError(f"no master notebooks in {solutions}")
    writable_directory(out.parent, "--out")

    def write(file) -> None:
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            _add(archive, "ASSIGNMENT.md", ASSIGNMENT_README)
            _add(archive, "README.md", install_readme(repository))
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
