"""RL² at n = 500: the pretrained n = 500 agents against the n = 100 agents run on longer trials.

    .venv/bin/python benchmarks/rl2_longer_trials.py [--trials 300] [--seed 1]

The course's n = 500 agents fall well behind Gittins. This prints how the pretrained n = 100
agent of the same k does when it simply plays 500 pulls (it was never trained on trials that
long), beside the n = 500 agent and Gittins, all on the same bandits. When the n = 100 agent
wins, the n = 500 training recipe (not the network) is what falls short.
"""

from __future__ import annotations

import argparse

from rl2_course.agents import RL2Agent, load_checkpoint
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
    print("| k | RL² trained at n=500 | RL² trained at n=100, run at n=500 | Gittins |")
    print("|---:|---:|---:|---:|")
    for k in (5, 10, 50):
        agents = []
        for name, trained_n in (("n500", n), ("n100", 100)):
            model, _ = load_checkpoint(pretrained_checkpoint(k, trained_n))
            agents.append(RL2Agent(model, name=name))
        evaluation = evaluate_bandit(k, n, [*agents, "gittins"], args.trials, seed=args.seed,
                                     progress=False)
        cells = [f"{r.mean:.1f} ± {r.stderr:.1f}" for r in evaluation.results.values()]
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
