"""The classroom release: assignment zip and the grader (each run starts a real kernel, except
the tests of `assemble`, which only build the notebook the grader would run)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from rl2_course.classroom import (ERROR, FAIL, INTERRUPT_GRACE, KERNEL_START_LIMIT, NOT_RUN,
                                  OUTSIDE_MARGIN, PASS, TIMEOUT, Exercise, assemble, build_assignment,
                                  find_exercises, grade_folder, grade_notebook)
from rl2_course.course import BEGIN, SOLUTIONS_DIR, grade_id, is_test_cell, make_student_notebook
from rl2_course.errors import UsageError

CHAPTER = SOLUTIONS_DIR / "00-trials-and-tasks.ipynb"   # the quickest chapter to run


def _nb(cells) -> nbformat.NotebookNode:
    """cells: ("md", text) | ("code", text) | ("solution", text) | ("check", text); solution
    and check cells get nbgrader metadata (ids ex1, ex1-test, ... in order; a check 2 points)."""
    nb = nbformat.v4.new_notebook()
    solutions = tests = 0
    for kind, text in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
            continue
        cell = nbformat.v4.new_code_cell(text)
        if kind == "solution":
            solutions += 1
            cell.metadata["nbgrader"] = {"grade": False, "grade_id": f"ex{solutions}", "locked": False,
                                         "schema_version": 3, "solution": True, "task": False}
        elif kind == "check":
            tests += 1
            cell.metadata["nbgrader"] = {"grade": True, "grade_id": f"ex{tests}-test", "locked": True,
                                         "points": 2, "schema_version": 3, "solution": False,
                                         "task": False}
        nb.cells.append(cell)
    return nb


def _notebook(tmp_path, cells, name="submission.ipynb"):
    """A notebook that is its own master (graded with ``solutions=tmp_path``)."""
    path = tmp_path / name
    nbformat.write(_nb(cells), path)
    return path


def _grade(path, **limits):
    return grade_notebook(path, solutions=path.parent, **limits)


#: every chapter through the grader: the nbval stage of `make test` already runs each master
#: (hidden tests included) and each learner's copy, so only chapter 00 runs here by default
EVERY_CHAPTER = os.environ.get("RL2_GRADE_EVERY_CHAPTER") == "1"
CHAPTERS = [pytest.param(path, id=path.stem, marks=[] if path == CHAPTER else [
    pytest.mark.slow, pytest.mark.skipif(not EVERY_CHAPTER, reason="set RL2_GRADE_EVERY_CHAPTER=1")])
    for path in sorted(SOLUTIONS_DIR.glob("*.ipynb"))]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_grading_a_solution_passes_every_exercise(chapter):
    report = grade_notebook(chapter)
    assert report.exercises or "### Exercise" not in chapter.read_text()
    assert [e.status for e in report.exercises] == [PASS] * len(report.exercises), report.table()
    assert report.all_passed and report.errors == []
    assert report.master == chapter.name
    assert report.points == report.max_points == sum(e.points for e in find_exercises(
        nbformat.read(chapter, as_version=4))) > 0


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_grading_the_student_copy_fails_every_exercise(tmp_path, chapter):
    student = make_student_notebook(nbformat.read(chapter, as_version=4))
    path = tmp_path / chapter.name
    nbformat.write(student, path)
    report = grade_notebook(path)
    assert [e.status for e in report.exercises] == [FAIL] * len(report.exercises)
    assert all("NotImplementedError" in e.message for e in report.exercises), report.table()
    assert not report.all_passed and report.points == 0
    assert report.errors == [], "the learner's copy has the master's tests, less the hidden lines"


def test_exercises_are_named_by_their_heading(tmp_path):
    nb = _nb([("md", "### Exercise 9.1: add"), ("code", "x = 1"),
              ("check", "assert x == 1"), ("check", "assert True")])
    assert find_exercises(nb) == [Exercise(2, "Exercise 9.1: add", "ex1-test", 2.0),
                                  Exercise(3, "test cell 3", "ex2-test", 2.0)]


def test_a_cell_that_loops_forever_is_interrupted_and_grading_goes_on(tmp_path):
    path = _notebook(tmp_path, [
        ("md", "### Exercise 1: loops"), ("code", "def f():\n    while True:\n        pass"),
        ("check", "f()"),
        ("md", "### Exercise 2: fine"), ("code", "def g():\n    return 2"), ("check", "assert g() == 2"),
        ("md", "### Exercise 3: wrong"), ("code", "def h():\n    return 2"),
        ("check", "assert h() == 3, 'h should return 3'")])
    report = _grade(path, cell_timeout=3, timeout=60)
    assert [e.status for e in report.exercises] == [TIMEOUT, PASS, FAIL]
    assert "3 s" in report.exercises[0].message
    assert report.exercises[2].message == "AssertionError: h should return 3"


def test_a_notebook_past_its_time_limit_is_interrupted_and_the_rest_not_run(tmp_path):
    path = _notebook(tmp_path, [("code", "import time"), ("check", "assert True"),
                                ("code", "time.sleep(60)"), ("check", "assert True")])
    report = _grade(path, timeout=3, cell_timeout=30)
    assert [e.status for e in report.exercises] == [PASS, NOT_RUN]
    assert report.wall_seconds < 30
    assert any("interrupted" in error for error in report.errors)
    assert any("limit" in error for error in report.errors)


def test_a_dying_kernel_is_reported(tmp_path):
    path = _notebook(tmp_path, [("check", "assert True"), ("code", "import os; os._exit(1)"),
                                ("check", "assert True")])
    report = _grade(path, timeout=60, cell_timeout=30)
    assert [e.status for e in report.exercises] == [PASS, NOT_RUN]
    assert any("kernel died" in error for error in report.errors)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rl2_course", *args], capture_output=True, text=True)


def test_cli_json_and_exit_codes(tmp_path):
    good = _notebook(tmp_path, [("md", "### Exercise 1: one"), ("check", "assert 1 + 1 == 2")], "good.ipynb")
    bad = _notebook(tmp_path, [("md", "### Exercise 1: one"), ("check", "assert 1 + 1 == 3")], "bad.ipynb")
    done = _cli("grade", str(good), "--json", "--solutions", str(tmp_path))
    assert done.returncode == 0, done.stderr
    # what the kernel prints on its own never reaches the instructor's report
    assert "encryption" not in done.stdout + done.stderr, done.stderr
    data = json.loads(done.stdout)
    assert data["passed"] == data["total"] == 1 and data["points"] == data["max_points"] == 2
    assert data["exercises"][0] == {"name": "Exercise 1: one", "cell": 1, "status": "pass", "message": "",
                                    "grade_id": "ex1-test", "points": 2, "max_points": 2}
    # bad.ipynb is graded by its own (failing) test: the master chosen is the one of its name
    failed = _cli("grade", str(bad), "--solutions", str(tmp_path))
    assert failed.returncode == 1 and "0 of 1 exercises pass, 0/2 points" in failed.stdout


@pytest.mark.parametrize("content", [None, "this is not json"])
def test_cli_refuses_a_missing_or_broken_notebook_in_one_line(tmp_path, content):
    path = tmp_path / "submission.ipynb"
    if content is not None:
        path.write_text(content)
    done = _cli("grade", str(path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "submission.ipynb" in done.stderr


def test_assignment_holds_every_chapter_without_solutions_and_is_reproducible(tmp_path):
    first = build_assignment(tmp_path / "a.zip")
    second = build_assignment(tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        chapters = sorted(p.name for p in SOLUTIONS_DIR.glob("*.ipynb"))
        assert sorted(n.rsplit("/", 1)[-1] for n in names if n.endswith(".ipynb")) == chapters
        assert "rl2-course-assignment/ASSIGNMENT.md" in names
        assert not any("solutions" in n for n in names)
        for name in names:
            text = archive.read(name).decode()
            assert BEGIN not in text and "END SOLUTION" not in text
            if name.endswith(".ipynb"):
                assert "NotImplementedError" in text or "### Exercise" not in text


# -- a submission the grader does not trust ------------------------------------------------------

def _live_processes(word: str) -> set[int]:
    """Processes (not zombies) whose command line holds ``word``, read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if word in cmdline and state != "Z":
            found.add(int(entry.name))
    return found


