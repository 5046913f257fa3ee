"""Run every benchmark script in this folder and print their tables (``make bench``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    failed = 0
    for script in scripts:
        print(f"## {script.stem}\n\n`{Path(sys.executable).name} benchmarks/{script.name}`\n", flush=True)
        failed |= subprocess.call([sys.executable, str(script)]) != 0
        print(flush=True)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
