"""What every agent of the course looks like from the outside.

A policy maps a batch of RL² inputs (see `rl2_course.envs.trial`) and its own recurrent state
to a batch of actions and the next state:

    state = policy.initial_state(num_tasks, seed)      # at the start of every trial
    actions, state = policy.act(x, state)               # at every step

For RL² the state is the GRU's hidden vector; for a baseline it is the sufficient statistics
of its posterior (pull and success counts for a bandit). Either way it is created once per trial
and never reset at an episode boundary. Evaluation, widgets and analysis all run this one shape.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    #: the name the CLI and tables use ("ucb1", "gittins", "rl2", ...)
    name: str

    def initial_state(self, num_tasks: int, seed: int | np.random.SeedSequence | None) -> Any:
        """State for a batch of fresh trials; ``seed`` drives any randomness the policy uses."""
        ...

    def act(self, x: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """Actions (int array of shape (B,)) for the inputs ``x`` (B, D), and the next state."""
        ...


def argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax that breaks exact ties uniformly at random (not always towards arm 0)."""
    best = values >= values.max(axis=1, keepdims=True)
    return np.argmax(best * (1.0 + rng.random(values.shape)), axis=1)


class UniformRandomPolicy:
    """Picks one of ``num_actions`` actions uniformly at random at every step, whatever it sees:
    the floor of any task family (the maze's "random" agent). Its state is its dice."""

    name = "random"

    def __init__(self, num_actions: int) -> None:
        if int(num_actions) < 1:
            raise ValueError(f"num_actions must be at least 1, got {num_actions}")
        self.num_actions = int(num_actions)

    def initial_state(self, num_tasks: int,
                      seed: int | np.random.SeedSequence | None = None) -> np.random.Generator:
        return np.random.default_rng(seed)

    def act(self, x: np.ndarray, state: np.random.Generator) -> tuple[np.ndarray, np.random.Generator]:
        return state.integers(0, self.num_actions, size=np.shape(x)[0]), state
