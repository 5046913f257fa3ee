"""Throughput of the ViZDoom maze: agent decisions per second for a batch of Doom instances.

    .venv/bin/python benchmarks/maze_throughput.py [--sizes small,large] [--batches 1,4,8] [--decisions 4000]

Each decision is ``frame_skip`` = 4 Doom tics, rendered at 160×120 and averaged down to the
40×30 observation; episode restarts (a new map file per episode) are included, because random
actions from the benchmark's seeded generator end episodes by the time limit or at the target as
an agent's would. Rows: the bare batched env (`MazeTasks`) and the RL² trial wrapper around it
(2 episodes per trial, RL² inputs built every step). The issue's target: ≥ 2,000 decisions/s
on the course's 2-core machine. Prints a markdown table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # before numpy loads

import argparse                        # noqa: E402
import platform                        # noqa: E402
import time                            # noqa: E402

import numpy as np                     # noqa: E402

from rl2_course.envs import make_maze_trials          # noqa: E402
from rl2_course.argtypes import int_list, name_list          # noqa: E402
from rl2_course.envs.maze import FRAME_SKIP, MazeTasks  # noqa: E402
from rl2_course.settings import maze_setting           # noqa: E402


def task_env_rate(size: str, batch: int, decisions: int, seed: int) -> float:
    """Decisions per second of a bare `MazeTasks` batch, restarting ended episodes."""
    setting = maze_setting(size)
    rng = np.random.default_rng(seed)
    with MazeTasks(batch, setting.cells, time_limit=setting.time_limit) as env:
        env.reset(seed=seed)
        done, start = 0, time.perf_counter()
        while done < decisions:
            _, _, terminated, truncated, _ = env.step(rng.integers(0, 3, size=batch))
            ended = terminated | truncated
            if ended.any():
                env.start_episodes(ended)
            done += batch
        return done / (time.perf_counter() - start)


def trial_rate(size: str, batch: int, decisions: int, seed: int) -> float:
    """Decisions per second through the RL² trial wrapper (finished trials are redrawn)."""
    rng = np.random.default_rng(seed)
    env = make_maze_trials(size, batch)
    try:
        env.reset(seed=seed)
        done, start, resets = 0, time.perf_counter(), 0
        while done < decisions:
            done += int(env.task_env.active.sum())       # rows whose trial is over do not count
            _, _, terminated, _, _ = env.step(rng.integers(0, 3, size=batch))
            if terminated.all():
                resets += 1
                env.reset(seed=seed + resets)
        return done / (time.perf_counter() - start)
    finally:
        env.task_env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=name_list("small", "large"), default="small,large")
    parser.add_argument("--batches", type=int_list, default="1,4,8", help="Doom instances stepped together")
    parser.add_argument("--decisions", type=int, default=4000, help="decisions timed per row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        for batch in args.batches:
            rows.append((size, "task env (MazeTasks)", batch,
                         task_env_rate(size, batch, args.decisions, args.seed)))
        batch = max(args.batches)
        rows.append((size, "trial wrapper (RL² inputs)", batch,
                     trial_rate(size, batch, args.decisions, args.seed)))
    print(f"ViZDoom maze, frame skip {FRAME_SKIP}, 160×120 → 40×30 RGB — "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print()
    print("| maze | what | Doom instances | decisions/s |")
    print("|---|---|---:|---:|")
    for size, what, batch, rate in rows:
        print(f"| {size} | {what} | {batch} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
