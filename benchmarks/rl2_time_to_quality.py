"""RL² time-to-quality on bandits: seconds of CPU training to reach 95 % / 98 % of Bayes-optimal.

    .venv/bin/python benchmarks/rl2_time_to_quality.py [--arms 5] [--episodes 10] [--minutes 1] [--seed 0]

Trains with the setting's defaults from `rl2_course/settings.py` for a wall-clock budget
(``--minutes``, whose schedules anneal over that budget), reads the training log, and reports
when the on-policy mean trial return (a moving average over 10 updates) first reached 95 % and
98 % of the exact Bayes-optimal value; then evaluates the final agent on 20,000 fresh trials
with the same tasks for RL² and Bayes-optimal/Gittins (common random numbers).
"""

from __future__ import annotations

import argparse
import platform
import tempfile

import numpy as np
import torch

from rl2_course.baselines.bayes_optimal import bayes_optimal_value
from rl2_course.evaluate import evaluate_bandit
from rl2_course.train import TrainConfig, read_log, train


def first_crossing(seconds: np.ndarray, returns: np.ndarray, level: float, window: int = 10) -> float:
    smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
    hit = np.nonzero(smooth >= level)[0]
    return float(seconds[hit[0] + window - 1]) if hit.size else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-trials", type=int, default=20_000)
    args = parser.parse_args()
    k, n = args.arms, args.episodes
    optimum = bayes_optimal_value(k, n)
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig.for_bandit(k, n, seed=args.seed, minutes=args.minutes, updates=None)
        train(config, out, progress=False)
        log = read_log(f"{out}/log.csv")
        evaluation = evaluate_bandit(k, n, ["rl2", "bayes-optimal", "gittins"], args.eval_trials,
                                     seed=12345, checkpoint=f"{out}/checkpoint.pt")
    seconds, returns = log["wall_seconds"], log["mean_return"]
    rl2 = evaluation.results["rl2"]
    print(f"RL² on bandits k={k}, n={n}: {args.minutes:g} min budget, seed {args.seed}, "
          f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads available")
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| Bayes-optimal value (exact) | {optimum:.3f} |")
    for share in (0.95, 0.98):
        t = first_crossing(seconds, returns, share * optimum)
        print(f"| seconds to {share:.0%} of it (training return, 10-update average) | "
              f"{'not reached' if np.isnan(t) else f'{t:.1f}'} |")
    print(f"| updates / training seconds | {len(seconds)} / {seconds[-1]:.1f} |")
    print(f"| final agent on {args.eval_trials:,} fresh trials | {rl2.mean:.3f} ± {rl2.stderr:.3f} "
          f"({rl2.mean / optimum:.1%} of optimal) |")
    for name in ("bayes-optimal", "gittins"):
        r = evaluation.results[name]
        print(f"| {name} on the same trials | {r.mean:.3f} ± {r.stderr:.3f} |")


if __name__ == "__main__":
    main()
