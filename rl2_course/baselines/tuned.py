"""The tuned parameters of the baselines: bandits per (k, n), tabular MDPs per n.

The values in ``tuned_bandit.json`` (ε-greedy, UCB1, optimistic Thompson sampling) and
``tuned_mdp.json`` (ε-greedy, OPSRL, UCRL2, BEB) were produced by the commands recorded in
those files (``python -m rl2_course tune bandit|mdp ...``), on tuning seeds that the evaluation
never uses. A setting without an entry falls back to the defaults below.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

DEFAULTS: dict[str, dict[str, float]] = {
    "epsilon-greedy": {"epsilon": 0.1},
    "ucb1": {"c": 1.0},
    "optimistic-thompson": {"samples": 1},
}


#: untuned starting points of the MDP baselines (used where tuned_mdp.json has no entry)
MDP_DEFAULTS: dict[str, dict[str, float]] = {
    "epsilon-greedy": {"epsilon": 0.1},
    "opsrl": {"samples": 1},
    "ucrl2": {"c": 1.0},
    "beb": {"beta": 1.0},
}


@lru_cache(maxsize=2)
def _table(filename: str = "tuned_bandit.json") -> dict:
    try:
        text = resources.files("rl2_course.baselines").joinpath(filename).read_text()
    except FileNotFoundError:
        return {"settings": {}}
    return json.loads(text)


def tuned_parameters(agent: str, arms: int, episodes: int) -> dict[str, float]:
    """Tuned parameters for ``agent`` at (k, n), or its defaults when that setting was not tuned."""
    entry = _table()["settings"].get(f"k={arms},n={episodes}", {})
    return dict(entry.get(agent, DEFAULTS.get(agent, {})))


def tuned_mdp_parameters(agent: str, episodes: int) -> dict[str, float]:
    """Tuned parameters for the MDP baseline ``agent`` at n = ``episodes`` (10 states, 5 actions,
    10 steps), or its untuned defaults when that setting has no entry in tuned_mdp.json."""
    entry = _table("tuned_mdp.json")["settings"].get(f"n={episodes}", {})
    return dict(entry.get(agent, MDP_DEFAULTS.get(agent, {})))
