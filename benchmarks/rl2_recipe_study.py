"""RL² on MDPs, old recipe against new, side by side: samples and CPU seconds to reach a return.

    .venv/bin/python benchmarks/rl2_recipe_study.py [--steps 6e6] [--seeds 0] [--episodes 10]
        [--recipes old,new,attention] [--save-logs DIR | --from-logs DIR]

Trains RL² on the paper's random MDPs (n = 10 episodes of 10 steps) once per recipe and seed,
for the same number of environment steps, with the package's trainer (`rl2_course.train`):

* **old**: the course's first MDP recipe (`OLD_RECIPE`): a GRU with zero gate biases, its
  value head on the policy's memory, 4 epochs × 4 minibatches = 16 Adam steps per update
  whatever the batch, lr 3e-3, the entropy bonus decaying from the start;
* **new**: today's defaults for the setting (`settings.mdp_setting`), which this study chose;
* **attention**: the same defaults with the causal-attention memory of `agents.attention`
  (64 numbers per step, 2 layers, 4 heads) in place of the GRU, and lr 1e-3.

``--from-logs DIR`` prints the table from logs an earlier run kept with ``--save-logs``
(seconds are then those of that run, on whatever else shared its machine).

From each run's log it reports when the on-policy mean trial return (a moving average over
10 updates) first reached 120 / 130 / 140 / 150, in environment steps and in seconds of
training on one CPU thread (the trainer's own clock, which excludes start-up), and the
return of the first and the last episode of a trial at the end (the memory's signature). The
training seeds are the same for both recipes. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import torch

from rl2_course.argtypes import name_list
from rl2_course.envs.mdp import MDP_HORIZON
from rl2_course.train import read_log
from rl2_memory_study import run as train_for_steps     # benchmarks/: one training loop for both

#: the course's first MDP recipe, as `settings.mdp_setting` gave it before this study
OLD_RECIPE = dict(hidden_size=128, cell="gru", update_gate_bias=0.0, value_network="shared",
                  learning_rate=3e-3, gamma=0.99, gae_lambda=0.9, entropy_coef=0.01,
                  entropy_coef_final=0.0, entropy_hold=0.0, ppo_epochs=4, minibatches=4,
                  minibatch_size=None, target_kl=None, reward_scale=0.1, bptt_length=None)
ATTENTION_RECIPE = dict(cell="attention", hidden_size=64, learning_rate=1e-3)
RECIPES = {"old": OLD_RECIPE, "new": {}, "attention": ATTENTION_RECIPE}
LEVELS = (120, 130, 140, 150)


def first_crossing(x: np.ndarray, returns: np.ndarray, level: float, window: int = 10) -> float:
    """x at the first update whose moving average over ``window`` updates reached ``level``."""
    smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
    hit = np.nonzero(smooth >= level)[0]
    return float(x[hit[0] + window - 1]) if hit.size else float("nan")


def run(recipe: dict, episodes: int, steps: float, seed: int,
        save_log: Path | None = None) -> dict[str, np.ndarray]:
    """One training run of ``steps`` environment steps (`rl2_memory_study.run`); its log, with
    env steps (and a copy of the log at ``save_log``)."""
    log = train_for_steps("mdp", (episodes,), recipe, steps, seed, save_log)
    log["env_steps"] = log["trials_seen"] * episodes * MDP_HORIZON
    return log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=float, default=6e6, help="environment steps per run")
    parser.add_argument("--seeds", type=lambda t: [int(s) for s in t.split(",")], default=[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--recipes", type=name_list(*RECIPES), default=list(RECIPES),
                        help=f"which recipes (default: {','.join(RECIPES)})")
    parser.add_argument("--save-logs", type=Path, default=None,
                        help="keep each run's log.csv here as RECIPE-sSEED.csv")
    parser.add_argument("--from-logs", type=Path, default=None,
                        help="read RECIPE-sSEED.csv from here instead of training")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"RL² recipes on random MDPs, n={args.episodes}: {args.steps:,.0f} env steps per run, "
          f"seeds {args.seeds}, {platform.machine()}, torch {torch.__version__}, 1 thread\n")
    header = " | ".join(f"steps to {v} | s to {v}" for v in LEVELS)
    print(f"| recipe | seed | {header} | final return | episode 1 | episode {args.episodes} |")
    print("|---|---:|" + "---:|" * (2 * len(LEVELS) + 3))
    for seed in args.seeds:
        for name in args.recipes:
            if args.from_logs is not None:
                log = read_log(args.from_logs / f"{name}-s{seed}.csv")
                log["env_steps"] = log["trials_seen"] * args.episodes * MDP_HORIZON
            else:
                log = run(RECIPES[name], args.episodes, args.steps, seed, None if args.save_logs
                          is None else args.save_logs / f"{name}-s{seed}.csv")
            cells = []
            for level in LEVELS:
                s = first_crossing(log["env_steps"], log["mean_return"], level)
                c = first_crossing(log["wall_seconds"], log["mean_return"], level)
                cells += ["—", "—"] if np.isnan(s) else [f"{s / 1e6:.1f} M", f"{c:.0f}"]
            tail = slice(-10, None)
            print(f"| {name} | {seed} | {' | '.join(cells)} | {log['mean_return'][tail].mean():.1f} "
                  f"| {log['first_episode_return'][tail].mean():.2f} "
                  f"| {log['last_episode_return'][tail].mean():.2f} |", flush=True)


if __name__ == "__main__":
    main()
