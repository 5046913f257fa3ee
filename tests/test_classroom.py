"""The classroom release: assignment zip and the grader (each run starts a real kernel)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from rl2_course.classroom import (FAIL, INTERRUPT_GRACE, KERNEL_START_LIMIT, NOT_RUN, OUTSIDE_MARGIN,
                                  PASS, TIMEOUT, build_assignment, find_exercises, grade_notebook)
from rl2_course.course import BEGIN, SOLUTIONS_DIR, make_student_notebook
from rl2_course.errors import UsageError

CHAPTER = SOLUTIONS_DIR / "00-trials-and-tasks.ipynb"   # the quickest chapter to run


def _notebook(tmp_path, cells, name="submission.ipynb"):
    """cells: ("md", text) | ("code", text) | ("check", text)."""
    nb = nbformat.v4.new_notebook()
    for kind, text in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cell = nbformat.v4.new_code_cell(text)
            if kind == "check":
                cell.metadata["tags"] = ["check"]
            nb.cells.append(cell)
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_grading_a_solution_passes_every_exercise():
    report = grade_notebook(CHAPTER)
    assert report.exercises, "chapter 00 has an exercise"
    assert [e.status for e in report.exercises] == [PASS] * len(report.exercises)
    assert report.all_passed and report.errors == []


def test_grading_the_student_copy_fails_every_exercise(tmp_path):
    student = make_student_notebook(nbformat.read(CHAPTER, as_version=4))
    path = tmp_path / CHAPTER.name
    nbformat.write(student, path)
    report = grade_notebook(path)
    assert [e.status for e in report.exercises] == [FAIL] * len(report.exercises)
    assert all("NotImplementedError" in e.message for e in report.exercises)
    assert not report.all_passed


def test_exercises_are_named_by_their_heading(tmp_path):
    path = _notebook(tmp_path, [("md", "### Exercise 9.1: add"), ("code", "x = 1"),
                                ("check", "assert x == 1"), ("check", "assert True")])
    assert find_exercises(nbformat.read(path, as_version=4)) == [(2, "Exercise 9.1: add"),
                                                                 (3, "check cell 3")]


def test_a_cell_that_loops_forever_is_interrupted_and_grading_goes_on(tmp_path):
    path = _notebook(tmp_path, [
        ("md", "### Exercise 1: loops"), ("code", "def f():\n    while True:\n        pass"),
        ("check", "f()"),
        ("md", "### Exercise 2: fine"), ("code", "def g():\n    return 2"), ("check", "assert g() == 2"),
        ("md", "### Exercise 3: wrong"), ("code", "def h():\n    return 2"),
        ("check", "assert h() == 3, 'h should return 3'")])
    report = grade_notebook(path, cell_timeout=3, timeout=60)
    assert [e.status for e in report.exercises] == [TIMEOUT, PASS, FAIL]
    assert "3 s" in report.exercises[0].message
    assert report.exercises[2].message == "AssertionError: h should return 3"


def test_a_notebook_past_its_time_limit_is_interrupted_and_the_rest_not_run(tmp_path):
    path = _notebook(tmp_path, [("code", "import time"), ("check", "assert True"),
                                ("code", "time.sleep(60)"), ("check", "assert True")])
    report = grade_notebook(path, timeout=3, cell_timeout=30)
    assert [e.status for e in report.exercises] == [PASS, NOT_RUN]
    assert report.wall_seconds < 30
    assert any("interrupted" in error for error in report.errors)
    assert any("limit" in error for error in report.errors)


def test_a_dying_kernel_is_reported(tmp_path):
    path = _notebook(tmp_path, [("check", "assert True"), ("code", "import os; os._exit(1)"),
                                ("check", "assert True")])
    report = grade_notebook(path, timeout=60, cell_timeout=30)
    assert [e.status for e in report.exercises] == [PASS, NOT_RUN]
    assert any("kernel died" in error for error in report.errors)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rl2_course", *args], capture_output=True, text=True)


def test_cli_json_and_exit_codes(tmp_path):
    good = _notebook(tmp_path, [("md", "### Exercise 1: one"), ("check", "assert 1 + 1 == 2")], "good.ipynb")
    bad = _notebook(tmp_path, [("md", "### Exercise 1: one"), ("check", "assert 1 + 1 == 3")], "bad.ipynb")
    done = _cli("grade", str(good), "--json")
    assert done.returncode == 0, done.stderr
    # what the kernel prints on its own never reaches the instructor's report
    assert "encryption" not in done.stdout + done.stderr, done.stderr
    data = json.loads(done.stdout)
    assert data["passed"] == data["total"] == 1
    assert data["exercises"][0] == {"name": "Exercise 1: one", "cell": 1, "status": "pass", "message": ""}
    failed = _cli("grade", str(bad))
    assert failed.returncode == 1 and "0 of 1 exercises pass" in failed.stdout


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
    report = grade_notebook(path, timeout=4, cell_timeout=30)
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
    report = grade_notebook(path, timeout=60, cell_timeout=30, memory_limit=2e9)
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
    report = grade_notebook(path, timeout=1, cell_timeout=1)
    assert time.monotonic() - began < 1 + INTERRUPT_GRACE + OUTSIDE_MARGIN + 5
    assert [e.status for e in report.exercises] == [TIMEOUT]
    assert any("ran past its 1 s limit" in error and "killed" in error for error in report.errors)


def test_grade_refuses_limits_that_are_not_finite_positive_numbers(tmp_path):
    path = _notebook(tmp_path, [("check", "assert True")])
    for limits in ({"timeout": float("nan")}, {"cell_timeout": float("inf")}, {"timeout": 0},
                   {"memory_limit": -1.0}):
        with pytest.raises(UsageError):
            grade_notebook(path, **limits)
