"""Wall time of every chapter under nbval (fresh kernel, top to bottom), solution and student copy.

    .venv/bin/python benchmarks/notebook_times.py

The course promises that each chapter runs within minutes on 2 CPU cores; this measures it the
way `make test` runs the chapters (`pytest --nbval-lax --nbval-current-env`), one notebook per
pytest process so that each time includes starting its kernel.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(notebook: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q",
                           "-p", "no:cacheprovider", str(notebook.relative_to(ROOT))],
                          cwd=ROOT, capture_output=True, text=True)
    outcome = "pass" if done.returncode == 0 else f"FAIL (exit {done.returncode})"
    return time.perf_counter() - start, outcome


def main() -> int:
    print(f"nbval wall time per chapter — {platform.machine()}, Python {platform.python_version()}")
    print()
    print("| chapter | solutions/ (s) | notebooks/ (s) | result |")
    print("|---|---:|---:|---|")
    failed = False
    for solution in sorted((ROOT / "solutions").glob("*.ipynb")):
        student = ROOT / "notebooks" / solution.name
        (t_solution, r_solution), (t_student, r_student) = run(solution), run(student)
        result = r_solution if r_solution == r_student else f"{r_solution} / {r_student}"
        failed |= "FAIL" in result
        print(f"| {solution.stem} | {t_solution:.1f} | {t_student:.1f} | {result} |", flush=True)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
