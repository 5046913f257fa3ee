"""The tuned parameters of ε-greedy, UCB1 and optimistic Thompson sampling, per (k, n).

The values in ``tuned_bandit.json`` were produced by the command recorded in that file
(``python -m rl2_course tune bandit ...``), on tuning seeds that the evaluation never uses.
A setting without an entry falls back to the textbook defaults below.
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


@lru_cache(maxsize=1)
def _table() -> dict:
    try:
        text = resources.files("rl2_course.baselines").joinpath("tuned_bandit.json").read_text()
    except FileNotFoundError:
        return {"settings": {}}
    return json.loads(text)


def tuned_parameters(agent: str, arms: int, episodes: int) -> dict[str, float]:
    """Tuned parameters for ``agent`` at (k, n), or its defaults when that setting was not tuned."""
    entry = _table()["settings"].get(f"k={arms},n={episodes}", {})
    return dict(entry.get(agent, DEFAULTS.get(agent, {})))
