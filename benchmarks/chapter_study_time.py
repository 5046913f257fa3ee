"""How long each chapter takes a learner: measured run time plus reading time, per chapter.

    .venv/bin/python benchmarks/chapter_study_time.py [CHAPTER ...]     # e.g. 02

Each master notebook (``solutions/``, so every cell runs) is executed top to bottom on a fresh
kernel with nbclient, the library behind ``jupyter nbconvert --execute``; the wall time includes
starting the kernel. Reading time is the chapter's words (markdown and code, split on
whitespace) at ``WORDS_PER_MINUTE``, a slow rate for technical text with formulas and code.
Exercises (``### Exercise N.M`` headings) are counted and listed apart, with ``EXERCISE_MINUTES``
each: that allowance is an assumption, not a measurement. The chapters' "time" lines at the top
of each notebook come from this table.
"""

from __future__ import annotations

import math
import re
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
#: reading speed for technical prose with formulas and code (words per minute)
WORDS_PER_MINUTE = 120
#: an assumed allowance per exercise (minutes); not measured
EXERCISE_MINUTES = 15
#: an exercise's heading: '### Exercise 2.1: ...'
EXERCISE_HEADING = re.compile(r"^#{2,4} Exercise \d")


def words(nb: nbformat.NotebookNode) -> int:
    return sum(len(cell.source.split()) for cell in nb.cells if cell.cell_type in ("markdown", "code"))


def exercises(nb: nbformat.NotebookNode) -> int:
    return sum(bool(EXERCISE_HEADING.match(line)) for cell in nb.cells if cell.cell_type == "markdown"
               for line in cell.source.splitlines())


def run_seconds(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    chapters = sorted((ROOT / "solutions").glob("*.ipynb"))
    if argv:
        chapters = [p for p in chapters if any(p.name.startswith(a) for a in argv)]
    print(f"chapter study time — {platform.machine()}, {os.cpu_count()} CPU cores, "
          f"Python {platform.python_version()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"reading at {WORDS_PER_MINUTE} words/min; exercises at an assumed {EXERCISE_MINUTES} min each")
    print()
    print("| chapter | run (s) | words | reading (min) | exercises | run + reading + exercises (min) |")
    print("|---|---:|---:|---:|---:|---:|")
    for path in chapters:
        nb = nbformat.read(path, as_version=4)
        seconds = run_seconds(path)
        n_words, n_ex = words(nb), exercises(nb)
        reading = n_words / WORDS_PER_MINUTE
        total = seconds / 60 + reading + n_ex * EXERCISE_MINUTES
        print(f"| {path.stem} | {seconds:.0f} | {n_words:,} | {reading:.0f} | {n_ex} | "
              f"{math.ceil(total / 5) * 5} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
