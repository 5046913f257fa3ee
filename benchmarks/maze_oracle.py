"""What a maze costs a player who cheats: the scripted explorer of `rl2_course.envs.maze_explorer`.

    .venv/bin/python benchmarks/maze_oracle.py [--sizes small,large,paper-small,paper-large]
        [--mazes 128,64,...] [--seed 0]

For each size: random mazes, targets and starts as in a trial; in each maze the explorer
walks episode 1 by depth-first search over the *known layout* (not knowing where the target
is) and episode 2 by the shortest path (knowing it), with perfect control, under a time limit
four times the course's so that the whole distribution shows. Prints, per episode, the mean,
median, 90th percentile and maximum number of decisions, and the share of episodes that would
have ended in time under the course's limit (`settings.MAZE_SETTINGS`). A quality bound, not a
speed figure: no learned agent can be expected to beat episode 1's numbers by much (only by
spotting the target early), and the time limit has to leave room above them.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # before numpy loads

import argparse                        # noqa: E402

import numpy as np                     # noqa: E402

from rl2_course.argtypes import int_list, name_list  # noqa: E402
from rl2_course.envs.maze import FRAME_SKIP, MAZE_SIZES, TURN_DEGREES  # noqa: E402
from rl2_course.envs.maze_explorer import explorer_trials  # noqa: E402
from rl2_course.evaluate_maze import MazeMetrics  # noqa: E402
from rl2_course.settings import maze_setting  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=name_list(*MAZE_SIZES), default="small,large")
    parser.add_argument("--mazes", type=int_list, default="128,64",
                        help="mazes per size (one number per size)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes, counts = args.sizes, args.mazes
    if len(counts) != len(sizes):
        parser.error("give one --mazes number per size")
    if min(counts) < 1:
        parser.error("--mazes must be at least 1 per size")
    print(f"Scripted explorer with the map and its position; frame skip {FRAME_SKIP}, "
          f"turns of {TURN_DEGREES:g}°; seed {args.seed}")
    print()
    print("| maze | limit | episode | route | mazes | mean | median | 90th pct | max | reached | in time |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    improved = {}
    for size, mazes in zip(sizes, counts):
        limit = maze_setting(size).time_limit
        result = MazeMetrics(**explorer_trials(size, mazes, args.seed, time_limit=4 * limit))
        for episode, what in enumerate(("depth-first search, target unknown",
                                        "shortest path, target known")):
            length, ok = result.lengths[:, episode], result.success[:, episode]
            done = length[ok]
            print(f"| {size} | {limit} | {episode + 1} | {what} | {mazes} | {result.mean_length[episode]:.1f} | "
                  f"{np.median(done):.0f} | {np.percentile(done, 90):.0f} | {done.max()} | "
                  f"{ok.mean():.0%} | {(ok & (length <= limit)).mean():.0%} |")
        improved[size] = result.improved
    print()
    print("Episode 2 shorter than episode 1 (Table 3's \"improved\"; a fresh start can lie farther "
          "from the target): " + ", ".join(f"{size} {share:.0%}" for size, share in improved.items()))


if __name__ == "__main__":
    main()
