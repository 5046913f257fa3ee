"""Long trials: seconds per update and peak memory of truncated against whole-trial BPTT.

    .venv/bin/python benchmarks/rl2_bptt_memory.py [--arms 10] [--episodes 500] [--bptt 50,100,250,none]

A trial of n = 500 pulls is 500 sequential GRU steps. Truncated BPTT cuts it into segments of
``--bptt`` steps (the gradient then sees at most that far back) and runs them side by side;
whole-trial BPTT lets the gradient reach the first pull from the last. Each row runs
``--updates`` updates of the setting's defaults (`settings.bandit_setting`) with one BPTT
length in a fresh process and reports the mean seconds per update and the process's peak
resident memory (``ru_maxrss``), which is what decides whether a machine can afford it.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys

import torch

from rl2_course.argtypes import int_or_none_list

CHILD = """
import json, resource, sys, tempfile
from rl2_course.train import TrainConfig, read_log, train
arms, episodes, bptt, updates = json.loads(sys.argv[1])
config = TrainConfig.for_bandit(arms, episodes, bptt_length=bptt, updates=updates, seed=0)
with tempfile.TemporaryDirectory() as out:
    train(config, out, progress=False)
    seconds = read_log(out + "/log.csv")["wall_seconds"]
print(json.dumps({"per_update": float(seconds[-1]) / len(seconds),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--bptt", type=int_or_none_list, default="50,100,250,none",
                        help="BPTT lengths ('none' = whole trials)")
    parser.add_argument("--updates", type=int, default=3)
    args = parser.parse_args()
    print(f"RL² on bandits k={args.arms}, n={args.episodes}: {args.updates} updates per row, one "
          f"torch thread, {platform.machine()}, torch {torch.__version__}\n")
    print("| BPTT | s per update | peak memory (MB) |")
    print("|---|---:|---:|")
    for bptt in args.bptt:
        done = subprocess.run([sys.executable, "-c", CHILD,
                               json.dumps([args.arms, args.episodes, bptt, args.updates])],
                              capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {'whole trial' if bptt is None else bptt} | {row['per_update']:.2f} "
              f"| {row['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