def test_a_cell_that_swallows_interrupts_is_killed_within_the_limit_and_leaves_nothing_behind(tmp_path):
    token = f"rl2-grader-test-{os.getpid()}-{time.monotonic_ns()}"
    kernels_before = _live_processes("ipykernel")
    path = _notebook(tmp_path, [
        ("md", "### Exercise 1: fine"), ("check", "assert True"),
        ("md", "### Exercise 2: hostile"),
        # a grandchild in a session of its own (out of the kernel's process group), then a loop
        # that catches every KeyboardInterrupt the grader sends
        ("check", "import subprocess, sys\n"
                  f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '{token}'],"
                  " start_new_session=True)\n"
                  "while True:\n    try:\n        while True:\n            pass\n"
                  "    except KeyboardInterrupt:\n        pass"),
        ("md", "### Exercise 3: never reached"), ("check", "assert True")])
    began = time.monotonic()
    report = _grade(path, timeout=4, cell_timeout=30)
    took = time.monotonic() - began
    assert [e.status for e in report.exercises] == [PASS, TIMEOUT, NOT_RUN]
    assert "ran past" in report.exercises[1].message
    # the limit plus a few seconds, once the kernel is up (its start is not counted)
    assert report.wall_seconds <= 4 + INTERRUPT_GRACE + OUTSIDE_MARGIN + 1, report.wall_seconds
    assert took < 4 + INTERRUPT_GRACE + KERNEL_START_LIMIT
    assert not _live_processes(token), "the grandchild outlived the grading"
    assert not _live_processes("ipykernel") - kernels_before, "a kernel outlived the grading"


