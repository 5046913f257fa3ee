"""Throughput of the batched random tabular MDPs and of every Table 2 baseline, on one core.

    .venv/bin/python benchmarks/mdp_throughput.py [--num-tasks 4096] [--trials 1000] [--episodes 10,100]

Prints a markdown table: env steps per second for the bare task env and for the RL² trial
wrapper (which also builds the policy inputs) at B = --num-tasks, then the wall time of
evaluating each baseline alone on --trials trials (10 states, 5 actions, 10 steps per
episode) for each n in --episodes. BLAS is held to one thread so the figures are one core's.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # before numpy loads: one core, as the table says

import argparse                        # noqa: E402
import platform                        # noqa: E402
import time                            # noqa: E402

import numpy as np                     # noqa: E402

from rl2_course.baselines import MDP_AGENTS                # noqa: E402
from rl2_course.argtypes import int_list                        # noqa: E402
from rl2_course.envs import RandomTabularMDPs, make_mdp_trials  # noqa: E402
from rl2_course.evaluate_mdp import HORIZON, evaluate_mdp  # noqa: E402


def best_of(repeats: int, fn) -> float:
    """Fastest of ``repeats`` runs: the least disturbed by other work on the machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-tasks", type=int, default=4096, help="B for the env rows")
    parser.add_argument("--env-episodes", type=int, default=50,
                        help="episodes stepped per timing of the env rows")
    parser.add_argument("--trials", type=int, default=1000, help="trials per baseline row")
    parser.add_argument("--episodes", type=int_list, default="10,100", help="n values of the baseline rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    B, E = args.num_tasks, args.env_episodes
    rows = []

    actions = np.random.default_rng(0).integers(0, 5, size=B)
    env = RandomTabularMDPs(B)
    env.reset(seed=args.seed)

    def episodes_of_task_env() -> None:
        for _ in range(E):
            env.start_episodes()
            for _ in range(HORIZON):
                env.step(actions)

    seconds = best_of(args.repeats, episodes_of_task_env)
    rows.append(("task env (RandomTabularMDPs)", f"B={B}", seconds, B * E * HORIZON / seconds))

    trials = make_mdp_trials(E, B)

    def trial_of_wrapper() -> None:
        trials.reset(seed=args.seed)
        for _ in range(E * HORIZON):
            trials.step(actions)

    seconds = best_of(args.repeats, trial_of_wrapper)
    rows.append(("trial wrapper (RL² inputs)", f"B={B}", seconds, B * E * HORIZON / seconds))

    for n in args.episodes:
        for name in MDP_AGENTS:
            seconds = best_of(1, lambda: evaluate_mdp(n, [name], args.trials, args.seed, progress=False))
            rows.append((f"baseline: {name}", f"{args.trials:,} trials, n={n}", seconds,
                         args.trials * n * HORIZON / seconds))

    print(f"Random tabular MDPs, 10 states, 5 actions, {HORIZON} steps — "
          f"{platform.processor() or platform.machine()}, numpy {np.__version__}, one thread")
    print()
    print("| what | size | seconds | env steps/s |")
    print("|---|---|---:|---:|")
    for what, size, seconds, rate in rows:
        print(f"| {what} | {size} | {seconds:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
