"""How much "improved" can a memory earn at most? A maze agent's episode 1 against the shortest path.

    .venv/bin/python benchmarks/maze_improved_ceiling.py [--size paper-small] [--trials 200]
        [--seed 5] [--checkpoint C]

Table 3's "improved" counts the trials whose episode 2 is *strictly* shorter than episode 1.
Under the paper's protocol (episode 2 starts where episode 1 did) the best episode 2 any
memory allows is the shortest path from that start to the target, so a trial in which the
agent's episode 1 already walked it cannot improve: the share of trials whose episode 1 was
longer than the shortest path is the ceiling of "improved" for that agent, and a better
searcher has a lower ceiling. This script plays the RL² agent of ``--checkpoint`` (default:
the committed state of the five-episode paper-small run) and its memory-wiped twin on the evaluation's own mazes (`evaluate
maze` with the same seed meets the same mazes, starts and headings), rides the shortest path
from each trial's start with the scripted explorer (`rl2_course.envs.maze_explorer`, which
reads the map: a yardstick, not an agent), and prints, per agent: "improved", the ceiling,
the share of episodes 1 shorter than the explorer's path (it steers from cell centre to cell
centre, so an agent that cuts corners can beat it by a few decisions: the ceiling is
approximate), and the shares of trials whose episode 2 was shorter than, equal to and longer than episode
1 (a nearly deterministic policy whose memory is wiped walks episode 1's path again: a tie).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # before numpy loads

import argparse                        # noqa: E402

import numpy as np                     # noqa: E402

from rl2_course.envs import make_maze_trials  # noqa: E402
from rl2_course.envs.maze import MAZE_SIZES  # noqa: E402
from rl2_course.envs.maze_explorer import ride_routes, shortest_route  # noqa: E402
from rl2_course.evaluate import chunk_env_seed, chunk_sizes  # noqa: E402
from rl2_course.evaluate_maze import CHUNK_TRIALS, evaluate_maze  # noqa: E402
from rl2_course.settings import assets_dir  # noqa: E402

DEFAULT_CHECKPOINT = assets_dir() / "checkpoints" / "resumable" / "maze-paper-small-5ep"


def shortest_lengths(size: str, trials: int, seed: int, chunk_trials: int = CHUNK_TRIALS) -> np.ndarray:
    """Decisions of the shortest path from each evaluation trial's start (cell and heading) to
    its target, in the order `evaluate_maze` lists its trials: the same chunks, each reset with
    the evaluation's seed for it, give the same mazes and starts."""
    lengths = []
    envs = {}
    try:
        for c, batch in enumerate(chunk_sizes(trials, chunk_trials)):
            if batch not in envs:
                envs[batch] = make_maze_trials(size, batch)
            trials_env = envs[batch]
            trials_env.reset(seed=chunk_env_seed(seed, c))
            env = trials_env.task_env
            routes = [shortest_route(env.mazes[b], tuple(env.starts[b]), tuple(env.targets[b]))
                      for b in range(batch)]
            length, reached = ride_routes(env, routes)
            if not reached.all():
                raise RuntimeError("the scripted explorer missed a target on its shortest path")
            lengths.append(length)
    finally:
        for env in envs.values():
            env.close()
    return np.concatenate(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=tuple(MAZE_SIZES), default="paper-small")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                        help="an RL² maze checkpoint or run directory (default: the paper-small "
                             "run's committed state; no paper-size agent is shipped yet)")
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    evaluation = evaluate_maze(args.size, ["rl2", "rl2-forgetful"], args.trials, args.seed,
                               checkpoint=args.checkpoint, progress=False)
    shortest = shortest_lengths(args.size, args.trials, args.seed)
    print(f"maze {args.size}, {evaluation.starts} starts, {args.trials} trials, seed {args.seed}; "
          f"checkpoint {args.checkpoint}; shortest path from the start: mean "
          f"{shortest.mean():.1f}, median {np.median(shortest):.0f} decisions")
    print()
    print("| agent | length ep 1 | length ep 2 | improved | ceiling: ep 1 > explorer's shortest | ep 1 < explorer's shortest "
          "| ep 2 shorter | equal | longer |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, metrics in evaluation.results.items():
        # over all trials, as Table 3's "improved" (a timed-out episode counts its full length)
        first, second = metrics.lengths[:, 0], metrics.lengths[:, 1]
        print(f"| {name} | {metrics.mean_length[0]:.1f} | {metrics.mean_length[1]:.1f} | "
              f"{metrics.improved:.1%} | {np.mean(first > shortest):.1%} | {np.mean(first < shortest):.1%} | "
              f"{np.mean(second < first):.1%} | {np.mean(second == first):.1%} | "
              f"{np.mean(second > first):.1%} |")

if __name__ == "__main__":
    main()
