"""Grid search for the baselines' free parameters, so that no number is set by hand.

    python -m rl2_course tune bandit --arms K --episodes N --trials T --seed S [--write]
    python -m rl2_course tune mdp --episodes N --trials T --seed S [--write]

Each grid point is evaluated on the same T trials (common random numbers) and the best mean
total reward wins. ``--write`` stores the winners in ``tuned_bandit.json`` (or
``tuned_mdp.json``) together with the command, so `tuned.py` can say where every value came
from. Use a tuning seed that the reported evaluations do not use (the course tunes with seed
2016 and reports other seeds).
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

from rl2_course.files import atomic_write_text
from rl2_course.limits import check_seed

#: parameter grids: the RL² paper's grids (ε, c ∈ {0, 0.1, …, 1}; N ∈ {1, …, 20}), with finer
#: steps where the winners turned out to be and the far ends that never win dropped
BANDIT_GRID: dict[str, dict[str, list]] = {
    "epsilon-greedy": {"epsilon": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]},
    "ucb1": {"c": [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0]},
    "optimistic-thompson": {"samples": [1, 2, 3, 5, 8, 13, 20]},
}


def tune_bandit(arms: int, episodes: int, trials: int, seed: int) -> dict[str, dict]:
    """Score every grid point; returns {agent: {"best": params, "scores": [(params, mean, se)]}}."""
    from rl2_course.baselines.registry import make_bandit_baseline
    from rl2_course.evaluate import (check_bandit_evaluation_fits, check_bandit_setting,
                                     evaluate_bandit)

    # refused before the first of the grid's evaluations, not after some of them
    check_bandit_setting(arms, episodes, trials)
    check_seed(seed)
    check_bandit_evaluation_fits(arms, episodes, trials, list(BANDIT_GRID))
    out: dict[str, dict] = {}
    for agent, grid in BANDIT_GRID.items():
        (param, values), = grid.items()
        scores = []
        for value in values:
            policy = make_bandit_baseline(agent, arms, episodes, **{param: value})
            result = evaluate_bandit(arms, episodes, [policy], trials, seed).results[agent]
            scores.append(({param: value}, result.mean, result.stderr))
        best = max(scores, key=lambda s: s[1])[0]
        out[agent] = {"best": best, "scores": scores}
    return out


#: MDP grids (Table 2 settings: 10 states, 5 actions, 10 steps). ε = 0 and β = 0 are greedy and
#: N = 1 is PSRL, so each grid contains its plain counterpart. OPSRL's N stops at 13 because its
#: cost grows with N (one posterior sample and one value iteration per sample and episode).
MDP_GRID: dict[str, dict[str, list]] = {
    "epsilon-greedy": {"epsilon": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]},
    "opsrl": {"samples": [1, 2, 3, 5, 8, 13]},
    "ucrl2": {"c": [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]},
    "beb": {"beta": [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]},
}


def tune_mdp(episodes: int, trials: int, seed: int) -> dict[str, dict]:
    """`tune_bandit` for the tabular-MDP baselines at n = ``episodes``: same return shape."""
    from rl2_course.baselines.registry import make_mdp_baseline
    from rl2_course.evaluate_mdp import check_mdp_evaluation_fits, check_mdp_setting, evaluate_mdp

    check_mdp_setting(episodes, trials)
    check_seed(seed)
    check_mdp_evaluation_fits(episodes, trials, list(MDP_GRID))
    out: dict[str, dict] = {}
    for agent, grid in MDP_GRID.items():
        (param, values), = grid.items()
        scores = []
        for value in values:
            policy = make_mdp_baseline(agent, episodes, **{param: value})
            result = evaluate_mdp(episodes, [policy], trials, seed).results[agent]
            scores.append(({param: value}, result.mean, result.stderr))
        best = max(scores, key=lambda s: s[1])[0]
        out[agent] = {"best": best, "scores": scores}
    return out


def table_path(filename: str = "tuned_bandit.json") -> Path:
    return Path(str(resources.files("rl2_course.baselines").joinpath(filename)))


def write_tuned(arms: int, episodes: int, tuned: dict[str, dict], command: str) -> Path:
    """Merge one setting's winners into tuned_bandit.json (atomically)."""
    return _merge_setting(table_path(), f"k={arms},n={episodes}", tuned, command)


def write_tuned_mdp(episodes: int, tuned: dict[str, dict], command: str) -> Path:
    """Merge one setting's winners into tuned_mdp.json (atomically)."""
    return _merge_setting(table_path("tuned_mdp.json"), f"n={episodes}", tuned, command)


def _merge_setting(path: Path, key: str, tuned: dict[str, dict], command: str) -> Path:
    table = json.loads(path.read_text()) if path.exists() else {"settings": {}}
    table["settings"][key] = {**{agent: t["best"] for agent, t in tuned.items()}, "command": command}
    table["settings"] = dict(sorted(table["settings"].items(),
                                    key=lambda kv: tuple(int(p.split("=")[1]) for p in kv[0].split(","))))
    return atomic_write_text(path, json.dumps(table, indent=2) + "\n")


def command_line() -> str:
    return "python -m rl2_course " + " ".join(sys.argv[1:])
