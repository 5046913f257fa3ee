"""Where RL² loses to Gittins on the long bandits: how widely each agent explores.

    .venv/bin/python benchmarks/bandit_exploration.py [--arms 10] [--episodes 100]
        [--trials 1000] [--seed 7] [--checkpoint FILE ...]

A quality diagnostic, not a speed figure. Table 1 gives one number per agent; this splits it
by *when* the reward is lost and *why*, on the same bandits for every agent:

* expected regret (`evaluate.expected_regret`, from the arm means, free of reward noise)
  after 20 pulls, half the trial and the whole trial: an agent that matches Gittins early and
  falls behind late explored too little, or lost track of what it saw;
* arms tried: how many of the k arms the agent pulled at least once;
* late pulls on the leader: the share of the last 30 % of pulls spent on the arm with the
  highest posterior mean (Beta(1, 1) prior) of what the agent itself has seen. An index
  policy is near 100 %; less means the agent does not act on its own evidence (its memory
  has lost track, or its sampled policy still dithers);
* the true best arm's share of the last 30 % of pulls.

Each ``--checkpoint`` adds one RL² agent (default: the pretrained one of the setting).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rl2_course.agents import RL2Agent
from rl2_course.errors import UsageError
from rl2_course.evaluate import evaluate_bandit, expected_regret
from rl2_course.settings import pretrained_checkpoint

BASELINES = ("gittins", "ucb1", "greedy")


def exploration_row(actions: np.ndarray, rewards: np.ndarray, means: np.ndarray,
                    late_fraction: float = 0.3) -> dict[str, float]:
    """Arms tried, late pulls on the posterior-mean leader and on the true best arm, for the
    (B, n) ``actions`` and ``rewards`` of B trials on bandits of (B, k) arm ``means``."""
    trials, pulls = actions.shape
    arms = means.shape[1]
    counts, wins = np.zeros((trials, arms)), np.zeros((trials, arms))
    on_leader = np.zeros((trials, pulls), dtype=bool)
    rows = np.arange(trials)
    for t in range(pulls):
        on_leader[:, t] = actions[:, t] == ((wins + 1) / (counts + 2)).argmax(axis=1)
        counts[rows, actions[:, t]] += 1
        wins[rows, actions[:, t]] += rewards[:, t]
    late = slice(int(round((1 - late_fraction) * pulls)), pulls)
    on_best = actions == means.argmax(axis=1, keepdims=True)
    return {"arms tried": float((counts > 0).sum(axis=1).mean()),
            "late on leader": float(on_leader[:, late].mean()),
            "late on best": float(on_best[:, late].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--checkpoint", type=Path, nargs="*")
    args = parser.parse_args()
    k, n = args.arms, args.episodes
    files = args.checkpoint or [pretrained_checkpoint(k, n)]
    try:
        agents = [RL2Agent.from_checkpoint(f, k, n, name=f"rl2: {f.name}") for f in files]
    except UsageError as error:       # a missing or wrong file: one line, exit 2
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    evaluation = evaluate_bandit(k, n, [*agents, *BASELINES], args.trials, args.seed,
                                 keep_records=True, progress=False)
    early = min(20, n)
    print(f"k = {k}, n = {n}: {args.trials} bandits of seed {args.seed}, the same for every agent")
    print()
    print(f"| agent | total | regret after {early} / {n // 2} / {n} pulls | arms tried "
          f"| late pulls on the leader | late pulls on the best arm |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in evaluation.results.items():
        regret = expected_regret(evaluation, name)
        actions = np.concatenate([r.actions for r in result.records])
        rewards = np.concatenate([r.rewards for r in result.records])
        row = exploration_row(actions, rewards, evaluation.arm_means)
        print(f"| {name} | {result.mean:.1f} ± {result.stderr:.1f} | {regret[early - 1]:.2f} / "
              f"{regret[n // 2 - 1]:.2f} / {regret[-1]:.2f} | {row['arms tried']:.2f} | "
              f"{100 * row['late on leader']:.1f} % | {100 * row['late on best']:.1f} % |")


if __name__ == "__main__":
    main()
