"""The shape every task family shares: B tasks stepped together, episodes inside a task.

A *task* is one bandit (its arm means), one MDP (its transitions and rewards) or one maze.
A `TaskVectorEnv` holds B tasks at once as numpy arrays and steps all of them with one call,
following Gymnasium's vector conventions (`reset(seed=...)`, `step` -> obs, reward, terminated,
truncated, info). Two kinds of reset matter for RL²:

* ``reset(seed=...)`` draws B *new tasks* from the task distribution (a new trial begins);
* ``start_episodes(mask)`` begins a new *episode* in the *same* tasks (the trial goes on).

Keeping the two apart is the whole point of RL²: the learner may forget nothing between the
episodes of one task, and must forget everything when a new task is drawn.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector.utils import batch_space


class TaskVectorEnv(gymnasium.vector.VectorEnv):
    """Base class for batched task families (bandits, tabular MDPs, mazes)."""

    #: number of discrete actions (every task family of the course has discrete actions)
    num_actions: int
    #: length of one observation vector (before the trial wrapper adds its inputs)
    observation_size: int
    #: bounds of one step's reward (the trial wrapper's observation space uses them)
    reward_bounds: tuple[float, float] = (-np.inf, np.inf)

    def __init__(self, num_tasks: int, single_observation_space: gymnasium.Space,
                 num_actions: int) -> None:
        if int(num_tasks) < 1:
            raise ValueError(f"num_tasks must be at least 1, got {num_tasks}")
        self.num_envs = int(num_tasks)
        self.num_actions = int(num_actions)
        self.single_observation_space = single_observation_space
        self.single_action_space = gymnasium.spaces.Discrete(self.num_actions)
        self.observation_space = batch_space(single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_size = int(np.prod(single_observation_space.shape))

    @property
    def num_tasks(self) -> int:
        return self.num_envs

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw B new tasks (or set them from ``options``) and start their first episode."""
        super().reset(seed=seed)
        self.sample_tasks(self.np_random, options or {})
        return self.start_episodes(), {}

    @abstractmethod
    def sample_tasks(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Draw task parameters for all B tasks (``options`` may fix them instead)."""

    @abstractmethod
    def start_episodes(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Begin a new episode in the same tasks, for the rows where ``mask`` is true."""

    def check_actions(self, actions: np.ndarray) -> np.ndarray:
        """Validate a batch of actions once, at the boundary, with a message a learner can act on."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"expected {self.num_envs} actions (one per task), got shape {actions.shape}")
        if not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be integers, got dtype {actions.dtype}")
        if actions.size and (actions.min() < 0 or actions.max() >= self.num_actions):
            raise ValueError(f"actions must lie in 0..{self.num_actions - 1}, "
                             f"got values from {actions.min()} to {actions.max()}")
        return actions
