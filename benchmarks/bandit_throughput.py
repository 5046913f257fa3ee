"""Throughput of the batched bandit environment and of every bandit baseline.

    .venv/bin/python benchmarks/bandit_throughput.py [--trials 1000000] [--episodes 10] [--arms 5]

Prints a markdown table: pulls per second for the bare task env, for the RL² trial wrapper
(which builds the policy inputs), and for each baseline choosing actions through the wrapper.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from rl2_course.baselines import BANDIT_AGENTS
from rl2_course.envs import BernoulliBandits, make_bandit_trials
from rl2_course.evaluate import make_bandit_agent
from rl2_course.errors import UsageError
from rl2_course.rollout import run_trials


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--arms", type=int, default=5)
    parser.add_argument("--baseline-trials", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    k, n, B = args.arms, args.episodes, args.trials
    rows = []

    actions = np.random.default_rng(0).integers(0, k, size=B)

    def trial_of(env) -> None:
        env.reset(seed=args.seed)
        for _ in range(n):
            env.step(actions)

    for what, env in (("task env (BernoulliBandits)", BernoulliBandits(B, k)),
                      ("trial wrapper (RL² inputs)", make_bandit_trials(k, n, B))):
        seconds = timed(lambda: trial_of(env))
        rows.append((what, B, seconds, B * n / seconds))

    small = make_bandit_trials(k, n, args.baseline_trials)
    for name in BANDIT_AGENTS:
        try:
            policy = make_bandit_agent(name, k, n)
        except UsageError as err:
            rows.append((f"{name} (skipped: {err})", 0, float("nan"), float("nan")))
            continue
        seconds = timed(lambda: run_trials(small, policy, seed=args.seed, policy_seed=1))
        rows.append((f"baseline: {name}", args.baseline_trials, seconds,
                     args.baseline_trials * n / seconds))

    print(f"Bernoulli bandits, k={k}, n={n} — {platform.processor() or platform.machine()}, "
          f"numpy {np.__version__}")
    print()
    print("| what | trials | seconds | pulls/s |")
    print("|---|---:|---:|---:|")
    for what, trials_, seconds, rate in rows:
        print(f"| {what} | {trials_:,} | {seconds:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
