"""RL² at n = 500: agents trained on shorter trials, played for 500 pulls.

    .venv/bin/python benchmarks/rl2_longer_trials.py [--trials 300] [--seed 1]

The course's first n = 500 agents, trained on 500-pull trials with 50-step truncated
backpropagation, fell below greedy; this benchmark showed that the n = 100 agent of the same k,
simply played for 500 pulls, earned more (the first table of its RESULTS.md entry). Since
2026-12-07 each shipped n = 500 file *is* such an agent (`export --episodes 500`; the agents
trained at n = 500 are in git history at e81a6a4). This prints, on the same bandits: the shipped
n = 500 agent and the episodes it was trained on, the shipped n = 100 agent played for 500
pulls (the same weights where the n = 500 file was made from it: their numbers then differ
only by the dice each agent rolls), greedy and Gittins.
"""

from __future__ import annotations

import argparse

from rl2_course.agents import RL2Agent
from rl2_course.evaluate import evaluate_bandit
from rl2_course.settings import pretrained_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n = 500
    print(f"Mean total reward ± stderr over {args.trials} bandits per row (seed {args.seed}), n = {n} pulls")
    print()
    print("| k | shipped n=500 agent | it was trained at | shipped n=100 agent, run at n=500 "
          "| greedy | Gittins |")
    print("|---:|---:|---:|---:|---:|---:|")
    for k in (5, 10, 50):
        long = RL2Agent.from_checkpoint(pretrained_checkpoint(k, n), k, n, name="n500")
        short = RL2Agent.from_checkpoint(pretrained_checkpoint(k, 100), k, 100, name="n100")
        evaluation = evaluate_bandit(k, n, [long, short, "greedy", "gittins"], args.trials,
                                     seed=args.seed, progress=False)
        cells = [f"{r.mean:.1f} ± {r.stderr:.1f}" for r in evaluation.results.values()]
        trained = f"n={long.trained_episodes or n}"
        print(f"| {k} | {cells[0]} | {trained} | " + " | ".join(cells[1:]) + " |")


if __name__ == "__main__":
    main()