def test_the_notebook_runs_in_a_temporary_directory_and_cannot_write_the_course(tmp_path):
    outside = tmp_path / "outside.txt"
    path = _notebook(tmp_path, [
        ("md", "### Exercise 1: where"),
        ("check", f"import os\nassert os.path.realpath(os.getcwd()) != {str(tmp_path.resolve())!r}\n"
                  "assert os.path.exists('submission.ipynb')\nopen('scratch.txt', 'w').write('mine')"),
        ("md", "### Exercise 2: escape"), ("check", f"open({str(outside)!r}, 'w').write('escaped')"),
        ("md", "### Exercise 3: memory"), ("check", "try:\n    bytearray(4 * 10**9)\n"
                                                  "except MemoryError:\n    pass\n"
                                                  "else:\n    raise AssertionError('no limit')")])
    report = _grade(path, timeout=60, cell_timeout=30, memory_limit=2e9)
    assert report.exercises[0].status == PASS, report.exercises[0].message
    assert report.exercises[2].status == PASS, report.exercises[2].message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission.ipynb"]
    if report.confined_writes is not None:
        pytest.skip(f"writes could not be confined on this machine: {report.confined_writes}")
    assert report.exercises[1].status == FAIL
    assert "PermissionError" in report.exercises[1].message
    assert not outside.exists()


def test_a_runner_that_hangs_is_killed_from_outside(tmp_path, monkeypatch):
    """The wall-clock limit does not rely on the child process: one that reports its kernel
    and then never answers again is killed at the limit plus a margin."""
    import rl2_course.classroom as classroom

    monkeypatch.setattr(classroom, "_CHILD_PROGRAM",
                        "import os, sys, time\n"
                        "os.write(int(sys.argv[2]), b'{\"event\": \"kernel\", \"pgid\": null}\\n'\n"
                        "                           b'{\"event\": \"start\", \"index\": 1}\\n')\n"
                        "time.sleep(600)")
    path = _notebook(tmp_path, [("md", "### Exercise 1: hangs"), ("check", "pass")])
    began = time.monotonic()
    report = _grade(path, timeout=1, cell_timeout=1)
    assert time.monotonic() - began < 1 + INTERRUPT_GRACE + OUTSIDE_MARGIN + 5
    assert [e.status for e in report.exercises] == [TIMEOUT]
    assert any("ran past its 1 s limit" in error and "killed" in error for error in report.errors)


def test_grade_refuses_limits_that_are_not_finite_positive_numbers(tmp_path):
    path = _notebook(tmp_path, [("check", "assert True")])
    for limits in ({"timeout": float("nan")}, {"cell_timeout": float("inf")}, {"timeout": 0},
                   {"memory_limit": -1.0}):
        with pytest.raises(UsageError):
            _grade(path, **limits)


# -- the master's tests, whatever the submission did to its own ---------------------------------

MASTER_CELLS = [
    ("md", "### Exercise 1: size"),
    ("code", "from rl2_course.agents.recurrent import conv_output_size"),
    ("solution", "def my_size(size, kernel, stride):\n    ### BEGIN SOLUTION\n"
                 "    return (size - kernel) // stride + 1\n    ### END SOLUTION"),
    ("check", "assert my_size(30, 5, 2) == conv_output_size(30, 5, 2), 'my_size(30, 5, 2) is wrong'\n"
              "### BEGIN HIDDEN TESTS\nfrom rl2_course.checks import assert_own_work\n"
              "assert_own_work(my_size, 'rl2_course.agents.recurrent.conv_output_size', args=(30, 5, 2))\n"
              "### END HIDDEN TESTS\nprint('my_size matches')"),
    ("md", "### Exercise 2: double"),
    ("solution", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
    ("check", "assert double(2) == 4\nprint('double matches')"),
]
SIZE, DOUBLE = 2, 5                    # the solution cells' indices


def _submission(changes: dict | None = None) -> nbformat.NotebookNode:
    """The learner's copy of the master with cells replaced (index: source), or deleted (None)."""
    nb = make_student_notebook(_nb(MASTER_CELLS))
    changes = changes or {}
    for index in sorted(changes, reverse=True):
        if changes[index] is None:
            del nb.cells[index]
        else:
            nb.cells[index].source = changes[index]
    return nb


SOLVED = {SIZE: "def my_size(size, kernel, stride):\n    return (size - kernel) // stride + 1",
          DOUBLE: "def double(x):\n    return x + x"}
WRONG_SIZE = "def my_size(size, kernel, stride):\n    return 0"


def test_assemble_replaces_edited_tests_and_restores_deleted_ones_after_their_solution():
    master = _nb(MASTER_CELLS)
    submission = _submission({SIZE: WRONG_SIZE, 3: "print('my_size matches')", 6: None})
    graded, notes = assemble(submission, master)
    sources = [cell.source for cell in graded.cells]
    assert sources[3] == master.cells[3].source                  # hidden tests included
    assert sources[DOUBLE + 1] == master.cells[6].source         # right after double's solution
    assert [grade_id(c) for c in graded.cells if is_test_cell(c)] == ["ex1-test", "ex2-test"]
    assert any("Exercise 1: size differed" in n for n in notes)
    assert any("Exercise 2: double was missing" in n for n in notes)
    assert len(notes) == 2
    assert assemble(_submission(SOLVED), master)[1] == [], "an untouched copy is no news"
    assert len({c.id for c in graded.cells}) == len(graded.cells)


def test_assemble_gives_no_credit_to_cells_that_only_claim_a_test():
    """Only the master's test cells carry test metadata in what runs: a claim of a grade_id the
    master lacks, and a second claim of one it has, run as the learner's code; the first claim
    gets the master's test (so moving a test cell only moves where the master's test runs)."""
    master = _nb(MASTER_CELLS)
    submission = _submission()
    claim = dict(submission.cells[6].metadata["nbgrader"])
    submission.cells[1].metadata["nbgrader"] = {**claim, "grade_id": "made-up"}   # the import cell
    early = nbformat.v4.new_code_cell("print('double matches')")
    early.metadata["nbgrader"] = claim
    submission.cells.insert(0, early)
    graded, _ = assemble(submission, master)
    tests = [(i, grade_id(c)) for i, c in enumerate(graded.cells) if is_test_cell(c)]
    assert tests == [(0, "ex2-test"), (4, "ex1-test")]
    assert graded.cells[0].source == master.cells[6].source
    assert graded.cells[2].source == master.cells[1].source and "nbgrader" not in graded.cells[2].metadata
    assert graded.cells[7].source == "assert double(2) == 4\nprint('double matches')"   # learner's copy
    assert "nbgrader" not in graded.cells[7].metadata


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """One batch run of the CLI over a class whose submissions try every trick."""
    root = tmp_path_factory.mktemp("class")
    (root / "solutions").mkdir()
    nbformat.write(_nb(MASTER_CELLS), root / "solutions" / "course.ipynb")
    folder = root / "submitted"
    learners = {
        "alice": _submission(SOLVED),
        "bob": _submission({**SOLVED, SIZE: WRONG_SIZE, 3: None}),                 # check deleted
        "carol": _submission({**SOLVED, SIZE: WRONG_SIZE, 3: "print('my_size matches')"}),
        "dave": _submission({**SOLVED, SIZE: "my_size = conv_output_size"}),      # the reference
        "erin": _submission({**SOLVED, SIZE: "def my_size(*args):\n    return conv_output_size(*args)"}),
    }
    for learner, nb in learners.items():
        # bob hands in nbgrader's layout (submitted/LEARNER/ASSIGNMENT/), under another name
        path = folder / "bob" / "ps1" / "mine.ipynb" if learner == "bob" else folder / f"{learner}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
    (folder / "frank.ipynb").write_text("this is not a notebook")
    done = _cli("grade", str(folder), "--solutions", str(root / "solutions"), "--out", str(root / "grades"),
                "--cell-timeout", "60", "--timeout", "120")
    assert done.returncode == 0, done.stderr[-3000:]
    with open(root / "grades" / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    results = {(r["learner"], r["grade_id"]): r for r in rows}
    return root / "grades", results, done.stdout


def test_a_deleted_check_cell_is_still_graded_by_the_masters_test(graded_class):
    _, results, _ = graded_class
    assert results["bob", "ex1-test"]["status"] == FAIL
    assert results["bob", "ex1-test"]["message"] == "AssertionError: my_size(30, 5, 2) is wrong"
    assert results["bob", "ex2-test"]["status"] == PASS


def test_a_check_replaced_by_its_success_print_still_fails_a_wrong_solution(graded_class):
    _, results, _ = graded_class
    assert results["carol", "ex1-test"]["status"] == FAIL
    assert results["alice", "ex1-test"]["status"] == PASS


def test_a_function_that_is_or_calls_the_reference_fails_with_a_clear_message(graded_class):
    _, results, _ = graded_class
    assert results["dave", "ex1-test"]["status"] == FAIL
    assert "is the package's rl2_course.agents.recurrent.conv_output_size itself" in results["dave", "ex1-test"]["message"]
    assert results["erin", "ex1-test"]["status"] == FAIL
    assert "my_size calls the package's rl2_course.agents.recurrent.conv_output_size" in results["erin", "ex1-test"]["message"]


def test_points_and_the_batch_gradebook(graded_class):
    out, results, stdout = graded_class
    assert {r["points"] for k, r in results.items() if k[0] == "alice"} == {"2"}
    assert results["bob", "ex1-test"]["points"] == "0" and results["bob", "ex1-test"]["max_points"] == "2"
    assert results["bob", "ex1-test"]["submission"] == os.path.join("bob", "ps1", "mine.ipynb")
    assert results["frank", ""]["status"] == ERROR and "not a readable notebook" in results["frank", ""]["message"]
    data = json.loads((out / "gradebook.json").read_text())
    assert data["learners"]["alice"] == {"points": 4, "max_points": 4, "submissions": 1}
    assert data["learners"]["bob"]["points"] == 2 and data["learners"]["frank"]["points"] == 0
    assert sorted(p.name for p in (out / "feedback").iterdir()) == [
        f"{name}.md" for name in ("alice", "bob", "carol", "dave", "erin", "frank")]
    bob = (out / "feedback" / "bob.md").read_text()
    assert "2/4 points" in bob and "was missing from the submission" in bob
    assert re.search(r"^alice  alice.ipynb +4/4 points, 2 of 2 pass$", stdout, flags=re.M), stdout


def test_grade_folder_refuses_bad_input_in_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in [(str(empty),), (str(tmp_path / "missing.ipynb"),),
                 (str(empty), "--solutions", str(tmp_path / "none"))]:
        done = _cli("grade", *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert "Traceback" not in done.stderr
    with pytest.raises(UsageError, match="no notebooks"):
        grade_folder(empty, tmp_path / "out")
    stray = _notebook(tmp_path, [("check", "assert True")], "stray.ipynb")
    done = _cli("grade", str(stray), "--solutions", str(SOLUTIONS_DIR))
    assert done.returncode == 2 and "matches no master notebook" in done.stderr
